"""What a page states about a product in its structured fields, and what counts as a code.

Readers put the page's schema.org `material` / `color` and its spec-table rows into the record as
"Key: value" blocks ("Material: stainless steel AISI", "Color: matte black"). Those values are
the page's own statement of the material and finish, so they are offered to the model as hints
and, when present, win over the model's answer (`engine.apply_answer` records which fields came
from markup). Grade and type codes are stripped from them: the paper wants no ids or codes, and
after the pre-filter has removed digits a code is a stump ("AISI", "ZAMAK", "PA GF").

The title's words (`label_words`) are what the labels may be made of: the grammar keeps a
model's labels to them (`schema.record_schema`).

`is_code` is the one definition of a code, shared by the hints, the rules baseline and the
quality checks (`quality.py`).
"""

from __future__ import annotations

import functools
import re
from typing import Sequence

from ilid_ray.dataset.extract.schema import LABEL_WORD, SPECS

# "Key: value" attribute rows; a block ending like a sentence is prose even if it has a colon.
ATTRIBUTE = re.compile(r"^\s*([A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ /&()-]{0,40}?)\s*:\s*(.*?[^.!?\s])\s*$")
# The keys in the shops' languages (en, de, fr, it, es) too: "Werkstoff", "Matière", "Oberfläche".
MATERIAL_KEY = re.compile(r"(?:base |body |housing )?materials?|werkstoff|mati[èe]re|materiale|materiali", re.I)
FINISH_KEY = re.compile(r"(?:surface )?(?:finish|treatment)|surface|colou?r|coating"
                        r"|oberfläche|farbe|finition|couleur|traitement|finitura|colore|acabado", re.I)
HINT_KEYS = {"material": MATERIAL_KEY, "material_finish": FINISH_KEY}

LABEL_WORDS_VERSION = "title+material-1"  # part of the prompt version: bump when `label_words` changes
_UNITS = frozenset({"mm", "cm", "kg", "nm", "bar", "x", "ø", "°"})
_ONE_LETTER_WORDS = frozenset("aàeèoyi")  # "a", "à goupille", "e", "o", "y": words in the shops' languages
_INNER_CAPITAL = re.compile(r"[a-z][A-Z]")
_SIZE_STUMP = re.compile(r"[A-Za-z]x")
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
LABEL_WORD_FORM = re.compile(LABEL_WORD)


@functools.lru_cache(maxsize=1 << 16)  # called for every word of every record; words repeat a lot
def is_code(word: str) -> bool:
    """A part number, grade, size or unit rather than a word: digits, ALL CAPS (two letters or
    more), inner capitals ("CuZn", "AlMgSi"), a single letter that is not a word, a bare unit, or
    what the pre-filter leaves of a size ("Dx" of "D8x20", "Mx" of "M10x1")."""
    core = word.strip(".,;:()[]/'\"")
    if not core:
        return False
    if any(ch.isdigit() for ch in core) or _INNER_CAPITAL.search(core):
        return True
    letters = [ch for ch in core if ch.isalpha()]
    if len(letters) >= 2 and all(ch.isupper() for ch in letters):
        return True
    if _SIZE_STUMP.fullmatch(core) and core.lower() not in ("ax", "ox"):
        return True
    return (len(core) == 1 and core.lower() not in _ONE_LETTER_WORDS) or core.lower() in _UNITS


def code_forms(text: str) -> frozenset[str]:
    """Lower-cased words that appear in `text` only as codes (so "aisi" in a lower-cased label is
    recognised as the record's "AISI", while "steel" stays a word next to a shouted "STEEL")."""
    words = _WORD.findall(text)
    plain = {w.lower() for w in words if not is_code(w)}
    return frozenset(w.lower() for w in words if is_code(w)) - plain


def strip_codes(text: str) -> str:
    """`text` without its code words, and without the punctuation they leave dangling ("(AISI )")."""
    kept = [token for token in text.split() if not is_code(token) and _WORD.search(token)]
    return re.sub(r"\s+([,;])", r"\1", " ".join(kept)).strip(" ,;/-–—.")


def attributes(blocks: Sequence[str]) -> dict[str, str]:
    """'key: value' blocks by lower-cased key (first wins)."""
    found: dict[str, str] = {}
    for block in blocks:
        match = ATTRIBUTE.match(block)
        if match:
            found.setdefault(match.group(1).strip().lower(), match.group(2))
    return found


def first_value(attrs: dict[str, str], key_pattern: re.Pattern[str]) -> str | None:
    return next((value for key, value in attrs.items() if key_pattern.fullmatch(key)), None)


def page_hints(data: Sequence[str]) -> dict[str, str]:
    """Material and finish as the page's structured rows state them (codes stripped, cut to the
    field's word limit); a field the page does not state is absent."""
    attrs = attributes(data)
    hints = {}
    for name, key in HINT_KEYS.items():
        value = first_value(attrs, key)
        value = strip_codes(value) if value else ""
        if value:
            hints[name] = " ".join(value.split()[:SPECS[name].max_words])
    return hints


def plain_words(text: str) -> set[str]:
    """The words of `text` that are not codes, as written and in lower case, and the parts of
    hyphenated ones ("Lift-off" -> "Lift-off", "lift-off", "lift", "off")."""
    found: set[str] = set()
    for word in _WORD.findall(text):
        if is_code(word):
            continue
        forms = {word, word.lower()}
        found |= forms | {part for form in forms for part in form.split("-") if part and not is_code(part)}
    return found


def label_forms(text: str) -> set[str]:
    return {word for word in plain_words(text) if LABEL_WORD_FORM.fullmatch(word)}


def label_words(label: str, data: Sequence[str]) -> dict[str, list[str]]:
    """The words each label may use: the title's; the long label also the material the page states.
    Only forms the generic label word allows (`schema.LABEL_WORD`: "u-handle", not "U-Handle"), so
    a per-record schema only narrows the generic one. A title without a single such word (only
    codes) leaves the labels to the whole record's words."""
    title = label_forms(label) or label_forms(" ".join([label, *data]))
    material = label_forms(page_hints(data).get("material", ""))
    return {"label_short": sorted(title), "label_long": sorted(title | material)}
