"""CatalogSpider bookkeeping without a network: which product URLs it takes on, and how every
one of them ends in a row (including callbacks that raise)."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, Response
from twisted.python.failure import Failure

from ilid_ray.config import CatalogSpec, CrawlConfig
from ilid_ray.crawl.spider import CatalogSpider, spider_class

SPEC = CatalogSpec(name="shop", start_urls=["https://shop.example.com/robots.txt"],
                   allowed_domains=["shop.example.com"], product_url_pattern=r"/p/", max_pages=3)


def spider() -> CatalogSpider:
    return CatalogSpider(catalog=SPEC, crawl=CrawlConfig())


def product_request(url: str) -> Request:
    return Request(url, meta={"product_url": url})


def take(s: CatalogSpider, url: str) -> list:
    return list(s._take_product(url, s.parse_product))


def test_duplicates_cap_and_offsite():
    s = spider()
    (request,) = take(s, "https://shop.example.com/p/1")
    assert isinstance(request, Request) and request.dont_filter and request.errback == s.on_product_error
    assert take(s, "https://shop.example.com/p/1") == [] and s.duplicates == 1
    (offsite,) = take(s, "https://evil.example.org/p/2")
    assert offsite["status"] == "rejected" and offsite["reject_reason"].startswith("offsite")
    assert len(take(s, "https://img.shop.example.com:8443/p/3")) == 1  # subdomain, port ignored
    assert take(s, "https://shop.example.com/p/4") == [] and s.over_cap == 1
    assert list(s.product_urls) == ["https://shop.example.com/p/1", "https://evil.example.org/p/2",
                                    "https://img.shop.example.com:8443/p/3"]


def test_every_taken_url_ends_in_one_row():
    s = spider()
    take(s, "https://shop.example.com/p/1")
    take(s, "https://shop.example.com/p/2")
    take(s, "https://shop.example.com/p/3")
    page = HtmlResponse("https://shop.example.com/p/1", body=b"<html><p>nothing</p></html>",
                        request=product_request("https://shop.example.com/p/1"))
    (row,) = list(s.parse_product(page))
    assert (row["status"], row["reject_reason"]) == ("rejected", "no product markup")
    broken = Response("https://shop.example.com/p/2",
                      request=product_request("https://shop.example.com/p/2"))
    s._on_spider_error(Failure(KeyError("price")), broken)
    rows = {r["url"]: r["reject_reason"] for r in s.unfinished_rows("finished")}
    assert rows == {"https://shop.example.com/p/2": "spider error: KeyError: 'price'",
                    "https://shop.example.com/p/3": "not crawled: crawl ended (finished)"}
    assert s.open_products == set()


def test_non_html_product_response_is_rejected():
    s = spider()
    image = Response("https://shop.example.com/p/9", headers={"Content-Type": "image/jpeg"}, body=b"\xff\xd8",
                     request=Request("https://shop.example.com/p/9"))
    (row,) = list(s.parse_product(image))
    assert row["reject_reason"] == "not an HTML page (image/jpeg)"


def test_spider_class_loading():
    assert spider_class(SPEC) is CatalogSpider
    custom = SPEC.model_copy(update={"reader": "custom",
                                     "spider": "ilid_ray.crawl.custom.fixture_api:FixtureApiSpider"})
    assert spider_class(custom).__name__ == "FixtureApiSpider"
    for bad in ("ilid_ray.crawl.custom.fixture_api:Nope", "no.such.module:Spider", "ilid_ray.crawl.spider:now_iso"):
        with pytest.raises(ValueError, match="catalog 'shop'"):
            spider_class(SPEC.model_copy(update={"reader": "custom", "spider": bad}))
