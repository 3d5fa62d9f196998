"""The probe's one short Scrapy run: robots.txt -> the sitemap tree -> a sample of product pages.

It runs with the crawl's own settings (`crawl.settings.crawl_settings`: the address guard and its
resolver, robots.txt obeyed, size, redirect and retry caps) plus one request at a time per host
and a delay, and within explicit bounds: at most `max_sitemaps` sitemaps, `max_urls` listed URLs
kept, `pages` product pages. Listed URLs are recorded, not fetched; when the sitemaps are read
(spider idle) the sample is chosen from the product URLs (the given pattern, or the inferred
family) that robots.txt allows on the shop's hosts, fetched and kept as HTML.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Callable
from urllib.parse import urljoin, urlsplit

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import TextResponse
from scrapy.robotstxt import ProtegoRobotParser
from scrapy.spiders import SitemapSpider

from ilid_ray.config import CrawlConfig, NetworkConfig
from ilid_ray.crawl.failures import failure_reason
from ilid_ray.probe.findings import ProbeFetch, ProbeJob, SitemapNode, choose_sample
from ilid_ray.probe.readers import Page

MAX_PAGE_CHARS = 2_000_000  # HTML kept per sample page


class ProbeSpider(SitemapSpider):
    name = "ilid-probe"

    def __init__(self, job: ProbeJob, *args, **kwargs):
        self.job = job
        self.sitemap_urls = list(job.roots)
        self.sitemap_rules = [(".*", "on_listed")]
        self.sitemap_follow = list(job.follow)
        super().__init__(*args, **kwargs)
        self.result = ProbeFetch()
        self.host = urlsplit(job.roots[0]).hostname or ""
        self._sampled = False
        self._reading: SitemapNode | None = None  # the sitemap being parsed

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_idle, signal=signals.spider_idle)
        return spider

    def on_listed(self, response):  # the rule's callback; listed pages are recorded, never fetched
        return ()

    # ------------------------------------------------------------------ sitemaps
    def _sitemap_request(self, url: str, parent: str | None) -> Request | None:
        if url in self.result.sitemaps:
            return None  # listed twice (or a cycle): read once
        if len(self.result.sitemaps) >= self.job.max_sitemaps:
            self.result.sitemaps_skipped += 1
            return None
        self.result.sitemaps[url] = SitemapNode(url, parent)
        return Request(url, callback=self._parse_sitemap, errback=self.on_sitemap_error, meta={"sitemap": url})

    async def start(self):
        for url in self.sitemap_urls:
            if request := self._sitemap_request(url, None):
                yield request

    def _parse_sitemap(self, response):
        key = response.meta.get("sitemap", response.url)
        node = self.result.sitemaps.setdefault(key, SitemapNode(key, None))
        if key.endswith("/robots.txt"):
            node.kind = "robots"
            self.result.robots_txt = response.text if isinstance(response, TextResponse) else ""
        self._reading = node
        produced = list(super()._parse_sitemap(response) or ())
        for request in produced:
            if request.callback == self._parse_sitemap:
                node.kind = "robots" if node.kind == "robots" else "index"
                node.children.append(request.url)
                if child := self._sitemap_request(request.url, key):
                    yield child
            else:
                node.kind, node.urls = "urlset", node.urls + 1
                if len(self.result.listed) < self.job.max_urls:
                    self.result.listed.setdefault(request.url, key)
                else:
                    self.result.urls_dropped += 1
        if node.kind == "robots":
            self.result.robots_has_sitemaps = bool(node.children)
            if not node.children:
                node.error = "names no Sitemap; trying /sitemap.xml"
                if fallback := self._sitemap_request(urljoin(key, "/sitemap.xml"), key):
                    yield fallback
        elif not produced:
            body = self._get_sitemap_body(response)
            kind = response.headers.get("Content-Type", b"").decode("latin-1") or "no content type"
            node.kind, node.error = ("urlset", "empty") if body else ("error", f"not a sitemap ({kind})")

    def _get_urls_from_sitemapindex(self, it):
        """Scrapy's `sitemap_follow` filter, counting what it leaves out (a --dry-run shows it)."""
        entries = list(it)
        followed = list(super()._get_urls_from_sitemapindex(entries))
        self._reading.unfollowed += len(entries) - len(followed)
        return followed

    def on_sitemap_error(self, failure):
        key = failure.request.meta.get("sitemap", failure.request.url)
        node = self.result.sitemaps.setdefault(key, SitemapNode(key, None))
        node.kind, node.error = "error", failure_reason(failure)
        if key.endswith("/robots.txt"):
            if fallback := self._sitemap_request(urljoin(key, "/sitemap.xml"), key):
                yield fallback

    # ------------------------------------------------------------------ the sample
    def _robots_allow(self) -> Callable[[str], bool]:
        if not self.result.robots_txt:
            return lambda url: True
        parser = ProtegoRobotParser(self.result.robots_txt.encode(), self)
        agent = self.settings.get("ROBOTSTXT_USER_AGENT") or self.settings.get("USER_AGENT")
        return lambda url: parser.allowed(url, agent)

    def _on_idle(self, spider=None):
        if self._sampled:
            return
        self._sampled = True
        sample = choose_sample(self.result, self.job, self.host, self._robots_allow())
        for url in sample:
            self.crawler.engine.crawl(Request(url, callback=self.on_page, errback=self.on_page_error,
                                              dont_filter=True, meta={"sample": url}))
        if sample:
            raise DontCloseSpider

    def on_page(self, response):
        url = response.meta["sample"]
        if isinstance(response, TextResponse):
            self.result.pages.append(Page(url, response.text[:MAX_PAGE_CHARS]))
        else:
            kind = response.headers.get("Content-Type", b"").decode("latin-1") or "unknown type"
            self.result.failed[url] = f"not an HTML page ({kind})"

    def on_page_error(self, failure):
        self.result.failed[failure.request.meta.get("sample", failure.request.url)] = failure_reason(failure)


def probe_settings(job: ProbeJob, crawl: CrawlConfig, network: NetworkConfig, log_level: str) -> dict:
    from ilid_ray.crawl.settings import crawl_settings

    return {**crawl_settings(crawl, network, log_level), "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
            "DOWNLOAD_DELAY": job.delay_s, "LOGSTATS_INTERVAL": 0}


def fetch_probe(job: ProbeJob, crawl: CrawlConfig, network: NetworkConfig, log_level: str = "WARNING") -> ProbeFetch:
    """Run the probe in this process (once per process: Twisted's reactor can't restart)."""
    from scrapy.crawler import CrawlerProcess

    process = CrawlerProcess(probe_settings(job, crawl, network, log_level))
    crawler = process.create_crawler(ProbeSpider)
    process.crawl(crawler, job=job)
    process.start(install_signal_handlers=False)
    result = crawler.spider.result
    result.pages.sort(key=lambda p: result.sample.index(p.url))
    return result


def fetch_probe_isolated(job: ProbeJob, crawl: CrawlConfig, network: NetworkConfig,
                         log_level: str = "WARNING") -> ProbeFetch:
    """`fetch_probe` in a fresh spawned process (tests, or a second probe in one process)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fetch_probe, job, crawl, network, log_level).result()
