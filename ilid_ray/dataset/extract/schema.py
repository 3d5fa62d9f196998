"""The five fields the LLM extracts: their limits, and the JSON schema built from them.

One table (`FIELD_SPECS`) is the source of truth for the prompt's wording, the JSON schema that
constrains decoding (transformers via xgrammar, vLLM structured outputs) and the parser's limits,
so the three cannot drift apart.

Word limits are the paper's; `label_long` has none there, the 12 words here only bound the
constrained output. Each string carries a `pattern` that encodes what a grammar can enforce of the
paper's rules: at most `max_words` words of bounded length (a small model cannot run away inside
a string any more), no digits anywhere, and in the labels only words (letters, inner hyphens and
apostrophes; no ALL-CAPS or CamelCase codes such as "AISI" or "CuZn": a word is capitalised or
lower case). xgrammar ignores `maxLength` next to a `pattern` and vLLM refuses the pair, so the
pattern alone bounds the length; `max_chars` stays for the parser's limits.

Per record, the labels' words are narrowed further to the words of the product's title (and,
for the long label, the material the page states): `hints.label_words` picks them, `record_schema`
puts them in. A label names the product as its page does; the paper's prompt says not to add
what the user did not give, and the grammar makes a small model keep to it ("zoom-out hinge",
"sprocket gear" and the few-shot's "swivel castor" were SmolLM2-135M's own words).

The keys are generated short label first (`GENERATION_ORDER`): named first, the product's name
is then at hand for the long label. On the gold set (bench/extract_quality.py), this order and the
title words, with the cross-field rules (`consistency.py`), lifted SmolLM2-135M's label F1 from
0.67 / 0.74 (long / short) to 0.84 / 0.83, above the rules baseline's 0.83 / 0.77 (docs/llm.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

LABEL_FIELDS = ("label_long", "label_short")  # an item without both is discarded (paper)


# One word of a label: letters (Latin-1 too: "Scharnier für Türen", "bisagra de acero"), optionally
# capitalised, with inner hyphens/apostrophes, at most 24 characters. Of the rest, any non-space
# character but digits, quotes and backslashes, at most 30.
LABEL_WORD = r"[A-Za-zÀ-ÖØ-öø-ÿ][a-zß-öø-ÿ'-]{0,23}"
TEXT_WORD = r"[^\s0-9\"\\]{1,30}"


def words_pattern(word: str, max_words: int, separator: str = " ") -> str:
    return f"^{word}({separator}{word}){{0,{max_words - 1}}}$"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    instruction: str  # what the prompt asks for: the paper's Listing 2 item, word for word
    max_words: int
    max_chars: int
    word: str = TEXT_WORD  # the pattern of one word (see LABEL_WORD)

    @property
    def pattern(self) -> str:
        return words_pattern(self.word, self.max_words)


FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("label_long", "a long label or name of the product without ids, numbers, codes, or sizes",
              max_words=12, max_chars=120, word=LABEL_WORD),
    FieldSpec("label_short", "a short label or name of the product with a maximum of 4 words and shorter than "
                             "the long label", max_words=4, max_chars=48, word=LABEL_WORD),
    FieldSpec("description", "description of the product with a maximum of 20 words without ids, numbers, "
                             "codes, or sizes", max_words=20, max_chars=200),
    FieldSpec("material", "material with a maximum of 5 words", max_words=5, max_chars=60),
    FieldSpec("material_finish", "material finish/color with a maximum of 5 words", max_words=5, max_chars=60),
)

SPECS = {spec.name: spec for spec in FIELD_SPECS}  # same order as records.FIELDS (tested)
GENERATION_ORDER = ("label_short", "label_long", "description", "material", "material_finish")


def one_of_words(words: Sequence[str]) -> str:
    """A regex matching exactly one of `words` (longest first, so no word stops at a prefix)."""
    return "(?:" + "|".join(re.escape(word) for word in sorted(set(words), key=lambda w: (-len(w), w))) + ")"


def field_schema(spec: FieldSpec, words: Sequence[str] | None = None) -> dict[str, Any]:
    """`words`: the only words the value may use (a label's words for one record), else `spec.word`."""
    # anyOf rather than `"type": ["string", "null"]`: both xgrammar and vLLM's backends accept it.
    # No minLength/maxLength next to the pattern: xgrammar ignores them there and vLLM refuses the
    # combination; the pattern bounds words and word lengths (so at most about max_chars).
    pattern = words_pattern(one_of_words(words), spec.max_words) if words else spec.pattern
    return {"anyOf": [{"type": "string", "pattern": pattern}, {"type": "null"}], "description": spec.instruction}


def record_schema(label_words: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The five-field schema, keys in `GENERATION_ORDER`; `label_words` narrows a label field to
    the words given for it (a field absent or empty there keeps the generic word pattern)."""
    label_words = label_words or {}
    return {
        "title": "IndustrialProductFields",
        "type": "object",
        "properties": {name: field_schema(SPECS[name], label_words.get(name)) for name in GENERATION_ORDER},
        "required": list(GENERATION_ORDER),
        "additionalProperties": False,
    }


EXTRACTION_SCHEMA: dict[str, Any] = record_schema()


def schema_json(label_words: Mapping[str, Sequence[str]] | None = None) -> str:
    """The schema as compact JSON text. Property order is kept: it is the order the grammar generates
    the keys in. The generic one is part of the prompt version."""
    return json.dumps(record_schema(label_words), separators=(",", ":"))
