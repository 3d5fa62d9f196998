"""The real-markup corpus: product pages written like live shops write them, with a truth table.

Every shop-system template (`TEMPLATES`) renders `pages_per_template` products of the fixture
vocabulary, so the corpus holds ~28 kinds of markup x 3 products. `ShopCorpus` serves it like a
`FixtureCatalog` (robots.txt, one sitemap, the pages, the images) and `truth` says, per page URL,
the title, main image and material a reader must find.

    with CatalogServer([ShopCorpus()]) as server:   # CatalogServer takes any such catalog
        spec = server.spec("shops")
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from ilid_ray.config import CatalogSpec
from ilid_ray.testing import images, pages
from ilid_ray.testing.catalog import NOT_FOUND, Reply
from ilid_ray.testing.products import Product, brand_for, make_product
from ilid_ray.testing.shops import enterprise, marketplaces, platforms
from ilid_ray.testing.shops.html import Page

TEMPLATES: dict[str, tuple[Callable[[Page], str], ...]] = {
    **platforms.TEMPLATES, **enterprise.TEMPLATES, **marketplaces.TEMPLATES}
KINDS = [(system, template) for system, templates in TEMPLATES.items() for template in templates]


@dataclass(frozen=True)
class Truth:
    """What a correct reading of one corpus page finds."""

    system: str  # shop system the markup imitates
    template: str  # template function name (the quirk)
    title: str
    image: str  # absolute URL of the main product image
    material: str  # the material text (a data row must contain it)


class ShopCorpus:
    """The corpus as a servable catalog (duck-types FixtureCatalog for CatalogServer)."""

    def __init__(self, name: str = "shops", pages_per_template: int = 3, seed: int = 0,
                 image_cache_bytes: int = 16 * 1024 * 1024):
        self.name, self.seed = name, seed
        self.brand = brand_for(name, seed)
        self.n_pages = len(KINDS) * pages_per_template
        self.base_url: str | None = None
        self._images = images.ByteCache(image_cache_bytes)
        self.product = functools.lru_cache(maxsize=1024)(self._make_product)

    def __repr__(self) -> str:
        return f"ShopCorpus({self.name!r}, {self.n_pages} pages)"

    def bind(self, base_url: str, private_base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _base(self) -> str:
        if self.base_url is None:
            raise RuntimeError(f"{self!r} is not served yet: start a CatalogServer first, or bind() a base URL")
        return self.base_url

    # ------------------------------------------------------------------ pages and truth
    def _make_product(self, index: int) -> Product:
        """Product `index` (use `product(index)`, which caches it)."""
        return make_product(self.name, self.seed, index)

    def kind(self, index: int) -> tuple[str, Callable[[Page], str]]:
        return KINDS[index % len(KINDS)]

    def page_path(self, index: int) -> str:
        return f"/products/{self.product(index).slug}.html"

    def page_url(self, index: int) -> str:
        return self._base() + self.page_path(index)

    def image_urls(self, index: int) -> list[str]:
        count = 1 + index % 3
        return [f"{self._base()}/media/{index}/{self.product(index).slug}-{k}.{self._spec(index, k).ext}"
                for k in range(count)]

    def _spec(self, index: int, k: int) -> images.ImageSpec:
        return images.image_spec(self.product(index), self.seed, k)

    def page(self, index: int) -> Page:
        related = [self.image_urls((index + j) % self.n_pages)[0] for j in (1, 2)]
        return Page(self.product(index), self.brand, tuple(self.image_urls(index)), tuple(related),
                    self._base(), self.page_url(index))

    def html(self, index: int) -> str:
        return self.kind(index)[1](self.page(index))

    @property
    def truth(self) -> dict[str, Truth]:
        """Page URL -> what a reader must find there."""
        out = {}
        for index in range(self.n_pages):
            system, template = self.kind(index)
            product = self.product(index)
            out[self.page_url(index)] = Truth(system, template.__name__, product.title,
                                              self.image_urls(index)[0], product.material_spec)
        return out

    def spec(self) -> CatalogSpec:
        return CatalogSpec(name=self.name, start_urls=[f"{self._base()}/robots.txt"], allowed_domains=["127.0.0.1"],
                           product_url_pattern=r"/products/", trade_names=self.brand.regex())

    # ------------------------------------------------------------------ routing
    def respond(self, target: str) -> Reply:
        path = urlsplit(target).path
        if path == "/robots.txt":
            return Reply.text(200, pages.robots_txt(f"{self._base()}/sitemap.xml", ["/cart/"]), "text/plain")
        if path == "/sitemap.xml":
            urls = [self.page_url(i) for i in range(self.n_pages)]
            return Reply.text(200, pages.urlset(urls), "application/xml")
        if match := re.fullmatch(r"/products/[a-z0-9-]+-(\d+)\.html", path):
            index = int(match.group(1))
            if index < self.n_pages and self.page_path(index) == path:
                return Reply.text(200, self.html(index))
        if match := re.fullmatch(r"/media/(\d+)/[a-z0-9-]+-(\d+)(?:_\w+)?\.(jpg|png|webp)", path):
            index, k = int(match.group(1)), int(match.group(2))
            if index < self.n_pages:
                spec = self._spec(index, k)
                data = self._images.get_or_make(
                    (index, k), lambda: images.render(self.product(index), spec, self.seed, k))
                return Reply(200, spec.content_type, data)
        return NOT_FOUND
