"""What an image's origin (scheme://host:port) says about fetching it: its robots.txt and its TDMRep
`/.well-known/tdmrep.json`. Images often live on another host than the page (a CDN), and that
host's rules apply to them.

Each origin's two files are fetched once per client, through the client's own guarded GET (so
the address policy, deadline and host gate hold for them too), and cached. robots.txt follows
RFC 9309: 2xx is parsed, any 4xx means no rules, a 5xx or a network failure means "assume
complete disallow". A tdmrep.json that is missing or unreadable reserves nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from protego import Protego

from ilid_ray.optouts import TDMREP_PATH, parse_tdmrep, tdmrep_reason

# (url) -> (status, body); raises the client's FetchError for network failures
GetSmall = Callable[[str], "tuple[int, bytes]"]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass
class OriginRules:
    robots: Protego | None  # None: no robots.txt rules (4xx)
    robots_unavailable: str | None  # why robots.txt could not be read (then everything is disallowed)
    tdmrep: list[dict]


class OriginRuleCache:
    """Per-origin rules, fetched on first use (one fetch per origin even under many threads)."""

    def __init__(self, get_small: GetSmall, agent: str, fetch_error: type[Exception], blocked: type[Exception]):
        self.get_small, self.agent, self.fetch_error, self.blocked = get_small, agent, fetch_error, blocked
        self._rules: dict[str, OriginRules] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def reason(self, url: str, robots: bool = True, tdmrep: bool = True) -> str | None:
        """The reject reason of `url` under its origin's robots.txt / tdmrep.json, or None."""
        if not (robots or tdmrep):
            return None
        rules = self.rules(origin_of(url))
        if robots:
            if rules.robots_unavailable:
                return f"robots.txt of the image host unavailable ({rules.robots_unavailable})"
            if rules.robots is not None and not rules.robots.can_fetch(url, self.agent):
                return "opt-out: image host robots.txt disallows it"
        if tdmrep:
            parts = urlsplit(url)
            return tdmrep_reason(rules.tdmrep, parts.path + (f"?{parts.query}" if parts.query else ""))
        return None

    def rules(self, origin: str) -> OriginRules:
        with self._guard:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            if origin not in self._rules:
                self._rules[origin] = self._load(origin)
            return self._rules[origin]

    def _load(self, origin: str) -> OriginRules:
        robots, unavailable = None, None
        try:
            status, body = self.get_small(origin + "/robots.txt")
            if 200 <= status < 300:
                robots = Protego.parse(body.decode("utf-8", "replace"))
            elif status >= 500:
                unavailable = f"http {status}"
        except self.blocked:
            raise  # the host is forbidden: that is the image's reject reason
        except self.fetch_error as exc:
            unavailable = str(exc)
        tdmrep: list[dict] = []
        try:
            status, body = self.get_small(origin + TDMREP_PATH)
            if 200 <= status < 300:
                tdmrep = parse_tdmrep(body)
        except self.blocked:
            raise
        except self.fetch_error:
            pass  # no readable tdmrep.json: nothing reserved
        return OriginRules(robots, unavailable, tdmrep)
