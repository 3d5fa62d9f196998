"""Product URLs from URL shapes alone (pure): which sitemap URLs are products, which sitemaps lead
to them, and an even sample of them.

A shop's product pages are the largest family of similar leaf URLs. Each URL becomes a shape, one
token per path segment: a literal ("shop"), digits, a name ending in a number with its marker
("...-p123" -> `[^/]*-p\\d+`) or anything. Shapes that differ in one segment are merged when that
segment looks like a variable (many values with few URLs each: categories, years, slugs), and kept
apart when one value holds most URLs (a site section: /products/ next to /blog/).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import urlsplit, parse_qsl

_EXT = re.compile(r"(?P<stem>.*?)(?P<ext>\.[A-Za-z][A-Za-z0-9]{0,4})?")
_NUMBERED = re.compile(r"(?P<head>.*?)(?P<marker>[-_.~][A-Za-z]{0,2}|[A-Za-z]{0,2})(?P<num>\d+)")
DOMINANT_SHARE = 0.5  # a segment value holding more than this share of its URLs is a section
HOST_SHARE = 0.1  # a host with at least this share of the product URLs is one of the shop's


def escape(text: str) -> str:
    """re.escape without the escaped hyphens it adds (needless outside a character class)."""
    return re.escape(text).replace(r"\-", "-")


@dataclass(frozen=True)
class Token:
    """One path segment of a shape. kind: lit (exact text), digits, numbered (ends in a number
    after `marker`), any; `ext` is a file extension kept literally (".html")."""

    kind: str
    text: str = ""
    ext: str = ""
    empty_ok: bool = False  # `any` that also covers an empty segment (a trailing slash)

    @property
    def regex(self) -> str:
        if self.kind == "lit":
            return escape(self.text)
        body = {"digits": r"\d+", "numbered": rf"[^/]*{escape(self.text)}\d+",
                "any": "[^/]*" if self.empty_ok else "[^/]+", "query": self.text}[self.kind]
        return body + escape(self.ext)


def segment_token(segment: str) -> Token:
    match = _EXT.fullmatch(segment)
    stem, ext = match["stem"], match["ext"] or ""
    if stem.isdigit():
        return Token("digits", ext=ext)
    numbered = _NUMBERED.fullmatch(stem)
    if numbered and re.search(r"[A-Za-z]", stem):
        return Token("numbered", numbered["marker"], ext)
    return Token("lit", segment)


def query_token(query: str) -> Token:
    """A query string: its parameter names literally, any values."""
    keys = [k for k, _ in parse_qsl(query, keep_blank_values=True)]
    return Token("query", r"\?" + "&".join(rf"{escape(k)}=[^&]*" for k in keys))


def url_shape(url: str) -> tuple[Token, ...]:
    parts = urlsplit(url)
    tokens = [segment_token(s) for s in (parts.path or "/").split("/")[1:]]
    return tuple(tokens + ([query_token(parts.query)] if parts.query else []))


def covering_token(tokens: list[Token]) -> Token:
    """The least general token that matches every URL the given tokens match."""
    first = tokens[0]
    if all(t == first for t in tokens):
        return first
    if any(t.kind == "query" for t in tokens):
        return Token("query", r"\?[^#]*")
    exts = {t.ext for t in tokens if t.kind != "lit"} | {_EXT.fullmatch(t.text)["ext"] or "" for t in tokens
                                                         if t.kind == "lit"}
    ext = exts.pop() if len(exts) == 1 else ""
    kinds = {t.kind for t in tokens}
    if kinds == {"digits"}:
        return Token("digits", ext=ext)
    if kinds <= {"digits", "numbered"}:
        markers = {t.text for t in tokens if t.kind == "numbered"}
        marker = markers.pop() if len(markers) == 1 and "digits" not in kinds else ""
        return Token("numbered", marker, ext)
    empty = any(t.kind == "lit" and t.text == "" for t in tokens)
    return Token("any", ext="" if empty else ext, empty_ok=empty)


def _to_merge(members: list[tuple[Token, ...]], position: int, size: dict) -> list[tuple[Token, ...]]:
    """Which of these shapes (equal but at `position`) are one family: all of them when the segment
    is already variable; else all but the dominant values, if at least three remain."""
    if all(m[position].kind not in ("lit", "query") for m in members):
        return members
    rest = sorted(members, key=lambda m: -len(size[m]))
    while rest and len(size[rest[0]]) > DOMINANT_SHARE * sum(len(size[m]) for m in rest):
        rest = rest[1:]
    if len(rest) >= 3 or (len(rest) == 2 and all(m[position].kind not in ("lit", "query") for m in rest)):
        return rest
    return []


@dataclass
class UrlFamily:
    shape: tuple[Token, ...]
    urls: list[str] = field(default_factory=list)

    @property
    def pattern(self) -> str:
        """Regex (re.search on the whole URL) matching this family's URLs on any host."""
        path = [t for t in self.shape if t.kind != "query"]
        query = "".join(t.regex for t in self.shape if t.kind == "query")
        return r"^https?://[^/]+/" + "/".join(t.regex for t in path) + query + "$"


def url_families(urls: Iterable[str]) -> list[UrlFamily]:
    """Families of similar URLs, largest first (ties: deeper shape first, then the pattern)."""
    groups: dict[tuple[Token, ...], list[str]] = defaultdict(list)
    for url in dict.fromkeys(urls):
        groups[url_shape(url)].append(url)
    changed = True
    while changed:
        changed = False
        for length in sorted({len(s) for s in groups}):
            for position in reversed(range(length)):
                buckets: dict[tuple, list[tuple[Token, ...]]] = defaultdict(list)
                for shape in groups:
                    if len(shape) == length:
                        # a query string and a path segment never stand for each other
                        key = (shape[:position] + shape[position + 1:], shape[position].kind == "query")
                        buckets[key].append(shape)
                for members in buckets.values():
                    merged = _to_merge(members, position, groups) if len(members) > 1 else []
                    if len(merged) < 2:
                        continue
                    token = covering_token([m[position] for m in merged])
                    target = merged[0][:position] + (token,) + merged[0][position + 1:]
                    urls_ = [u for m in merged for u in groups.pop(m)]
                    groups.setdefault(target, []).extend(urls_)
                    changed = True
    families = [UrlFamily(shape, urls_) for shape, urls_ in groups.items()]
    return sorted(families, key=lambda f: (-len(f.urls), -len(f.shape), f.pattern))


def product_family(urls: Iterable[str]) -> UrlFamily | None:
    """The largest family of at least two URLs (the shop's product pages), or None."""
    families = url_families(urls)
    return families[0] if families and len(families[0].urls) >= 2 else None


def shop_hosts(products: list[str], root_host: str) -> list[str]:
    """The probed host, then the hosts holding a sizeable share of the product URLs (a shop whose
    robots.txt sits on example.com and its pages on www.example.com); a stray URL on some other
    host does not make that host part of the shop."""
    counts = Counter(urlsplit(u).hostname or "" for u in products)
    return list(dict.fromkeys([root_host, *(h for h, n in counts.most_common() if h and n >= HOST_SHARE * len(products))]))


def even_sample(urls: list[str], n: int) -> list[str]:
    """`n` URLs spread evenly over the list (deterministic), or all of them."""
    if len(urls) <= n:
        return list(urls)
    return [urls[i * len(urls) // n] for i in range(n)]


# --------------------------------------------------------------------------- sitemaps


def sitemap_path_pattern(url: str) -> str:
    """A sitemap URL -> regex on its path: digit runs generalised, `.xml` and `.xml.gz` alike."""
    path = urlsplit(url).path
    stem = re.sub(r"\.xml(?:\.gz)?$", "", path)
    pieces = re.split(r"(\d+)", stem)
    body = "".join(r"\d+" if p.isdigit() else escape(p) for p in pieces)
    return body + (r"\.xml(?:\.gz)?$" if stem != path else "$")


def infer_sitemap_follow(needed: Iterable[str], others: Iterable[str]) -> list[str]:
    """`sitemap_follow` regexes that open every nested sitemap in `needed` (those holding or leading
    to product URLs) and none in `others`; [".*"] when every nested sitemap is needed."""
    needed, others = sorted(set(needed)), sorted(set(others) - set(needed))
    if not others:
        return [".*"]
    patterns = []
    for url in needed:
        general = sitemap_path_pattern(url)
        if any(re.search(general, o) for o in others):
            general = escape(urlsplit(url).path) + "$"
        patterns.append(general)
    return list(dict.fromkeys(patterns))
