"""What the crawl may request: http(s) only, on the catalog's domains, within the walk caps; and
what a product page's publisher says (opt-outs) and licenses (rights). No network needed."""

from __future__ import annotations

import asyncio
import socket

import pytest
from scrapy import Request
from scrapy.core.downloader.handlers import DownloadHandlers
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from ilid_ray.config import CatalogSpec, CrawlConfig, NetworkConfig, OptOutSwitches
from ilid_ray.crawl.guard import OFFSITE, AddressGuardMiddleware, BlockedRequest, request_verdict
from ilid_ray.crawl.settings import crawl_settings
from ilid_ray.crawl.spider import CatalogSpider, default_domains
from ilid_ray.testing.trap import TcpTrap

SPEC = CatalogSpec(name="shop", start_urls=["https://shop.example.com/robots.txt"],
                   sitemap_urls=["https://cdn.example.net/sitemap.xml"], product_url_pattern=r"/p/")
PAGE = b"""<html><head>%s<script type="application/ld+json">{"@type": "Product", "name": "Steel hinge",
"image": "/h.jpg", "license": "https://creativecommons.org/licenses/by/4.0/",
"copyrightHolder": {"@type": "Organization", "name": "Shop GmbH"}}</script></head><body></body></html>"""


@pytest.mark.parametrize("url, reason", [
    ("ftp://127.0.0.1:2121/p/1", "unsupported scheme: ftp"), ("file:///etc/passwd", "unsupported scheme: file"),
    ("data:text/html,hello", "unsupported scheme: data"), ("s3://bucket/p/1", "unsupported scheme: s3"),
    ("https://evil.example.org/p/1", OFFSITE), ("https://shop.example.com/p/1", None),
    ("http://img.shop.example.com:8080/p/1", None),
])
def test_request_verdict(url, reason):
    from urllib.parse import urlsplit

    assert request_verdict(url, urlsplit(url).hostname, ["shop.example.com"]) == reason


def spider(spec: CatalogSpec = SPEC, **crawl) -> CatalogSpider:
    return CatalogSpider(catalog=spec, crawl=CrawlConfig(**crawl))


def test_middleware_refuses_before_any_lookup_even_with_dont_filter():
    """The custom-spider template follows with dont_filter=True: that must not get around
    allowed_domains, and no scheme but http(s) gets through."""
    guard = AddressGuardMiddleware(allow=("127.0.0.1/32",))
    s = spider(SPEC.model_copy(update={"allowed_domains": ["shop.example.com"]}))
    for url, reason in [("https://evil.example.org/api/1.json", OFFSITE),
                        ("ftp://127.0.0.1:21/x", "unsupported scheme: ftp"),
                        ("file:///etc/hostname", "unsupported scheme: file")]:
        with pytest.raises(BlockedRequest, match=reason):
            asyncio.run(guard.process_request(Request(url, dont_filter=True), s))


def test_scrapy_has_no_handler_for_other_schemes():
    settings = crawl_settings(CrawlConfig(max_crawl_s=90), NetworkConfig())
    assert settings["CLOSESPIDER_TIMEOUT"] == 90
    handlers = DownloadHandlers(get_crawler(settings_dict=settings))
    for scheme in ("ftp", "file", "s3", "data"):
        assert handlers._get_handler(scheme) is None
        assert handlers._notconfigured[scheme] == "no handler available for that scheme"


def test_allowed_domains_default_to_the_start_hosts():
    assert default_domains(SPEC) == ["shop.example.com", "cdn.example.net"]
    assert spider().allowed_domains == ["shop.example.com", "cdn.example.net"]
    assert default_domains(SPEC.model_copy(update={"allowed_domains": ["x.example"]})) == ["x.example"]


def test_non_http_product_urls_are_rejected_without_a_request():
    s = spider()
    (row,) = list(s._take_product("ftp://shop.example.com/p/1", s.parse_product))
    assert (row["status"], row["reject_reason"]) == ("rejected", "unsupported scheme: ftp")
    (row,) = list(s._take_product("data:text/html,/p/2", s.parse_product))
    assert row["reject_reason"] == "unsupported scheme: data"
    assert s.open_products == set()


def test_sitemap_walk_caps():
    s = spider(max_sitemaps=3, max_sitemap_depth=2)
    sitemap = Request("https://shop.example.com/s.xml", callback=s._parse_sitemap)
    assert s._sitemap_request(sitemap, 3) is None and s.sitemaps_too_deep == 1
    taken = [s._sitemap_request(sitemap.replace(url=f"https://shop.example.com/s{i}.xml"), 1) for i in range(5)]
    assert [t is not None for t in taken] == [True, True, True, False, False]
    assert taken[0].meta["sitemap_depth"] == 1 and taken[0].errback == s.on_sitemap_error
    assert (s.sitemaps_requested, s.sitemaps_over_cap) == (3, 2)
    assert s._sitemap_request(sitemap.replace(url="file:///etc/sitemap.xml"), 1) is None
    assert s.sitemap_errors == ["file:///etc/sitemap.xml: unsupported scheme: file"]


def page(s: CatalogSpider, head: bytes = b"", headers: dict | None = None) -> HtmlResponse:
    url = "https://shop.example.com/p/1"
    return HtmlResponse(url, body=PAGE % head, headers=headers or {},
                        request=Request(url, meta={"product_url": url}))


@pytest.mark.parametrize("head, headers, reason", [
    (b'<meta name="robots" content="index, noimageai">', {}, "opt-out: meta robots noimageai"),
    (b'<meta name="ilid-ray" content="noai">', {}, "opt-out: meta robots noai"),
    (b'<meta name="otherbot" content="noai">', {}, None),
    (b'<meta name="tdm-reservation" content="1">', {}, "opt-out: tdm-reservation meta tag"),
    (b"", {"X-Robots-Tag": "noindex"}, "opt-out: X-Robots-Tag noindex"),
    (b"", {"X-Robots-Tag": "ilid-ray: noimageindex"}, "opt-out: X-Robots-Tag noimageindex"),
    (b"", {"X-Robots-Tag": "googlebot: noindex"}, None),
    (b"", {"tdm-reservation": "1"}, "opt-out: tdm-reservation header"),
])
def test_page_opt_outs_reject_before_reading(head, headers, reason):
    s = spider()
    s._take_product("https://shop.example.com/p/1", s.parse_product)
    (row,) = list(s._unless_opted_out(page(s, head, headers), s.parse_product))
    if reason:
        assert (row["status"], row["reject_reason"]) == ("rejected", reason)
    else:
        assert row["status"] == "ok"


def test_switched_off_opt_outs_are_not_honoured():
    off = OptOutSwitches(meta_robots=False, x_robots_tag=False, tdmrep=False)
    s = spider(SPEC.model_copy(update={"opt_outs": off}))
    response = page(s, b'<meta name="robots" content="noai"><meta name="tdm-reservation" content="1">',
                    {"X-Robots-Tag": "noai", "tdm-reservation": "1"})
    (row,) = list(s._unless_opted_out(response, s.parse_product))
    assert row["status"] == "ok"


def test_page_rights_reach_the_row():
    s = spider()
    (row,) = list(s.parse_product(page(s)))
    assert row["rights"] == "license: https://creativecommons.org/licenses/by/4.0/; copyright: Shop GmbH"


def test_the_trap_records_any_connection():
    """The raw TCP trap the scheme tests assert on does see a connection when one is made."""
    with TcpTrap() as trap:
        with socket.create_connection(("127.0.0.1", trap.port), timeout=2):
            pass
        for _ in range(100):
            if trap.connections:
                break
            __import__("time").sleep(0.02)
        assert len(trap.connections) == 1 and trap.connections[0][0] == "127.0.0.1"
