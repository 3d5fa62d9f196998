"""Rules across the five fields of one answer, enforced the same way for every engine.

`values.py` checks each value alone; here the paper's rules that involve the record or another
field are applied, each change reported as a note. Like the word limits, they only remove or
reorder what the answer said, they never invent a value:

- codes in labels: words that are codes (`hints.is_code`) or that the record writes as codes
  ("Dx" left of "D8x20", "AISI") are dropped from both labels;
- label_short must be shorter than label_long: two labels given the wrong way round are swapped;
- a value copied from the wrong field is dropped where the field may be missing: a finish equal
  to the material, a material or description equal to a label (the issue's `zamak`/`zamak`);
- material and finish must come from the record: a value with a word the record does not contain
  ("gumroad", "açaí") is dropped.

`quality.rule_breaks` checks finished samples with the same predicates.
"""

from __future__ import annotations

import re
from typing import Mapping

from ilid_ray.dataset.extract.hints import code_forms, is_code

LABELS = ("label_long", "label_short")
# (field, field it must not copy): the first is dropped when the two are equal.
COPIES = (("material_finish", "material"), ("material", "label_long"), ("material", "label_short"),
          ("material_finish", "label_long"), ("material_finish", "label_short"),
          ("description", "label_long"), ("description", "label_short"))
GROUNDED = ("material", "material_finish")
_TOKEN = re.compile(r"[^\W\d_]+")


def comparable(text: str | None) -> str:
    """Lower case, hyphens and punctuation as spaces: how equality and length are judged."""
    return " ".join(_TOKEN.findall((text or "").lower()))


def label_codes(label: str, source_codes: frozenset[str]) -> list[str]:
    return [word for word in label.split() if is_code(word) or word.lower().strip(".,;:()") in source_codes]


def shorter(short: str | None, long_: str | None) -> bool:
    return len(comparable(short)) < len(comparable(long_))


def copied(fields: Mapping[str, str | None], name: str, other: str) -> bool:
    return bool(comparable(fields.get(name))) and comparable(fields.get(name)) == comparable(fields.get(other))


def ungrounded_words(value: str, source_words: set[str]) -> list[str]:
    return [word for word in comparable(value).split() if word not in source_words]


def enforce_rules(fields: dict[str, str | None], source: str) -> tuple[dict[str, str | None], list[str]]:
    """`fields` (all five, None = missing) with the cross-field rules applied, and notes."""
    fields, notes = dict(fields), []
    codes = code_forms(source)
    for name in LABELS:
        value = fields[name]
        found = label_codes(value, codes) if value else []
        if found:
            kept = " ".join(word for word in value.split() if word not in found).strip(" ,;-")
            fields[name] = kept or None
            notes.append(f"{name}: dropped codes {' '.join(found)}")
    short, long_ = fields["label_short"], fields["label_long"]
    if short and long_ and len(comparable(short)) > len(comparable(long_)):
        fields["label_short"], fields["label_long"] = long_, short
        notes.append("labels swapped: label_short was the longer one")
    for name, other in COPIES:
        if copied(fields, name, other):
            fields[name] = None
            notes.append(f"{name} dropped: a copy of {other}")
    source_words = set(comparable(source).split())
    for name in GROUNDED if source_words else ():  # no record text given: nothing to check against
        stray = ungrounded_words(fields[name], source_words) if fields[name] else []
        if stray:
            fields[name] = None
            notes.append(f"{name} dropped: {' '.join(stray)} not in the record")
    return fields, notes
