"""A fixture catalog: a deterministic web shop that knows what a correct crawl must find.

`FixtureCatalog` is pure: `respond(path)` maps a request path to a `Reply` without sockets, and
`expected` maps every product URL its sitemaps list to "ok" or the fault placed there, so tests
assert the outcome URL by URL. `CatalogServer` (server.py) puts catalogs on real ports.

Layout of one catalog (all generated on request, so thousands of products cost no memory):

    /robots.txt                      Disallow: /products/discontinued/ and /cart/, Sitemap: line
    /sitemap_index.xml               -> /sitemaps/pages.xml, /sitemaps/products-0.xml.gz,
                                        /sitemaps/nested-index.xml -> products-1.xml, products-2.xml.gz, ...
    /products/{slug}-{i}.html        product pages in the catalog's markup style
    /products/discontinued/...       product-looking pages robots.txt forbids (listed in the sitemap)
    /api/products/{i}.json           product data of the `custom` style
    /media/{i}/{slug}-{k}.{ext}      images (JPEG / PNG / WebP)
"""

from __future__ import annotations

import functools
import gzip
import math
import re
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import urlsplit

from ilid_ray.config import CatalogSpec, SelectorSpec
from ilid_ray.testing import images, pages
from ilid_ray.testing.products import Product, brand_for, catalog_rng, make_product

MARKUPS = ("jsonld", "microdata", "selectors", "custom", "mixed")
MIXED_STYLES = ("jsonld", "microdata", "selectors")
CUSTOM_SPIDER = "ilid_ray.crawl.custom.fixture_api:FixtureApiSpider"
FIXTURE_SELECTORS = SelectorSpec(
    title="h1.product-title::text",
    images="div.gallery img::attr(data-zoom)",
    text_blocks=["div.product-description p", "//ul[@class='features']/li"],
    attribute_rows="table.specs tr",
)
DISALLOWED_PREFIX = "/products/discontinued/"


@dataclass(frozen=True)
class Fault:
    stage: str  # the stage that must reject the page: "crawl" or "download"
    reason: str | None  # text the crawl's reject_reason contains (None: the downloader words it)
    what: str


FAULTS: dict[str, Fault] = {
    "http_404": Fault("crawl", "http 404", "a product URL in the sitemap answers 404"),
    "http_503": Fault("crawl", "http 503", "a product page always answers 503 (retried, then given up)"),
    "redirect_loop": Fault("crawl", "redirect loop", "a product page redirects to itself via ?loop=1"),
    "no_title": Fault("crawl", "no title", "a product page without any title"),
    "no_image": Fault("crawl", "no image", "a product page without any image"),
    "robots_disallowed": Fault("crawl", "robots.txt", "a sitemap URL under a robots.txt Disallow path"),
    "private_page": Fault("crawl", "blocked:", "a sitemap URL on the private listener (127.0.0.2)"),
    "image_404": Fault("download", None, "the only image URL answers 404"),
    "image_html": Fault("download", None, "an HTML page (text/html) behind the image URL"),
    "image_html_as_jpeg": Fault("download", None, "an HTML page served as image/jpeg"),
    "image_truncated": Fault("download", None, "a JPEG cut off after half its bytes"),
    "image_private": Fault("download", None, "the image URL points at the private listener"),
    "image_bomb": Fault("download", None, "a small PNG declaring 20000x20000 pixels"),
    "image_too_large": Fault("download", None, "an image larger than DownloadConfig.max_bytes"),
}
PRODUCT_FAULTS = ("http_404", "http_503", "redirect_loop", "no_title", "no_image", "image_404",
                  "image_html", "image_html_as_jpeg", "image_truncated", "image_private",
                  "image_bomb", "image_too_large")
FORCED_FORMAT = {"image_truncated": "jpeg", "image_too_large": "jpeg", "image_bomb": "png",
                 "image_html_as_jpeg": "jpeg", "image_html": "jpeg", "image_404": "jpeg"}


@dataclass
class Reply:
    status: int
    content_type: str = "text/html; charset=utf-8"
    body: bytes | Iterator[bytes] = b""
    length: int | None = None  # Content-Length when body is a stream
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/html; charset=utf-8") -> Reply:
        return cls(status, content_type, text.encode())


NOT_FOUND = Reply(404, body=b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>")


class FixtureCatalog:
    """One deterministic shop. `faults=True` places one of each PRODUCT_FAULTS on a product
    (positions from the seed) and adds a sitemap URL on the private listener; pages under the
    robots.txt Disallow path (`n_disallowed`) are always listed."""

    def __init__(self, name: str, n_products: int = 40, markup: str = "jsonld", seed: int = 0,
                 faults: bool = False, n_disallowed: int = 2, too_large_bytes: int = 30 * 1024 * 1024,
                 urls_per_sitemap: int = 500, image_cache_bytes: int = 32 * 1024 * 1024):
        if markup not in MARKUPS:
            raise ValueError(f"markup {markup!r}: choose one of {MARKUPS}")
        if faults and n_products < len(PRODUCT_FAULTS):
            raise ValueError(f"faults need at least {len(PRODUCT_FAULTS)} products, got {n_products}")
        self.name, self.n_products, self.markup, self.seed = name, n_products, markup, seed
        self.faults, self.n_disallowed, self.too_large_bytes = faults, n_disallowed, too_large_bytes
        self.urls_per_sitemap = urls_per_sitemap
        self.brand = brand_for(name, seed)
        self.fault_of: dict[int, str] = {}
        if faults:
            spots = catalog_rng(name, seed, "faults").sample(range(n_products), len(PRODUCT_FAULTS))
            self.fault_of = dict(zip(spots, PRODUCT_FAULTS))
        self.disallowed = range(n_products, n_products + n_disallowed)
        self.private_page = n_products + n_disallowed if faults else None
        self.base_url: str | None = None
        self.private_base_url: str | None = None
        self._images = images.ByteCache(image_cache_bytes)
        self.product = functools.lru_cache(maxsize=8192)(self._make_product)

    def __repr__(self) -> str:
        return f"FixtureCatalog({self.name!r}, n_products={self.n_products}, markup={self.markup!r})"

    # ------------------------------------------------------------------ identity
    def bind(self, base_url: str, private_base_url: str) -> None:
        """Called by the server once the ports are known."""
        self.base_url, self.private_base_url = base_url.rstrip("/"), private_base_url.rstrip("/")

    def _base(self) -> str:
        if self.base_url is None:
            raise RuntimeError(f"{self!r} is not served yet: start a CatalogServer first")
        return self.base_url

    def _make_product(self, index: int) -> Product:
        """Product `index` (use `product(index)`, which caches it)."""
        return make_product(self.name, self.seed, index)

    def style(self, index: int) -> str:
        return MIXED_STYLES[index % 3] if self.markup == "mixed" else self.markup

    def page_path(self, index: int) -> str:
        prefix = DISALLOWED_PREFIX if index in self.disallowed else "/products/"
        return f"{prefix}{self.product(index).slug}.html"

    def page_url(self, index: int) -> str:
        base = self.private_base_url if index == self.private_page else self._base()
        return base + self.page_path(index)

    def n_images(self, index: int) -> int:
        fault = self.fault_of.get(index)
        if fault == "no_image":
            return 0
        if fault and fault.startswith("image_"):
            return 1
        return catalog_rng(self.name, self.seed, "n_images", index).choice((1, 1, 2, 3))

    def image_spec(self, index: int, k: int) -> images.ImageSpec:
        spec = images.image_spec(self.product(index), self.seed, k)
        forced = FORCED_FORMAT.get(self.fault_of.get(index, ""))
        if forced and forced != spec.fmt:
            spec = images.ImageSpec(spec.width, spec.height, forced)
        return spec

    def image_path(self, index: int, k: int) -> str:
        return f"/media/{index}/{self.product(index).slug}-{k}.{self.image_spec(index, k).ext}"

    def image_urls(self, index: int) -> list[str]:
        base = self.private_base_url if self.fault_of.get(index) == "image_private" else self._base()
        return [base + self.image_path(index, k) for k in range(self.n_images(index))]

    # ------------------------------------------------------------------ what a crawl must find
    def sitemap_indices(self) -> list[int]:
        extra = [*self.disallowed, *([self.private_page] if self.private_page is not None else [])]
        return [*range(self.n_products), *extra]

    @property
    def expected(self) -> dict[str, str]:
        """Every product URL the sitemaps list -> "ok" or its fault kind (a FAULTS key)."""
        out: dict[str, str] = {}
        for index in self.sitemap_indices():
            if index in self.disallowed:
                kind = "robots_disallowed"
            elif index == self.private_page:
                kind = "private_page"
            else:
                kind = self.fault_of.get(index, "ok")
            out[self.page_url(index)] = kind
        return out

    @property
    def expected_images(self) -> dict[str, str]:
        """Image URL -> "ok" or its image fault kind, for every page the crawl accepts."""
        out: dict[str, str] = {}
        for index in range(self.n_products):
            kind = self.fault_of.get(index, "ok")
            if kind == "ok" or kind.startswith("image_"):
                out.update((url, kind) for url in self.image_urls(index))
        return out

    def expected_crawl_reason(self, url: str) -> str | None:
        """None if the crawl must accept the page, else text its reject_reason contains."""
        fault = FAULTS.get(self.expected[url])
        return fault.reason if fault and fault.stage == "crawl" else None

    def crawl_mismatches(self, rows: list[dict]) -> list[str]:
        """How raw crawl rows differ from what this catalog expects; [] when the crawl is right.

        Every listed URL needs exactly one row: accepted pages with the product's title, image URLs
        and material/finish rows; fault pages rejected at stage "crawl" with the expected reason.
        """
        problems: list[str] = []
        by_url: dict[str, dict] = {}
        for row in rows:
            if row["url"] in by_url:
                problems.append(f"{row['url']}: more than one row")
            by_url[row["url"]] = row
        for url, kind in self.expected.items():
            row = by_url.pop(url, None)
            reason = self.expected_crawl_reason(url)
            if row is None:
                problems.append(f"{url} ({kind}): no row")
            elif reason is not None:
                if row["status"] != "rejected" or row["reject_stage"] != "crawl" or reason not in (
                        row["reject_reason"] or ""):
                    problems.append(f"{url} ({kind}): expected a crawl reject with {reason!r}, got "
                                    f"{row['status']} {row['reject_stage']} {row['reject_reason']!r}")
            elif row["status"] != "ok":
                problems.append(f"{url} ({kind}): rejected {row['reject_reason']!r}")
            else:
                product = self.product_at(url)
                index = product.index if product else -1
                wanted = [f"Finish: {product.finish}", f"Material: {product.material_spec}"] if product else []
                if product is None or row["label"] != product.title:
                    problems.append(f"{url}: label {row['label']!r}")
                if row["image_urls"] != self.image_urls(index):
                    problems.append(f"{url}: image_urls {row['image_urls']}")
                if any(w not in row["data"] for w in wanted) or not set(product.description) <= set(row["data"]):
                    problems.append(f"{url}: data {row['data']}")
        problems += [f"{url}: a row for a URL no sitemap lists" for url in by_url]
        return problems

    def product_at(self, url: str) -> Product | None:
        """Ground truth of a product page URL (family, material, finish, title, ...)."""
        match = re.search(r"-(\d+)\.html$", urlsplit(url).path)
        return self.product(int(match.group(1))) if match else None

    def spec(self) -> CatalogSpec:
        base = self._base()
        reader = {"selectors": "selectors", "custom": "custom"}.get(self.markup, "structured")
        return CatalogSpec(
            name=self.name, start_urls=[f"{base}/robots.txt"],
            # 127.0.0.2 is listed like a shop subdomain that resolves to a private address: the
            # offsite filter lets it through, so the address guard is what must stop it.
            allowed_domains=["127.0.0.1", "127.0.0.2"],
            product_url_pattern=r"/products/", trade_names=self.brand.regex(), reader=reader,
            selectors=FIXTURE_SELECTORS if self.markup in ("selectors", "mixed") else None,
            spider=CUSTOM_SPIDER if self.markup == "custom" else None,
        )

    # ------------------------------------------------------------------ sitemaps
    def _chunks(self) -> list[list[int]]:
        indices = self.sitemap_indices()
        count = max(3, math.ceil(len(indices) / self.urls_per_sitemap))
        return [indices[c::count] for c in range(count)]

    @staticmethod
    def _chunk_name(c: int) -> str:
        return f"products-{c}.xml" + (".gz" if c % 2 == 0 else "")

    def _sitemap(self, path: str) -> Reply | None:
        base = self._base()
        if path == "/sitemap_index.xml":
            locs = [f"{base}/sitemaps/pages.xml", f"{base}/sitemaps/{self._chunk_name(0)}",
                    f"{base}/sitemaps/nested-index.xml"]
            return Reply.text(200, pages.sitemap_index(locs), "application/xml")
        if path == "/sitemaps/nested-index.xml":
            locs = [f"{base}/sitemaps/{self._chunk_name(c)}" for c in range(1, len(self._chunks()))]
            return Reply.text(200, pages.sitemap_index(locs), "application/xml")
        if path == "/sitemaps/pages.xml":
            families = sorted({self.product(i).family for i in range(min(self.n_products, 50))})
            locs = [f"{base}/", f"{base}/about.html", *(f"{base}/category/{f.replace(' ', '-')}.html"
                                                        for f in families)]
            return Reply.text(200, pages.urlset(locs), "application/xml")
        match = re.fullmatch(r"/sitemaps/(products-(\d+)\.xml(?:\.gz)?)", path)
        chunks = self._chunks()
        if not match or int(match.group(2)) >= len(chunks) or match.group(1) != self._chunk_name(int(match.group(2))):
            return None
        xml = pages.urlset([self.page_url(i) for i in chunks[int(match.group(2))]]).encode()
        if path.endswith(".gz"):
            return Reply(200, "application/x-gzip", gzip.compress(xml, mtime=0))
        return Reply(200, "application/xml", xml)

    # ------------------------------------------------------------------ routing
    def respond(self, target: str) -> Reply:
        """The reply to a GET of `target` (path with optional query)."""
        parts = urlsplit(target)
        path, query = parts.path, parts.query
        if path == "/robots.txt":
            text = pages.robots_txt(f"{self._base()}/sitemap_index.xml", [DISALLOWED_PREFIX, "/cart/"])
            return Reply.text(200, text, "text/plain; charset=utf-8")
        if path.startswith("/sitemap"):
            return self._sitemap(path) or NOT_FOUND
        if path in ("/", "/about.html", "/cart/") or path.startswith("/category/"):
            return Reply.text(200, pages.info_page(self.brand, f"{self.brand.name} standard parts", (
                "Standard machine elements from stock: hinges, clamps, knobs, bearings and profiles.",
                "Delivery within 24 hours for all stock items."), ["/sitemap_index.xml"]))
        if match := re.fullmatch(r"/products/(?:discontinued/)?[a-z0-9-]+-(\d+)\.html", path):
            index = int(match.group(1))
            if self._valid(index) and self.page_path(index) == path:
                return self._product_page(index, query)
        if match := re.fullmatch(r"/api/products/(\d+)\.json", path):
            index = int(match.group(1))
            if self._valid(index) and self.style(index) == "custom":
                return Reply(200, "application/json", pages.custom_api(
                    self.product(index), self.image_urls(index), self.fault_of.get(index) != "no_title"))
        if match := re.fullmatch(r"/media/(\d+)/[a-z0-9-]+-(\d+)\.(jpg|png|webp)", path):
            index, k = int(match.group(1)), int(match.group(2))
            if self._valid(index) and k < self.n_images(index) and self.image_path(index, k) == path:
                return self._image(index, k)
        return NOT_FOUND

    def _valid(self, index: int) -> bool:
        return 0 <= index < self.n_products + self.n_disallowed + (1 if self.faults else 0)

    def _product_page(self, index: int, query: str) -> Reply:
        fault = self.fault_of.get(index)
        if fault == "http_404":
            return NOT_FOUND
        if fault == "http_503":
            return Reply(503, body=b"<html><body>Service temporarily unavailable</body></html>",
                         headers={"Retry-After": "0"})
        if fault == "redirect_loop":
            target = self.page_path(index) + ("" if query else "?loop=1")
            return Reply(302, body=b"", headers={"Location": target})
        product, brand = self.product(index), self.brand
        related = [self._base() + self.image_path(j % self.n_products, 0) for j in (index + 1, index + 2)
                   if self.n_images(j % self.n_products)]
        style = self.style(index)
        if style == "custom":
            return Reply.text(200, pages.custom_shell(product, brand, f"/api/products/{index}.json", related))
        render = {"jsonld": pages.jsonld_page, "microdata": pages.microdata_page,
                  "selectors": pages.selectors_page}[style]
        return Reply.text(200, render(product, brand, self.image_urls(index), related, fault != "no_title"))

    def _image(self, index: int, k: int) -> Reply:
        fault = self.fault_of.get(index)
        spec = self.image_spec(index, k)
        if fault == "image_404":
            return NOT_FOUND
        if fault in ("image_html", "image_html_as_jpeg"):
            kind = "text/html; charset=utf-8" if fault == "image_html" else "image/jpeg"
            return Reply(200, kind, pages.not_an_image_page())
        if fault == "image_bomb":
            return Reply(200, "image/png", self._images.get_or_make("bomb", images.bomb_png))
        data = self._images.get_or_make(
            (index, k), lambda: images.render(self.product(index), spec, self.seed, k))
        if fault == "image_truncated":
            return Reply(200, spec.content_type, images.truncated(data))
        if fault == "image_too_large":
            return Reply(200, spec.content_type, images.oversized_stream(data, self.too_large_bytes),
                         length=max(self.too_large_bytes, len(data)))
        return Reply(200, spec.content_type, data)
