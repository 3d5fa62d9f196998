"""`CatalogSpider`: one generic Scrapy sitemap spider driven by a CatalogSpec.

robots.txt -> Sitemap lines -> sitemap indexes (nested, `.xml.gz`) -> product pages matching
`product_url_pattern` (Scrapy's SitemapSpider does the walking). Every product URL the sitemaps
list ends as exactly one raw row: accepted, or rejected at stage "crawl" with a reason (HTTP
error, redirect loop, robots.txt, blocked address, no title, no image, ...). URLs beyond the page
cap are counted, not fetched. Custom spiders (reader=custom) subclass this and override
`parse_product`.
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
from ilid_ray.config import CatalogSpec, CrawlConfig
from ilid_ray.crawl.failures import failure_reason
from ilid_ray import records

STAGE = "crawl"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class CatalogSpider(SitemapSpider):
    name = "catalog"

    def __init__(self, catalog: CatalogSpec, crawl: CrawlConfig, *args: Any, **kwargs: Any):
        self.catalog = catalog
        self.name = catalog.name
        self.sitemap_urls = [*catalog.start_urls, *catalog.sitemap_urls]
        self.sitemap_rules = [(re.compile(catalog.product_url_pattern), "parse_product")]
        self.sitemap_follow = [re.compile(p) for p in catalog.sitemap_follow]
        self.allowed_domains = list(catalog.allowed_domains)
        self.max_products = catalog.max_pages if catalog.max_pages is not None else crawl.max_pages
        super().__init__(*args, **kwargs)
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
            yield Request(url, callback=self._parse_sitemap, errback=self.on_sitemap_error)

    def _parse_sitemap(self, response):
        produced = list(super()._parse_sitemap(response) or ())
        if not produced:
            if response.url.endswith("/robots.txt"):
                self.sitemap_errors.append(f"{response.url}: robots.txt names no Sitemap")
            elif self._get_sitemap_body(response) is None:
                kind = response.headers.get("Content-Type", b"").decode("latin-1") or "no content type"
                self.sitemap_errors.append(f"{response.url}: not a sitemap ({kind})")
        for request in produced:
            if request.callback == self._parse_sitemap:
                yield request.replace(errback=self.on_sitemap_error)
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
        if not self.on_site(url):
            yield self.product_row(url, reason="offsite: host not in allowed_domains")
            return
        self.open_products.add(url)
        yield Request(url, callback=callback, errback=self.on_product_error, dont_filter=True,
                      meta={"product_url": url})

    def on_site(self, url: str) -> bool:
        """Scrapy's offsite rule (host is an allowed domain or a subdomain; ports ignored)."""
        host = (urlsplit(url).hostname or "").lower()
        return not self.allowed_domains or any(
            host == d.lower() or host.endswith("." + d.lower()) for d in self.allowed_domains)

    # ------------------------------------------------------------------ products
    def parse_product(self, response):
        """Read a product page with the spec's reader (custom spiders override this)."""
        url = response.meta.get("product_url", response.url)
        if not isinstance(response, TextResponse):
            kind = response.headers.get("Content-Type", b"").decode("latin-1") or "unknown type"
            yield self.product_row(url, reason=f"not an HTML page ({kind})")
            return
        yield self.product_row(url, read_product(response, self.catalog))

    def on_product_error(self, failure):
        request = failure.request
        yield self.product_row(request.meta.get("product_url", request.url), reason=failure_reason(failure))

    def product_row(self, url: str, record: ProductRecord | None = None, reason: str | None = None) -> dict:
        """The one raw row of a product URL; rejected with `reason`, or the record's problem."""
        record = record or ProductRecord()
        row = records.raw_row(url, self.name, record.label, record.data, record.image_urls, now_iso(),
                              found_by=record.found_by)
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
