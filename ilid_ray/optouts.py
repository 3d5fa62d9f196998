"""Publishers' machine-readable opt-outs, as pure functions shared by the crawler (pages) and the
image downloader (images).

* Robots directives (`X-Robots-Tag` headers, `<meta name="robots">`): `noai`, `noimageai`,
  `noindex`, `noimageindex` (img2dataset's defaults) opt a page or image out. A directive may be
  scoped to a user agent (`X-Robots-Tag: ilid-ray: noai`, `<meta name="ilid-ray" ...>`); scopes
  naming another agent are ignored.
* TDMRep (W3C community group): a `tdm-reservation: 1` header or meta tag, or a rule of the
  origin's `/.well-known/tdmrep.json` whose `location` matches the path, reserves text-and-data-
  mining rights: the content is not used.

Every opt-out yields its own reject reason ("opt-out: X-Robots-Tag noai", ...).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

OPT_OUT_DIRECTIVES = ("noai", "noimageai", "noindex", "noimageindex")
# X-Robots-Tag rules with a value after a colon; anything else before a colon is a user agent
_VALUED_RULES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_SCOPED = re.compile(r"^\s*([A-Za-z0-9_.*-]+)\s*:\s*(.*)$")
TDMREP_PATH = "/.well-known/tdmrep.json"


def agent_token(user_agent: str) -> str:
    """The product token robots rules name us by: "ilid-ray/0.1 (+https://...)" -> "ilid-ray"."""
    return re.split(r"[/\s]", user_agent.strip(), maxsplit=1)[0].lower() or "*"


def robots_directives(values: Iterable[str], agent: str) -> set[str]:
    """Directives of X-Robots-Tag header values that apply to `agent` (unscoped, `*` or ours)."""
    out: set[str] = set()
    for value in values:
        scoped = _SCOPED.match(value)
        if scoped and scoped.group(1).lower() not in _VALUED_RULES:
            if scoped.group(1).lower() not in ("*", agent.lower()):
                continue
            value = scoped.group(2)
        out.update(d.strip().lower() for d in value.split(",") if d.strip())
    return out


def opted_out(directives: set[str]) -> list[str]:
    """The opt-out directives among `directives`, in a fixed order."""
    return [d for d in OPT_OUT_DIRECTIVES if d in directives]


def header_reason(get_all, agent: str, x_robots_tag: bool = True, tdmrep: bool = True) -> str | None:
    """The opt-out reason of a response's headers (`get_all(name) -> list[str]`), or None.
    Needs the headers only, so it runs before any body is read."""
    if x_robots_tag:
        hits = opted_out(robots_directives(get_all("X-Robots-Tag"), agent))
        if hits:
            return f"opt-out: X-Robots-Tag {', '.join(hits)}"
    if tdmrep and any(v.strip() == "1" for v in get_all("tdm-reservation")):
        return "opt-out: tdm-reservation header"
    return None


def meta_reason(selector, agent: str, meta_robots: bool = True, tdmrep: bool = True) -> str | None:
    """The opt-out reason of a page's `<meta>` tags (a parsel Selector), or None."""
    if meta_robots:
        directives: set[str] = set()
        for meta in selector.xpath("//meta[@name and @content]"):
            name = (meta.attrib.get("name") or "").strip().lower()
            if name in ("robots", agent.lower()):
                directives |= robots_directives([meta.attrib.get("content", "")], agent)
        hits = opted_out(directives)
        if hits:
            return f"opt-out: meta robots {', '.join(hits)}"
    if tdmrep:
        for meta in selector.xpath("//meta[@name and @content]"):
            if (meta.attrib.get("name") or "").strip().lower() == "tdm-reservation" \
                    and meta.attrib.get("content", "").strip() == "1":
                return "opt-out: tdm-reservation meta tag"
    return None


def parse_tdmrep(body: bytes) -> list[dict[str, Any]]:
    """The rules of a tdmrep.json document ([] if it is not one: then nothing is reserved)."""
    try:
        rules = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    return [r for r in rules if isinstance(r, dict) and isinstance(r.get("location"), str)] \
        if isinstance(rules, list) else []


def _location_regex(location: str) -> re.Pattern:
    """A tdmrep `location` (robots.txt-style: `*` any run, trailing `$` the end) as a regex."""
    anchored = location.endswith("$")
    body = "".join(".*" if ch == "*" else re.escape(ch) for ch in location.rstrip("$"))
    if not body.startswith("/") and not body.startswith(".*"):
        body = "/" + body
    return re.compile(body + ("$" if anchored else ""))


def tdmrep_reason(rules: list[dict[str, Any]], path: str) -> str | None:
    """The first rule whose location matches `path` decides; reserved (1) -> the reject reason."""
    for rule in rules:
        if _location_regex(rule["location"]).match(path or "/"):
            if str(rule.get("tdm-reservation", "0")).strip() == "1":
                return f"opt-out: tdmrep.json reserves {rule['location']}"
            return None
    return None
