"""Step 3: clean crawled text before the LLM sees it (the paper's pre-filter).

Escape characters become spaces, per-catalog trade names and all digits are removed (a 2D image
can't show sizes or part numbers, and they bias the data), empty text blocks are dropped, and a
record without a label or without any text left is rejected. URL de-duplication is global and
lives in `dedupe.py`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ilid_ray.records import for_ok_rows, reject

STAGE = "prefilter"

_ESCAPES = re.compile(r"[\n\r\t\f\v]|\\[nrt]")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s{2,}")


def clean_text(text: str | None, trade_names: re.Pattern[str] | None = None) -> str:
    """Escape characters -> spaces, trade names and digits removed, whitespace collapsed."""
    if not text:
        return ""
    text = _ESCAPES.sub(" ", text)
    if trade_names is not None:
        text = trade_names.sub(" ", text)
    text = _DIGITS.sub("", text)
    return _SPACES.sub(" ", text).strip()


def compile_trade_names(patterns: Mapping[str, str | None]) -> dict[str, re.Pattern[str]]:
    """Per-catalog trade-name regexes, case-insensitive (catalog name -> pattern)."""
    compiled = {}
    for source, pattern in patterns.items():
        if pattern:
            try:
                compiled[source] = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"catalog {source!r}: bad trade_names regex {pattern!r}: {exc}") from exc
    return compiled


def prefilter_row(row: dict[str, Any], trade_names: Mapping[str, re.Pattern[str]]) -> dict[str, Any]:
    pattern = trade_names.get(row.get("source") or "")
    if not (row.get("label") or "").strip():
        return reject(row, STAGE, "empty label")
    label = clean_text(row["label"], pattern)
    if not label:
        return reject(row, STAGE, "label empty after removing trade names and digits")
    blocks = [clean_text(block, pattern) for block in (row.get("data") or [])]
    blocks = [b for b in blocks if b]
    if not blocks:
        return reject(row, STAGE, "no text blocks left after cleaning")
    row["label"] = label
    row["data"] = blocks
    return row


def prefilter_rows(rows: list[dict[str, Any]], trade_names: Mapping[str, re.Pattern[str]]) -> list[dict[str, Any]]:
    return for_ok_rows(lambda row: prefilter_row(row, trade_names))(rows)
