"""Reading the five fields out of an LLM answer, whatever engine produced it.

Order of attempts: (1) the first complete JSON object in the text (markdown fences and prose
around it are ignored; trailing commas and Python-style single quotes are tolerated), (2) the
numbered-list form the paper's parser reads ("1. Long label: ...", "(2) Short label - ..."),
(3) the complete leading key/value pairs of a JSON object cut off by the token cap. Anything else
is a failure with a reason; nothing is guessed. Each value is then validated by `values.py`
(null-likes, parroted instructions, word limits) and the fields against each other and the record
by `consistency.py` (codes in labels, label order, copies, ungrounded material), identically for
all three forms.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ilid_ray.dataset.extract.consistency import enforce_rules
from ilid_ray.dataset.extract.values import FIELD_NAMES, WRAPPING, clean_fields

SNIPPET_CHARS = 80


@dataclass(frozen=True)
class ParsedAnswer:
    """`fields` holds all five keys (None = missing) when the answer parsed, else `error` says why."""

    fields: dict[str, str | None] | None
    error: str | None = None
    form: str | None = None  # "json", "list" or "json-partial"
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.fields is not None


@dataclass
class RawAnswer:
    """What one form's parser found, before the values are validated."""

    values: dict[str, Any]
    form: str
    notes: list[str]


# --------------------------------------------------------------------------- keys

_KEY_ALIASES = {
    "label_long": "label_long", "long_label": "label_long", "long_name": "label_long",
    "label_short": "label_short", "short_label": "label_short", "short_name": "label_short",
    "description": "description", "product_description": "description",
    "material": "material", "materials": "material",
    "material_finish": "material_finish", "finish": "material_finish", "material_finish_color": "material_finish",
    "finish_color": "material_finish", "color": "material_finish", "colour": "material_finish",
    "surface": "material_finish", "surface_finish": "material_finish",
}


def canonical_key(key: Any) -> str | None:
    slug = re.sub(r"[^a-z]+", "_", str(key).lower()).strip("_")
    return _KEY_ALIASES.get(slug)


def known_fields(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The object's values under canonical names (first wins), and notes on keys that were ignored."""
    found: dict[str, Any] = {}
    ignored = []
    for key, value in obj.items():
        name = canonical_key(key)
        if name is None:
            ignored.append(str(key))
        else:
            found.setdefault(name, value)
    return found, ([f"ignored keys: {', '.join(ignored)}"] if ignored else [])


# --------------------------------------------------------------------------- JSON

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_LITERALS = re.compile(r"\b(null|true|false)\b")
_PY_LITERALS = {"null": "None", "true": "True", "false": "False"}


def balanced_object_end(text: str, start: int) -> int | None:
    """Index just past the `}` closing the object opened at `start` (strings respected), or None."""
    depth, quote, escaped = 0, None, False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def decode_object(span: str) -> dict[str, Any] | None:
    """Strict JSON, then JSON without trailing commas, then a Python literal (single quotes)."""
    attempts = (
        lambda: json.loads(span),
        lambda: json.loads(_TRAILING_COMMA.sub(r"\1", span)),
        lambda: ast.literal_eval(_JSON_LITERALS.sub(lambda m: _PY_LITERALS[m.group(1)], span)),
    )
    for attempt in attempts:
        try:
            value = attempt()
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            continue
        if isinstance(value, dict):
            return value
    return None


MAX_OBJECT_STARTS = 32  # braces tried before giving up (bounds the work on long, brace-heavy prose)


def parse_json(text: str) -> tuple[RawAnswer | None, str | None]:
    """The first complete object that names at least one of the five fields, else why there is none."""
    failure = None
    for tried, match in enumerate(re.finditer(r"\{", text)):
        if tried == MAX_OBJECT_STARTS:
            break
        end = balanced_object_end(text, match.start())
        if end is None:
            failure = failure or "JSON object never closed"
            continue
        obj = decode_object(text[match.start():end])
        if obj is None:
            failure = failure or "invalid JSON object"
            continue
        found, notes = known_fields(obj)
        if found:
            return RawAnswer(found, "json", notes), None
        failure = failure or f"JSON object has none of the keys {', '.join(FIELD_NAMES)}"
    return None, failure


def skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def parse_partial_json(text: str) -> RawAnswer | None:
    """An object cut off before its end (token cap): keep the leading pairs whose value is complete."""
    start = re.search(r'\{\s*"', text)
    if start is None:
        return None
    decoder = json.JSONDecoder()
    found: dict[str, Any] = {}
    pos = start.start() + 1
    while True:
        try:
            key, pos = decoder.raw_decode(text, skip_space(text, pos))
            pos = skip_space(text, pos)
            if text[pos:pos + 1] != ":":
                break
            value, pos = decoder.raw_decode(text, skip_space(text, pos + 1))
        except ValueError:
            break
        name = canonical_key(key) if isinstance(key, str) else None
        if name is not None:
            found.setdefault(name, value)
        pos = skip_space(text, pos)
        if text[pos:pos + 1] != ",":
            break
        pos += 1
    if not found:
        return None
    missing = [name for name in FIELD_NAMES if name not in found]
    note = f"truncated JSON: no complete value for {', '.join(missing)}" if missing else "truncated JSON"
    return RawAnswer(found, "json-partial", [note])


# --------------------------------------------------------------------------- numbered list

_INLINE_MARKER = re.compile(r"\s+(?=\([1-5]\)\s)")  # "(1) ... (2) ..." written on one line
_MARKER = re.compile(r"^(?:[-*•]\s+)?[*_]*\(?([1-5])\s*[.):](?!\d)[*_]*\s*")
_SEPARATOR = re.compile(r"\s*:\s*|\s+[-–—]\s+")
_HEADER_KEYWORDS = (  # most specific first
    ("material_finish", re.compile(r"finish|colou?r|surface", re.I)),
    ("description", re.compile(r"descri", re.I)),
    ("label_short", re.compile(r"short", re.I)),
    ("label_long", re.compile(r"long", re.I)),
    ("material", re.compile(r"material", re.I)),
    ("label", re.compile(r"label|name|title", re.I)),  # long or short: decided by number, else order
)
_HEADER_CHARS = re.compile(r"[\w\s/&(),.'-]+")  # no quotes or braces: a JSON line is not a header
MAX_HEADER_CHARS = 120


def header_field(header: str) -> str | None:
    for name, pattern in _HEADER_KEYWORDS:
        if pattern.search(header):
            return name
    return None


def list_item(line: str) -> tuple[str | None, str] | None:
    """(field or "label" or None, value) for a line that is a list item, else None."""
    marker = _MARKER.match(line)
    number = int(marker.group(1)) if marker else None
    rest = line[marker.end():] if marker else line.lstrip("-*• ")
    parts = _SEPARATOR.split(rest, maxsplit=1)
    header = parts[0].strip("*_ ")
    if len(parts) == 2 and len(header) <= MAX_HEADER_CHARS and _HEADER_CHARS.fullmatch(header):
        name = header_field(header)
        if name is not None:
            if name == "label" and number in (1, 2):
                name = FIELD_NAMES[number - 1]
            return name, parts[1]
    if number is not None:
        return FIELD_NAMES[number - 1], rest
    return None


def parse_numbered_list(text: str) -> RawAnswer | None:
    raw: dict[str, str] = {}
    pending: str | None = None  # a header whose value is on the next line
    for line in _INLINE_MARKER.sub("\n", text).splitlines():
        line = line.strip()
        if not line:
            continue
        item = list_item(line)
        if item is None:
            if pending is not None:
                raw[pending], pending = line, None
            continue
        name, value = item
        if name == "label":
            name = "label_long" if "label_long" not in raw else "label_short"
        if name in raw:
            continue
        if value.strip(WRAPPING):
            raw[name], pending = value, None
        else:
            raw[name], pending = "", name
    if not raw:
        return None
    return RawAnswer(raw, "list", [])


# --------------------------------------------------------------------------- entry point


def snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[:SNIPPET_CHARS] + "..."


def parse_answer(text: str | None, source: str = "") -> ParsedAnswer:
    """Parse an LLM answer into the five fields (see the module docstring for the rules).

    `source` is the record's own text; values may quote it (see `values.clean_fields`).
    """
    if text is None or not text.strip():
        return ParsedAnswer(fields=None, error="empty answer")
    raw, json_failure = parse_json(text)
    raw = raw or parse_numbered_list(text) or parse_partial_json(text)
    if raw is None:
        reason = json_failure or "no JSON object and no numbered list"
        return ParsedAnswer(fields=None, error=f"{reason}: {snippet(text)!r}")
    fields, notes = clean_fields(raw.values, source)
    fields, rule_notes = enforce_rules(fields, source)
    return ParsedAnswer(fields=fields, form=raw.form, notes=tuple(raw.notes + notes + rule_notes))
