"""Step 5: normalise the LLM's fields (the paper's post-filter).

Only word characters, whitespace, `-`, `_` and `.` survive; a field shorter than the minimum is
treated as missing; an item without both labels is rejected; labels, material and finish are
lower-cased (descriptions keep their case).
"""

from __future__ import annotations

import re
from typing import Any

from ilid_ray.records import FIELDS, for_ok_rows, reject

STAGE = "postfilter"

_DISALLOWED = re.compile(r"[^\w\s\-.]")
_SPACES = re.compile(r"\s+")
_LOWERCASED = ("label_long", "label_short", "material", "material_finish")


def clean_field(value: str | None, min_chars: int) -> str | None:
    if value is None:
        return None
    value = _SPACES.sub(" ", _DISALLOWED.sub("", value)).strip()
    return value if len(value) >= min_chars else None


def postfilter_row(row: dict[str, Any], min_chars: int) -> dict[str, Any]:
    for field in FIELDS:
        value = clean_field(row.get(field), min_chars)
        row[field] = value.lower() if value and field in _LOWERCASED else value
    missing = [f for f in ("label_long", "label_short") if not row[f]]
    if missing:
        return reject(row, STAGE, f"missing {' and '.join(missing)} after cleaning "
                                  f"(shorter than {min_chars} characters or only symbols)")
    return row


def postfilter_rows(rows: list[dict[str, Any]], min_chars: int = 4) -> list[dict[str, Any]]:
    return for_ok_rows(lambda row: postfilter_row(row, min_chars))(rows)
