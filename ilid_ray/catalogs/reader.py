"""`read_product`: one product page -> ProductRecord, the way its catalog spec says.

reader=structured: schema.org JSON-LD / microdata / OpenGraph, falling back to the spec's
selectors when the page has no structured product. reader=selectors: the selectors only.
reader=custom: the spec's spider does its own reading and may call this as a fallback (it then
behaves like structured). Pure over HTML text, so every case tests without a network.
"""

from __future__ import annotations

from parsel import Selector

from ilid_ray.catalogs.record import ProductRecord
from ilid_ray.catalogs.selectors import read_with_selectors
from ilid_ray.catalogs.structured import read_structured
from ilid_ray.catalogs.text import base_url
from ilid_ray.config import CatalogSpec


def read_product(page, spec: CatalogSpec, url: str | None = None) -> ProductRecord:
    """`page`: a Scrapy TextResponse, a parsel Selector or HTML text; `url` is required unless
    `page` is a response. The record's `problem()` says why it cannot be used, if it cannot."""
    if isinstance(page, str):
        selector = Selector(text=page)
    elif isinstance(page, Selector):
        selector = page
    else:  # a Scrapy TextResponse
        selector, url = page.selector, url or page.url
    if url is None:
        raise ValueError("read_product needs the page URL to resolve relative links")
    base = base_url(selector, url)
    if spec.reader == "selectors":
        assert spec.selectors is not None  # guaranteed by CatalogSpec validation
        return read_with_selectors(selector, base, spec.selectors)
    record = read_structured(selector, base)
    if record is None and spec.selectors is not None:
        record = read_with_selectors(selector, base, spec.selectors)
    return record or ProductRecord()
