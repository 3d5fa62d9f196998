"""`CatalogSpider`: one generic Scrapy sitemap spider driven by a CatalogSpec.

robots.txt -> Sitemap lines -> sitemap indexes (nested, `.xml.gz`) -> product pages matching
`product_url_pattern` (Scrapy's SitemapSpider does the walking). Every product URL the sitemaps
list ends as exactly one raw row: accepted, or rejected at stage "crawl" with a reason (HTTP
error, redirect loop, robots.txt, blocked address, no title, no image, ...). URLs beyond the page
cap are counted, not fetched. Custom spiders (reader=custom) subclass this and override
`parse_product`.

The walk is bounded: at most `crawl.max_sitemaps` sitemap documents, nested at most
`crawl.max_sitemap_depth` deep (more are counted, not fetched), for at most `crawl.max_crawl_s`
(Scrapy's CLOSESPIDER_TIMEOUT). Only http(s) URLs on `allowed_domains` (default: the hosts of the
start URLs) are requested (guard.py). A product page that opts out (X-Robots-Tag, meta robots,
TDMRep; `catalog.opt_outs`) is rejected with its reason before it is read.
"""

from __future__ import annotations

import importlib
import re
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.http import TextResponse
from scrapy.spiders import SitemapSpider

from ilid_ray.catalogs.reader import read_product
from ilid_ray.catalogs.record import ProductRecord
from ilid_ray.config import CatalogSpec, CrawlConfig, NetworkConfig
from ilid_ray.crawl.failures import failure_reason
from ilid_ray.crawl.guard import OFFSITE
from ilid_ray.net import host_in_domains, scheme_reason
from ilid_ray import optouts, records

STAGE = "crawl"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_domains(catalog: CatalogSpec) -> list[str]:
    """`allowed_domains` of a spec, or the hosts of its start and sitemap URLs when it names none."""
    if catalog.allowed_domains:
        return list(catalog.allowed_domains)
    hosts = (urlsplit(u).hostname for u in [*catalog.start_urls, *catalog.sitemap_urls])
    return list(dict.fromkeys(h.lower() for h in hosts if h))


class CatalogSpider(SitemapSpider):
    name = "catalog"

    def __init__(self, catalog: CatalogSpec, crawl: CrawlConfig, *args: Any, **kwargs: Any):
        self.catalog = catalog
        self.name = catalog.name
        self.sitemap_urls = [*catalog.start_urls, *catalog.sitemap_urls]
        self.sitemap_rules = [(re.compile(catalog.product_url_pattern), "parse_product")]
        self.sitemap_follow = [re.compile(p) for p in catalog.sitemap_follow]
        self.allowed_domains = default_domains(catalog)
        self.max_products = catalog.max_pages if catalog.max_pages is not None else crawl.max_pages
        self.max_sitemaps, self.max_sitemap_depth = crawl.max_sitemaps, crawl.max_sitemap_depth
        super().__init__(*args, **kwargs)
        self.sitemaps_requested = 0
        self.sitemaps_over_cap = 0  # sitemaps not fetched because of crawl.max_sitemaps
        self.sitemaps_too_deep = 0  # sitemaps not fetched because of crawl.max_sitemap_depth
        self.product_urls: dict[str, None] = {}  # every product URL taken on, in discovery order
        self.open_products: set[str] = set()  # requested, no row yet
        self.sitemap_errors: list[str] = []
        self.over_cap = 0  # product URLs not fetched because of the page cap
        self.duplicates = 0  # product URLs listed more than once
        self.callback_errors: dict[str, str] = {}  # product URL -> exception raised while reading it

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_spider_error, signal=signals.spider_error)
        return spider

    def _on_spider_error(self, failure, response, spider=None) -> None:
        url = response.meta.get("product_url") if response is not None else None
        if url:
            self.callback_errors[url] = f"{type(failure.value).__name__}: {failure.value}"

    def unfinished_rows(self, close_reason: str) -> list[dict]:
        """Rows for product URLs that got no row: their callback raised, or the crawl stopped."""
        rows = []
        for url in sorted(self.open_products):
            error = self.callback_errors.get(url)
            reason = f"spider error: {error}" if error else f"not crawled: crawl ended ({close_reason})"
            rows.append(self.product_row(url, reason=reason))
        return rows

    # ------------------------------------------------------------------ sitemaps
    async def start(self):
        for url in self.sitemap_urls:
            request = self._sitemap_request(Request(url, callback=self._parse_sitemap), 0)
            if request is not None:
                yield request

    def _sitemap_request(self, request: Request, depth: int) -> Request | None:
        """The request of a sitemap at `depth`, or None (counted) when a walk cap forbids it."""
        refused = scheme_reason(request.url)
        if refused:
            self.sitemap_errors.append(f"{request.url}: {refused}")
            return None
        if depth > self.max_sitemap_depth:
            self.sitemaps_too_deep += 1
            return None
        if self.sitemaps_requested >= self.max_sitemaps:
            self.sitemaps_over_cap += 1
            return None
        self.sitemaps_requested += 1
        return request.replace(errback=self.on_sitemap_error, meta={**request.meta, "sitemap_depth": depth})

    def _parse_sitemap(self, response):
        produced = list(super()._parse_sitemap(response) or ())
        if not produced:
            if response.url.endswith("/robots.txt"):
                self.sitemap_errors.append(f"{response.url}: robots.txt names no Sitemap")
            elif self._get_sitemap_body(response) is None:
                kind = response.headers.get("Content-Type", b"").decode("latin-1") or "no content type"
                self.sitemap_errors.append(f"{response.url}: not a sitemap ({kind})")
        depth = response.meta.get("sitemap_depth", 0) + 1
        for request in produced:
            if request.callback == self._parse_sitemap:
                request = self._sitemap_request(request, depth)
                if request is not None:
                    yield request
            else:
                yield from self._take_product(request.url, request.callback)

    def on_sitemap_error(self, failure):
        reason = failure_reason(failure)
        self.logger.error("catalog %s: sitemap %s failed: %s", self.name, failure.request.url, reason)
        self.sitemap_errors.append(f"{failure.request.url}: {reason}")

    def _take_product(self, url: str, callback) -> Iterator[Any]:
        if url in self.product_urls:
            self.duplicates += 1
            return
        if self.max_products is not None and len(self.product_urls) >= self.max_products:
            self.over_cap += 1
            return
        self.product_urls[url] = None
        refused = scheme_reason(url) or (None if self.on_site(url) else OFFSITE)
        if refused:
            yield self.product_row(url, reason=refused)
            return
        self.open_products.add(url)
        yield Request(url, callback=self._unless_opted_out, errback=self.on_product_error, dont_filter=True,
                      meta={"product_url": url}, cb_kwargs={"read": callback})

    def on_site(self, url: str) -> bool:
        """Scrapy's offsite rule (host is an allowed domain or a subdomain; ports ignored)."""
        return not self.allowed_domains or host_in_domains(urlsplit(url).hostname or "", self.allowed_domains)

    # ------------------------------------------------------------------ opt-outs
    @property
    def agent(self) -> str:
        """Our robots product token, from the crawl's USER_AGENT (the default one before a crawler)."""
        settings = getattr(self, "settings", None)
        return optouts.agent_token(settings.get("USER_AGENT") if settings else NetworkConfig().user_agent)

    def opt_out_reason(self, response) -> str | None:
        """Why a product page's publisher keeps it out of the dataset (headers, then meta), or None."""
        switches = self.catalog.opt_outs
        reason = optouts.header_reason(lambda name: [v.decode("latin-1") for v in response.headers.getlist(name)],
                                       self.agent, switches.x_robots_tag, switches.tdmrep)
        if reason is None and isinstance(response, TextResponse):
            reason = optouts.meta_reason(response.selector, self.agent, switches.meta_robots, switches.tdmrep)
        return reason

    def _unless_opted_out(self, response, read):
        reason = self.opt_out_reason(response)
        if reason:
            yield self.product_row(response.meta.get("product_url", response.url), reason=reason)
            return
        yield from read(response) or ()

    # ------------------------------------------------------------------ products
    def parse_product(self, response):
        """Read a product page with the spec's reader (custom spiders override this)."""
        url = response.meta.get("product_url", response.url)
        if not isinstance(response, TextResponse):
            kind = response.headers.get("Content-Type", b"").decode("latin-1") or "unknown type"
            yield self.product_row(url, reason=f"not an HTML page ({kind})")
            return
        record = read_product(response, self.catalog)
        yield self.product_row(url, record)

    def on_product_error(self, failure):
        request = failure.request
        yield self.product_row(request.meta.get("product_url", request.url), reason=failure_reason(failure))

    def product_row(self, url: str, record: ProductRecord | None = None, reason: str | None = None) -> dict:
        """The one raw row of a product URL; rejected with `reason`, or the record's problem."""
        record = record or ProductRecord()
        row = records.raw_row(url, self.name, record.label, record.data, record.image_urls, now_iso(),
                              found_by=record.found_by, rights=record.rights)
        reason = reason or record.problem()
        if reason:
            records.reject(row, STAGE, reason)
        self.open_products.discard(url)
        return row


def spider_class(spec: CatalogSpec) -> type[CatalogSpider]:
    """CatalogSpider, or the spec's `spider: package.module:Class` (a CatalogSpider subclass)."""
    if not spec.spider:
        return CatalogSpider
    module_name, _, class_name = spec.spider.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"catalog {spec.name!r}: cannot load spider {spec.spider!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, CatalogSpider)):
        raise ValueError(f"catalog {spec.name!r}: spider {spec.spider!r} is not a CatalogSpider subclass")
    return cls
