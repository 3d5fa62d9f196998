"""The five fields the LLM extracts: their limits, and the JSON schema built from them.

One table (`FIELD_SPECS`) is the source of truth for the prompt's wording, the JSON schema that
constrains decoding (transformers via xgrammar, vLLM structured outputs) and the parser's limits,
so the three cannot drift apart.

Word limits are the paper's; `label_long` has none there, the 12 words here only bound the
constrained output. `maxLength` (characters) is generous against the word limit on purpose: the
grammar cuts a string at `maxLength` mid-word, the parser cuts it at a word boundary, so the word
limit should bind first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LABEL_FIELDS = ("label_long", "label_short")  # an item without both is discarded (paper)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    instruction: str  # what the prompt asks for: the paper's Listing 2 item, word for word
    max_words: int
    max_chars: int


FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("label_long", "a long label or name of the product without ids, numbers, codes, or sizes",
              max_words=12, max_chars=120),
    FieldSpec("label_short", "a short label or name of the product with a maximum of 4 words and shorter than "
                             "the long label", max_words=4, max_chars=48),
    FieldSpec("description", "description of the product with a maximum of 20 words without ids, numbers, "
                             "codes, or sizes", max_words=20, max_chars=200),
    FieldSpec("material", "material with a maximum of 5 words", max_words=5, max_chars=60),
    FieldSpec("material_finish", "material finish/color with a maximum of 5 words", max_words=5, max_chars=60),
)

SPECS = {spec.name: spec for spec in FIELD_SPECS}  # same order as records.FIELDS (tested)


def field_schema(spec: FieldSpec) -> dict[str, Any]:
    # anyOf rather than `"type": ["string", "null"]`: both xgrammar and vLLM's backends accept it.
    return {"anyOf": [{"type": "string", "minLength": 1, "maxLength": spec.max_chars}, {"type": "null"}],
            "description": spec.instruction}


EXTRACTION_SCHEMA: dict[str, Any] = {
    "title": "IndustrialProductFields",
    "type": "object",
    "properties": {spec.name: field_schema(spec) for spec in FIELD_SPECS},
    "required": [spec.name for spec in FIELD_SPECS],
    "additionalProperties": False,
}


def schema_json() -> str:
    """The schema as compact JSON text. Property order is kept: it is the order the grammar generates
    the keys in (labels first). Part of the prompt version."""
    return json.dumps(EXTRACTION_SCHEMA, separators=(",", ":"))
