"""`engine: rules` — a deterministic baseline that needs no model. It is not an LLM.

It reads the fields straight off the record: the long label is the cleaned page title, the short
label the last words of the title's head phrase (English noun phrases end in their head noun:
"stainless steel ball lock pin" -> "steel ball lock pin"), material and finish come from
"Material: ..." / "Finish:" (or Surface/Colour/Coating) text blocks, the description is the first
sentence of the first block that is not such an attribute row. It has no understanding: a title
that doesn't start with the product name gives a poor short label.

Use it for dry runs, for pipeline tests that must be fast and exact, and as the baseline an LLM
engine has to beat. Its answers go through the same parser and row update as an LLM's, so the
rest of the build cannot tell the difference except by the recorded `model` and `prompt_version`.
"""

from __future__ import annotations

import json
import re
from typing import Sequence

from ilid_ray.dataset.extract.engine import ExtractionEngine, ExtractionRequest
from ilid_ray.dataset.extract.hints import ATTRIBUTE, FINISH_KEY, MATERIAL_KEY, attributes, first_value
from ilid_ray.dataset.extract.schema import SPECS

RULES_MODEL = "rules-baseline"
RULES_VERSION = "rules-1"  # bump when the rules change what they extract

_HEAD_SEPARATOR = re.compile(r"\s*(?:,|;|\||\(|\s/\s|\s[-–—]\s|\bwith\b|\bfor\b)\s*", re.I)
_SYMBOLS = re.compile(r"[®™©]")
# What the pre-filter leaves of sizes and codes once digits are gone ("M8 x 40 mm" -> "M x mm",
# "L63" -> "L", "6.35-2" -> ".-"): single letters, units, dots. Bare dashes stay: they separate.
_LEFTOVER = re.compile(r"[A-Za-z]|[Mm]?x|mm|cm|kg|nm|bar|ø|°|[.\-/]*\.[.\-/]*|/")
_EDGE_PUNCTUATION = " ,;|/-–—."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def clean_label(label: str) -> str:
    kept: list[str] = []
    for token in _SYMBOLS.sub(" ", label).split():
        core = token.rstrip(",;|.") or token
        if not _LEFTOVER.fullmatch(core):
            kept.append(token)
        elif kept and token[len(core):].strip("."):  # keep the separator it carried: "L63," -> ","
            kept[-1] = kept[-1].rstrip(",;|.") + token[len(core):].replace(".", "")
    return " ".join(kept).strip(_EDGE_PUNCTUATION)


def short_label(label: str) -> str:
    head = _HEAD_SEPARATOR.split(label, maxsplit=1)[0].strip() or label
    return " ".join(head.split()[-SPECS["label_short"].max_words:])


def first_sentence(blocks: Sequence[str]) -> str | None:
    """First sentence of the first prose block (attribute rows other than "Description:" skipped)."""
    for block in blocks:
        match = ATTRIBUTE.match(block)
        if match and match.group(1).strip().lower() != "description":
            continue
        text = match.group(2) if match else block
        sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
        if sentence:
            return sentence
    return None


def rules_answer(label: str, data: Sequence[str]) -> str:
    """The fields of one record as a JSON answer (parsed like an LLM's)."""
    long_label = clean_label(label)
    attrs = attributes(data)
    fields = {
        "label_long": long_label or None,
        "label_short": short_label(long_label) if long_label else None,
        "description": first_sentence(data),
        "material": first_value(attrs, MATERIAL_KEY),
        "material_finish": first_value(attrs, FINISH_KEY),
    }
    return json.dumps(fields, ensure_ascii=False)


class RulesEngine(ExtractionEngine):
    name = "rules"
    model = RULES_MODEL
    prompt_version = RULES_VERSION

    def generate(self, requests: Sequence[ExtractionRequest]) -> list[str]:
        return [rules_answer(r.label, r.data) for r in requests]
