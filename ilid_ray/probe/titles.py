"""A trade-name regex proposed from product titles (pure), for a person to confirm.

Brands and series names recur across the titles of many products, always capitalised (or marked
with ® / ™), while ordinary words of the same titles ("Hinge", "Stainless") also turn up in lower
case somewhere in the shop's texts. A candidate is a capitalised word of 3+ letters that recurs in
several titles (or once with ® / ™) and never appears in lower case in any title or text block.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

WORD = re.compile(r"(?<![\w-])([^\W\d_][^\W\d_'’]{2,})(?![\w-])\s*([®™])?")
HYPHEN_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
MIN_TITLE_SHARE = 0.05  # recurs in at least this share of the titles (and at least twice)


@dataclass
class TradeNames:
    names: list[str] = field(default_factory=list)  # most frequent first
    titles_with: dict[str, int] = field(default_factory=dict)  # name -> titles it appears in
    marked: set[str] = field(default_factory=set)  # names seen with ® or ™
    titles: int = 0

    @property
    def regex(self) -> str | None:
        """Case-insensitive regex in the spec's `trade_names` form, or None without names."""
        if not self.names:
            return None
        names = sorted(self.names, key=lambda n: (-len(n), n))
        return r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b[®™]?"


def propose_trade_names(titles: Iterable[str], texts: Iterable[str] = ()) -> TradeNames:
    titles = [t for t in titles if t]
    lowercase: set[str] = set()
    for text in [*titles, *texts]:
        lowercase.update(w for w in re.findall(r"[^\W\d_]+", text) if w.islower())
    in_titles: Counter[str] = Counter()
    marked: set[str] = set()
    for title in titles:
        found = set()
        plain = HYPHEN_WORD.sub(" ", title)  # "Lift-off", "Push-Pull": compound nouns, not names
        for word, mark in WORD.findall(plain):
            if word[0].isupper() and word.lower() not in lowercase:
                found.add(word)
                if mark:
                    marked.add(word)
        in_titles.update(found)
    least = max(2, math.ceil(MIN_TITLE_SHARE * len(titles)))
    names = [w for w, n in in_titles.most_common() if n >= least or w in marked]
    return TradeNames(names, {w: in_titles[w] for w in names}, marked & set(names), len(titles))
