"""`read_product`: one product page -> ProductRecord, the way its catalog spec says.

reader=structured: schema.org JSON-LD / microdata / RDFa / OpenGraph, falling back to the spec's
selectors when the page has no structured product, then (unless `heuristic_fallback: false`) to
the generic heuristic reader, which also fills a structured record's missing title or image.
reader=selectors: the selectors only. reader=heuristic: the generic reader only (shops without
any markup). reader=custom: the spec's spider does its own reading and
may call this as a fallback (it then behaves like structured). Whichever reader found the
product, the page's spec tables and definition lists are added to `data`. Pure over HTML text,
so every case tests without a network.
"""

from __future__ import annotations

from parsel import Selector

from ilid_ray.catalogs.heuristic import is_site_image, read_heuristic
from ilid_ray.catalogs.page_parts import attribute_rows
from ilid_ray.catalogs.record import ProductRecord
from ilid_ray.catalogs.selectors import read_with_selectors
from ilid_ray.catalogs.structured import page_licence, read_structured, rights_text
from ilid_ray.catalogs.text import base_url, dedupe
from ilid_ray.config import CatalogSpec


def with_heuristic(record: ProductRecord | None, selector: Selector, base: str) -> ProductRecord | None:
    """The generic reader where `record` is missing, or fills its missing title / image (a record
    whose only images are logos or icons counts as without image)."""
    has_images = record is not None and any(not is_site_image(u) for u in record.image_urls)
    if record is not None and record.label and has_images and record.found_by != "opengraph":
        return record
    guess = read_heuristic(selector, base)
    if record is None:
        return guess if guess.label or guess.image_urls else None  # nothing at all: "no product markup"
    if record.found_by == "opengraph" and record.label and guess.label and guess.label != record.label \
            and guess.label.lower() in record.label.lower():
        record.label = guess.label  # og:title often carries the shop's name: the heading does not
    filled = False
    if not record.label and guess.label:
        record.label, filled = guess.label, True
    if not has_images and guess.image_urls:
        record.image_urls, filled = guess.image_urls, True
    if filled:
        record.found_by = f"{record.found_by}+heuristic"
    return record


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
        record = read_with_selectors(selector, base, spec.selectors)
    elif spec.reader == "heuristic":
        record = with_heuristic(None, selector, base)
    else:
        record = read_structured(selector, base)
        if record is None and spec.selectors is not None:
            record = read_with_selectors(selector, base, spec.selectors)
        if spec.heuristic_fallback:
            record = with_heuristic(record, selector, base)
    if record is None:
        return ProductRecord()
    record.data = dedupe([*record.data, *attribute_rows(selector)])
    record.rights = record.rights or rights_text(page_licence(selector, base), None)
    return record
