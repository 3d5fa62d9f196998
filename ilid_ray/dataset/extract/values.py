"""Validating one field value of an answer, the same way for every answer form and every engine.

- Whitespace is collapsed; wrapping quotes, backticks and markdown emphasis are removed.
- Null-like answers ("none", "N/A", "unknown", "not specified", "-", "", ...) are missing. They are
  matched against the whole value, not as substrings as in the paper's code, which also dropped
  "knot" or "notched" for containing "not".
- A value that parrots the prompt's own wording ("a long label or name of the product ...", "with a
  maximum of 20 words") is missing: small models do this, and such a value would pass every other
  check. A phrase also found in the record's own text is not counted (the model may quote it).
- Word limits are enforced by truncation to the first N words, not by rejection: small models often
  overshoot a limit while the leading words are right, the paper's training code cuts labels to
  their first N words anyway, and truncation only shortens what the model said, it invents nothing.

Every change is reported as a note, so a reject or a surprising field can be explained.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

from ilid_ray.dataset.extract.prompt import prompt_literals
from ilid_ray.dataset.extract.schema import FIELD_SPECS, SPECS

FIELD_NAMES = tuple(spec.name for spec in FIELD_SPECS)
ECHO_WORDS = 4  # a run of this many prompt words in a value counts as parroting the prompt

_NULL_LIKE = re.compile(
    r"(?:none|null|nil|n/?a|unknown|unspecified)(?:\W.*)?"
    r"|[-–—?.]+"
    r"|not(?: (?:given|specified|stated|mentioned|provided|available|applicable|known|listed|indicated|found)\b.*)?"
    r"|no (?:information|info|data|details?|material|finish|colou?r|description)\b.*",
    re.IGNORECASE,
)
WRAPPING = " \t\r\n\"'`*_"
_WORD = re.compile(r"\w+")


def normalize_value(value: Any) -> str | None:
    """A field value as clean text, or None if it is missing or null-like."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (list, tuple)):
        parts = [normalize_value(v) for v in value]
        value = ", ".join(p for p in parts if p)
    elif isinstance(value, (int, float)):
        value = str(value)
    elif not isinstance(value, str):
        return None
    text = " ".join(value.split()).strip(WRAPPING).rstrip(".,;: ").strip(WRAPPING)
    if not text or _NULL_LIKE.fullmatch(text):
        return None
    return text


def word_runs(text: str, n: int = ECHO_WORDS) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@lru_cache(maxsize=1)
def prompt_runs() -> frozenset[tuple[str, ...]]:
    return frozenset().union(*(word_runs(text) for text in prompt_literals()))


def echoes_prompt(value: str, source_runs: set[tuple[str, ...]]) -> bool:
    return bool((word_runs(value) & prompt_runs()) - source_runs)


def limit_words(name: str, value: str) -> tuple[str, str | None]:
    """(value cut to the field's word limit, a note if it was cut)."""
    words = value.split()
    limit = SPECS[name].max_words
    if len(words) <= limit:
        return value, None
    return " ".join(words[:limit]), f"{name} cut from {len(words)} to {limit} words"


def clean_fields(raw: Mapping[str, Any], source: str = "") -> tuple[dict[str, str | None], list[str]]:
    """All five fields (None = missing) from the raw values of an answer, and notes on what changed.

    `source` is the record's own text (label and data), which a value may quote freely.
    """
    source_runs = word_runs(source)
    fields: dict[str, str | None] = {}
    notes: list[str] = []
    for name in FIELD_NAMES:
        value = normalize_value(raw.get(name))
        if value is not None and echoes_prompt(value, source_runs):
            value = None
            notes.append(f"{name} repeats the prompt's instructions")
        if value is not None:
            value, note = limit_words(name, value)
            if note:
                notes.append(note)
        fields[name] = value
    return fields, notes
