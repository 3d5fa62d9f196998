"""Scoring extracted fields against the gold set, and the paper's rules a sample must keep.

Used by `bench/extract_quality.py`. Values are compared after normalisation (lower case, hyphens
as spaces, punctuation dropped), as exact match and as token F1 against the best of the gold
set's acceptable answers. A field the record does not state has no acceptable answer: null is
right there, anything else scores 0.

The paper's rules (ILID, Listing 2 and its post-filter), checked on a finished sample:
- no digits or codes in the labels (a code is what `hints.is_code` says, also in lower case when
  the record wrote it as one: "aisi" for "AISI");
- label_short at most 4 words and shorter than label_long;
- description within its word limit;
- no value copied from the wrong field (material = finish, a label = the material, ...).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

from ilid_ray.dataset.extract.consistency import COPIES, LABELS, copied, label_codes, shorter
from ilid_ray.dataset.extract.hints import code_forms
from ilid_ray.dataset.extract.schema import SPECS
from ilid_ray.dataset.prefilter import clean_text
from ilid_ray.records import FIELDS

_NON_WORD = re.compile(r"[^\w\s]+")


def normalize(text: str | None) -> str:
    if not text:
        return ""
    return " ".join(_NON_WORD.sub(" ", text.lower().replace("-", " ").replace("_", " ")).split())


def token_f1(predicted: str | None, gold: str) -> float:
    got, want = Counter(normalize(predicted).split()), Counter(normalize(gold).split())
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def field_score(predicted: str | None, acceptable: Sequence[str]) -> tuple[bool, float]:
    """(exact match, token F1) against the best acceptable answer; no answer is right when the
    record states nothing."""
    if not acceptable:
        right = not normalize(predicted)
        return right, float(right)
    if not normalize(predicted):
        return False, 0.0
    exact = any(normalize(predicted) == normalize(gold) for gold in acceptable)
    return exact, max(token_f1(predicted, gold) for gold in acceptable)


def rule_breaks(fields: Mapping[str, str | None], source: str) -> list[str]:
    """The paper's rules a sample breaks (empty: none). `source` is the record's raw text."""
    broken = []
    codes = code_forms(source) | code_forms(clean_text(source))  # "D8x20" and its stump "Dx"
    for name in LABELS:
        found = label_codes(fields.get(name) or "", codes)
        if found:
            broken.append(f"code in {name}: {' '.join(found)}")
    short, long_ = fields.get("label_short") or "", fields.get("label_long") or ""
    if len(short.split()) > SPECS["label_short"].max_words:
        broken.append("label_short over 4 words")
    if short and long_ and not shorter(short, long_):
        broken.append("label_short not shorter than label_long")
    if len((fields.get("description") or "").split()) > SPECS["description"].max_words:
        broken.append("description over its word limit")
    for name, other in COPIES:
        if copied(fields, name, other):
            broken.append(f"{name} copies {other}")
    return broken


@dataclass
class QualityReport:
    records: int
    accepted: int
    exact: dict[str, float]  # share of all gold records (a rejected record scores 0)
    f1: dict[str, float]
    breaking: int  # accepted samples that break at least one rule
    breaks: Counter  # rule -> samples

    def as_dict(self) -> dict:
        return {"records": self.records, "accepted_share": round(self.accepted / self.records, 3),
                "exact": {k: round(v, 3) for k, v in self.exact.items()},
                "token_f1": {k: round(v, 3) for k, v in self.f1.items()},
                "breaking_share_of_accepted": round(self.breaking / self.accepted, 3) if self.accepted else None,
                "breaks": dict(self.breaks.most_common())}


def score(samples: Sequence[Mapping[str, str | None] | None], expected: Sequence[Mapping[str, Sequence[str]]],
          sources: Sequence[str]) -> QualityReport:
    """`samples[i]` is the finished sample of gold record i (None: rejected)."""
    exact, f1 = Counter(), Counter()
    breaks: Counter = Counter()
    accepted = breaking = 0
    for sample, want, source in zip(samples, expected, sources, strict=True):
        fields = sample or {}
        for name in FIELDS:
            hit, value = field_score(fields.get(name) if sample else None, want[name])
            exact[name] += hit if sample else 0
            f1[name] += value if sample else 0.0
        if sample is not None:
            accepted += 1
            broken = rule_breaks(sample, source)
            breaking += bool(broken)
            breaks.update(rule.split(":")[0] for rule in broken)
    n = len(samples)
    return QualityReport(records=n, accepted=accepted, exact={k: exact[k] / n for k in FIELDS},
                         f1={k: f1[k] / n for k in FIELDS}, breaking=breaking, breaks=breaks)
