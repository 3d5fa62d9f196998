"""Rules across the five fields of one answer, enforced the same way for every engine.

`values.py` checks each value alone; here the paper's rules that involve the record or another
field are applied, each change reported as a note. Like the word limits, they only remove,
reorder or combine what the answer and the page said, they never invent a value:

- words repeated back to back are said once ("roll-over roll-over", "with balls with balls": a
  small model's loops);
- labels do not begin or end on a connective ("ergonomic grip with a": a label cut at its word
  limit);
- codes in labels: words that are codes (`hints.is_code`) or that the record writes as codes
  ("Dx" left of "D8x20", "AISI") are dropped from both labels;
- label_short must be shorter than label_long: two labels given the wrong way round are swapped;
- a value copied from the wrong field is dropped where the field may be missing: a finish equal
  to the material, a material or description equal to a label (the issue's `zamak`/`zamak`);
- material and finish must come from the record: a value with a word the record does not contain
  ("gumroad", "açaí") is dropped.

`settle_with_markup` runs after the page's markup has had its say (`engine.apply_answer`): an
answer's value that copies a markup value is dropped (the markup's stays), and, when the
material is known: a label made only of the material's and the finish's words names no product
("black plastic", "electropolished": the other label stands in for it; with both such labels,
the item has none and is rejected); two equal labels break "shorter than the long label", and the material tells them
apart, as the paper's labels do ("stainless steel hinge" / "hinge"): a long label that names
the material keeps it and the short one loses it; a long label without it gains it.

`quality.rule_breaks` checks finished samples with the same predicates.
"""

from __future__ import annotations

import re
from typing import Collection, Mapping

from ilid_ray.dataset.extract.hints import LABEL_WORD_FORM, code_forms, is_code
from ilid_ray.dataset.extract.schema import SPECS

LABELS = ("label_long", "label_short")
# (field, field it must not copy): the first is dropped when the two are equal.
COPIES = (("material_finish", "material"), ("material", "label_long"), ("material", "label_short"),
          ("material_finish", "label_long"), ("material_finish", "label_short"),
          ("description", "label_long"), ("description", "label_short"))
GROUNDED = ("material", "material_finish")
_TOKEN = re.compile(r"[^\W\d_]+")
# Words a label never starts or ends on, in the shops' languages (en, de, fr, it, es).
CONNECTIVES = frozenset("""a an and by for from in of on or the to with
    aus das der die ein eine für mit und  avec de des du en et la le les pour un une
    con da del di e el il lo para per una y""".split())


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


def collapse_repeats(value: str, longest: int = 3) -> str:
    """`value` with a run of up to `longest` words said twice in a row said once ("with balls with balls")."""
    words, at = value.split(), 0
    while at < len(words):
        for size in range(1, longest + 1):
            run = [comparable(word) for word in words[at:at + size]]
            if len(run) == size and all(run) and run == [comparable(word) for word in words[at + size:at + 2 * size]]:
                del words[at + size:at + 2 * size]
                break
        else:
            at += 1
    return " ".join(words)


def trim_connectives(value: str) -> str:
    words = value.split()
    while words and words[-1].lower().strip(",;") in CONNECTIVES:
        words.pop()
    while words and words[0].lower() in CONNECTIVES:
        words.pop(0)
    return " ".join(words).strip(" ,;")


def drop_copies(fields: dict[str, str | None], keep: Collection[str] = ()) -> tuple[dict[str, str | None], list[str]]:
    """`fields` without the values that copy another field (`COPIES`), except the fields in `keep`."""
    fields, notes = dict(fields), []
    for name, other in COPIES:
        if name not in keep and copied(fields, name, other):
            fields[name] = None
            notes.append(f"{name} dropped: a copy of {other}")
    return fields, notes


def enforce_rules(fields: dict[str, str | None], source: str) -> tuple[dict[str, str | None], list[str]]:
    """`fields` (all five, None = missing) with the cross-field rules applied, and notes."""
    fields, notes = dict(fields), []
    for name, value in fields.items():
        if value and collapse_repeats(value) != value:
            fields[name] = collapse_repeats(value)
            notes.append(f"{name}: repeated words said once")
    for name in LABELS:
        if fields[name] and trim_connectives(fields[name]) != fields[name]:
            fields[name] = trim_connectives(fields[name]) or None
            notes.append(f"{name}: connective at an end dropped")
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
    fields, copy_notes = drop_copies(fields)
    notes += copy_notes
    source_words = set(comparable(source).split())
    for name in GROUNDED if source_words else ():  # no record text given: nothing to check against
        stray = ungrounded_words(fields[name], source_words) if fields[name] else []
        if stray:
            fields[name] = None
            notes.append(f"{name} dropped: {' '.join(stray)} not in the record")
    return fields, notes


def without_material(label: str, material: str) -> str | None:
    """`label` without the words that spell `material` (compared as `comparable`) and the connective
    they leave ("u-handle in aluminium" -> "u-handle"); None if the label does not contain them."""
    words, want = label.split(), comparable(material)
    for start in range(len(words)):
        for end in range(start + 1, len(words) + 1):
            if comparable(" ".join(words[start:end])) == want:
                rest = trim_connectives(" ".join(words[:start] + words[end:]))
                return rest or None
    return None


def names_a_product(label: str, attribute_words: set[str]) -> bool:
    """Whether `label` has a word besides the material's and the finish's ("black plastic" has not)."""
    return bool(set(comparable(label).split()) - attribute_words)


def distinct_labels(fields: dict[str, str | None], markup: Collection[str],
                    source: str) -> tuple[dict[str, str | None], list[str]]:
    """The labels settled against the material and the page's finish (see the module docstring);
    unchanged when both name the product and differ, when there is no material, or when the
    material is itself a code. `markup`: the fields the page's markup gave."""
    short, long_, material = fields.get("label_short"), fields.get("label_long"), fields.get("material")
    if not (short and long_ and material):
        return fields, []
    codes = label_codes(material, code_forms(source))
    material = " ".join(word.strip(",;:()[]") for word in material.split() if word not in codes)
    if not comparable(material) or not all(LABEL_WORD_FORM.fullmatch(word.lower()) for word in material.split()):
        return fields, []  # a code, or words a label could not be made of (see schema.LABEL_WORD)
    fields, notes = dict(fields), []
    finish = fields.get("material_finish") if "material_finish" in markup else None  # an answer's may be junk
    attribute_words = set(comparable(material).split()) | set(comparable(finish).split())
    short_names, long_names = names_a_product(short, attribute_words), names_a_product(long_, attribute_words)
    if long_names and not short_names and len(long_.split()) <= SPECS["label_short"].max_words:
        short = fields["label_short"] = long_
        notes.append("label_short: only material and finish words, label_long taken")
    elif short_names and not long_names:
        long_ = fields["label_long"] = short
        notes.append("label_long: only material and finish words, label_short taken")
    if not (short_names or long_names):  # the paper discards an item without both labels
        fields["label_short"] = fields["label_long"] = None
        return fields, ["label_short and label_long dropped: only material and finish words, no product named"]
    if comparable(short) != comparable(long_):
        return fields, notes
    rest = without_material(long_, material)
    if rest:
        fields["label_short"] = rest
        return fields, [*notes, "label_short: the material dropped from a copy of label_long"]
    if comparable(material) in comparable(long_):
        return fields, notes
    fields["label_long"] = f"{material} {long_}"
    return fields, [*notes, "label_long: the material added to a copy of label_short"]


def settle_with_markup(fields: dict[str, str | None], markup: Collection[str],
                       source: str) -> tuple[dict[str, str | None], list[str]]:
    """The rules again once the page's markup values (the fields named in `markup`) are in:
    labels settled against the material, then the answer's copies of other fields dropped."""
    fields, notes = distinct_labels(fields, markup, source)
    fields, copy_notes = drop_copies(fields, keep=markup)
    return fields, notes + copy_notes
