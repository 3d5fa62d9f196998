"""Custom spider for the fixture catalog's `custom` style: a single-page-app shell whose product
data comes from a JSON endpoint (`data-product-api`), the typical case no generic reader covers.
It doubles as the template for a real shop's custom spider: override `parse_product`, follow what
the page needs, and end every product URL in one `product_row`.
"""

from __future__ import annotations

import json

from ilid_ray.catalogs.record import ProductRecord
from ilid_ray.catalogs.text import absolute_image_urls, blocks_from_text, dedupe, squash
from ilid_ray.crawl.spider import CatalogSpider


def record_from_api(payload: dict, base: str) -> ProductRecord:
    """The fixture API's JSON -> ProductRecord (title, image media, description, bullets, specs)."""
    media = [m.get("src", "") for m in payload.get("media", []) if isinstance(m, dict) and m.get("kind") == "image"]
    specs = [f"{s['label']}: {s['value']}" for s in payload.get("specs", [])
             if isinstance(s, dict) and s.get("label") and s.get("value")]
    data = [*blocks_from_text(payload.get("description_html") or ""),
            *(squash(str(b)) for b in payload.get("bullets", [])), *specs]
    return ProductRecord(label=squash(str(payload.get("title") or "")) or None,
                         image_urls=absolute_image_urls(media, base), data=dedupe(data), found_by="custom")


class FixtureApiSpider(CatalogSpider):
    def parse_product(self, response):
        url = response.meta.get("product_url", response.url)
        api = response.css("#product-app::attr(data-product-api)").get() if hasattr(response, "css") else None
        if not api:  # not the app shell: read it like any other page
            yield from super().parse_product(response)
            return
        # dont_filter skips only the duplicate filter: the guard still holds the request to http(s)
        # on allowed_domains, so a page cannot point the spider anywhere else
        yield response.follow(api, callback=self.parse_api, errback=self.on_product_error,
                              dont_filter=True, meta={"product_url": url})

    def parse_api(self, response):
        url = response.meta["product_url"]
        try:
            payload = json.loads(response.body)
        except ValueError as exc:
            yield self.product_row(url, reason=f"bad product JSON: {exc}")
            return
        if not isinstance(payload, dict):
            yield self.product_row(url, reason="bad product JSON: not an object")
            return
        yield self.product_row(url, record_from_api(payload, response.url))
