"""A fixture shop whose products sit under a non-obvious URL pattern (for `ilid catalog probe`).

Nothing says "product": pages live at /sortiment/{family}/{title}-p{i}/, next to the category
pages /sortiment/{family}/ (same prefix), magazine articles /magazin/{year}/{slug}/ and service
pages, and the sitemaps that list them mix products with categories:

    /robots.txt                     Disallow: /sortiment/auslauf/ and /checkout/, Sitemap: /sitemap.xml
    /sitemap.xml                    -> /sitemap/cms.xml (service + magazine pages),
                                       /sitemap/sortiment-1.xml.gz, /sitemap/sortiment-2.xml, ...
    /sortiment/auslauf/...-p{i}/    discontinued products robots.txt forbids (listed)

Product pages, images, faults and ground truth are the FixtureCatalog's; only paths differ.
"""

from __future__ import annotations

import gzip
import re
from urllib.parse import urlsplit

from ilid_ray.config import CatalogSpec
from ilid_ray.testing import pages
from ilid_ray.testing.catalog import NOT_FOUND, FixtureCatalog, Reply
from ilid_ray.testing.products import Product

ODD_DISALLOWED_PREFIX = "/sortiment/auslauf/"
ODD_PRODUCT_PATTERN = r"^https?://[^/]+/sortiment/[^/]+/[^/]*-p\d+/$"
ARTICLES = ("why-stainless-steel-in-food-plants", "choosing-a-toggle-clamp", "hinges-for-heavy-doors",
            "levelling-feet-explained", "bearing-maintenance", "guide-to-surface-finishes")


def _family_slug(product: Product) -> str:
    return product.family.replace(" ", "-")


class OddPathCatalog(FixtureCatalog):
    """FixtureCatalog with the odd layout above (any markup, faults as usual)."""

    def page_path(self, index: int) -> str:
        product = self.product(index)
        folder = "auslauf" if index in self.disallowed else _family_slug(product)
        return f"/sortiment/{folder}/{product.slug.rsplit('-', 1)[0]}-p{index}/"

    def product_at(self, url: str) -> Product | None:
        match = re.search(r"-p(\d+)/$", urlsplit(url).path)
        return self.product(int(match.group(1))) if match else None

    def category_paths(self) -> list[str]:
        families = sorted({_family_slug(self.product(i)) for i in range(min(self.n_products, 50))})
        return [f"/sortiment/{f}/" for f in families]

    def cms_paths(self) -> list[str]:
        articles = [f"/magazin/{2025 + i % 2}/{slug}/" for i, slug in enumerate(ARTICLES)]
        return ["/", "/service/kontakt/", "/service/versand/", *articles]

    def spec(self) -> CatalogSpec:
        """The spec a person would write for this shop."""
        return super().spec().model_copy(update={"product_url_pattern": ODD_PRODUCT_PATTERN})

    def _sitemap(self, path: str) -> Reply | None:
        base = self._base()
        chunks = self._chunks()
        if path == "/sitemap.xml":
            locs = [f"{base}/sitemap/cms.xml",
                    *(f"{base}/sitemap/sortiment-{c + 1}.xml{'.gz' if c % 2 == 0 else ''}" for c in range(len(chunks)))]
            return Reply.text(200, pages.sitemap_index(locs), "application/xml")
        if path == "/sitemap/cms.xml":
            return Reply.text(200, pages.urlset([base + p for p in self.cms_paths()]), "application/xml")
        match = re.fullmatch(r"/sitemap/sortiment-(\d+)\.xml(\.gz)?", path)
        if not match or not 1 <= int(match.group(1)) <= len(chunks) or bool(match.group(2)) != (int(match.group(1)) % 2 == 1):
            return None
        c = int(match.group(1)) - 1
        categories = [base + p for p in self.category_paths()][c::len(chunks)]
        xml = pages.urlset([*categories, *(self.page_url(i) for i in chunks[c])]).encode()
        if match.group(2):
            return Reply(200, "application/x-gzip", gzip.compress(xml, mtime=0))
        return Reply(200, "application/xml", xml)

    def respond(self, target: str) -> Reply:
        parts = urlsplit(target)
        path = parts.path
        if path == "/robots.txt":
            text = pages.robots_txt(f"{self._base()}/sitemap.xml", [ODD_DISALLOWED_PREFIX, "/checkout/"])
            return Reply.text(200, text, "text/plain; charset=utf-8")
        if path.startswith("/sitemap"):
            return self._sitemap(path) or NOT_FOUND
        if match := re.fullmatch(r"/sortiment/[a-z0-9-]+/[a-z0-9-]+-p(\d+)/", path):
            index = int(match.group(1))
            if self._valid(index) and self.page_path(index) == path:
                return self._product_page(index, parts.query)
            return NOT_FOUND
        if path in self.cms_paths() or path in self.category_paths() or path == "/checkout/":
            return Reply.text(200, pages.info_page(self.brand, f"{self.brand.name}: {path.strip('/') or 'home'}", (
                "Standard machine elements from stock.", "Delivery within 24 hours for all stock items.")))
        if path.startswith(("/products/", "/category/", "/about.html")):
            return NOT_FOUND  # the standard layout does not exist here
        return super().respond(target)
