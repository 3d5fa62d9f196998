"""What a probe collects (plain data, picklable across the spawned probe process) and how it
picks its sample of product pages (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from ilid_ray.probe.readers import Page
from ilid_ray.probe.urls import even_sample, product_family, shop_hosts


@dataclass
class ProbeJob:
    roots: list[str]  # robots.txt and/or sitemap URLs
    follow: list[str] = field(default_factory=lambda: [".*"])  # nested sitemaps to open
    product_pattern: str | None = None  # None: infer it from the URL shapes
    pages: int = 30
    max_sitemaps: int = 100
    max_urls: int = 200_000
    delay_s: float = 1.0


@dataclass
class SitemapNode:
    url: str
    parent: str | None
    kind: str = "pending"  # robots | index | urlset | error
    children: list[str] = field(default_factory=list)
    urls: int = 0  # page URLs it lists
    unfollowed: int = 0  # nested sitemaps it lists that `sitemap_follow` leaves out
    error: str = ""


@dataclass
class ProbeFetch:
    sitemaps: dict[str, SitemapNode] = field(default_factory=dict)  # in discovery order
    listed: dict[str, str] = field(default_factory=dict)  # page URL -> the sitemap listing it
    robots_txt: str | None = None
    robots_has_sitemaps: bool = False
    pattern: str | None = None  # product URL pattern the sample was drawn with
    candidates: int = 0  # product URLs on the shop's hosts that robots.txt allows
    disallowed: int = 0  # product URLs robots.txt forbids
    offhost: int = 0  # product URLs on other hosts (not sampled)
    hosts: list[str] = field(default_factory=list)  # the shop's hosts (`shop_hosts`)
    sample: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # sample URL -> why no page came back
    sitemaps_skipped: int = 0  # over max_sitemaps
    urls_dropped: int = 0  # over max_urls


def choose_sample(result: ProbeFetch, job: ProbeJob, host: str, allowed: Callable[[str], bool]) -> list[str]:
    """Set the product pattern (the job's, else the inferred family's) and pick the sample: an even
    spread over the product URLs on the shop's hosts (`shop_hosts`) that robots.txt allows. Fills
    the counts in `result`."""
    listed = list(result.listed)
    family = product_family(listed) if job.product_pattern is None else None
    result.pattern = job.product_pattern or (family.pattern if family else None)
    if result.pattern is None:
        return []
    products = [u for u in listed if re.search(result.pattern, u)]
    hosts = result.hosts = shop_hosts(products, host)
    on_host = [u for u in products if urlsplit(u).hostname in hosts]
    candidates = [u for u in on_host if allowed(u)]
    result.offhost, result.disallowed = len(products) - len(on_host), len(on_host) - len(candidates)
    result.candidates = len(candidates)
    result.sample = even_sample(candidates, job.pages)
    return result.sample
