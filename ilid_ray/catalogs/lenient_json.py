"""Reading JSON-LD blocks the way browsers and search engines do: leniently.

Shop templates emit `//` and `/* */` comments, trailing commas, raw newlines and tabs inside
strings, several objects in one block, HTML-entity-escaped JSON (`&quot;`) and stray backslashes.
`load_block` tries the strict parser first and falls back to maintained lenient ones: `json5`
(comments, trailing commas, single quotes) and `chompjs` (several objects, JavaScript literals),
each on the text as is and then on a repaired copy. It says which parser read the block, so the
coverage bench can show what each one adds.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Callable

import chompjs
import json5

_WRAPPER = re.compile(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$")
_BAD_ESCAPE = re.compile(r'\\(?!["\\/bfnrtu])')
_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls_in_strings(text: str) -> str:
    """Raw control characters inside string literals -> JSON escapes (json5 and chompjs reject
    them; `json.loads(strict=False)` accepts them but not comments)."""
    out, quote, escaped = [], None, False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            elif char < " ":
                char = _CONTROL_ESCAPES.get(char, f"\\u{ord(char):04x}")
        elif char in "\"'":
            quote = char
        out.append(char)
    return "".join(out)


def _repaired(text: str) -> str:
    """HTML entities decoded (whole-block escaping) and stray backslashes doubled."""
    if "&" in text and re.search(r"&(?:quot|#34|#x22|amp|lt|gt|apos|#39);", text):
        text = html.unescape(text)
    return _BAD_ESCAPE.sub(r"\\\\", text)


def _strict(text: str) -> Any:
    return json.loads(text, strict=False)


def _json5(text: str) -> Any:
    return json5.loads(escape_controls_in_strings(text))


def _chompjs(text: str) -> Any:
    objects = list(chompjs.parse_js_objects(escape_controls_in_strings(text)))
    if not objects:
        raise ValueError("no JavaScript object found")
    return objects[0] if len(objects) == 1 else objects


PARSERS: tuple[tuple[str, Callable[[str], Any]], ...] = (("json", _strict), ("json5", _json5), ("chompjs", _chompjs))


def load_block(raw: str) -> tuple[Any, str] | None:
    """The JSON value of one `<script type="application/ld+json">` text and the name of the
    parser that read it ("json", "json5", "chompjs", "+repair" when repaired first); None if
    nothing reads it (a broken block must not hide a valid one elsewhere on the page)."""
    text = _WRAPPER.sub("", raw.strip())
    if not text:
        return None
    candidates = [(text, "")]
    repaired = _repaired(text)
    if repaired != text:
        candidates.append((repaired, "+repair"))
    for candidate, suffix in candidates:
        for name, parse in PARSERS:
            try:
                value = parse(candidate)
            except Exception:  # noqa: BLE001 - each parser raises its own error types
                continue
            if isinstance(value, (dict, list)) and _has_keys(value):
                return value, name + suffix
    return None


def _has_keys(value: Any) -> bool:
    """chompjs reads almost anything into something; only objects with real keys count
    (entity-escaped text read as-is gives keys like '&quot;@type&quot;')."""
    items = value if isinstance(value, list) else [value]
    return any(isinstance(v, dict) and v and not any("&quot;" in str(k) for k in v) for v in items)
