"""FixtureCatalog routing (pure) and CatalogServer (real sockets)."""

from __future__ import annotations

import gzip
import io
import json
import re
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from PIL import Image

from ilid_ray.config import load_catalog_specs
from ilid_ray.testing.catalog import FAULTS, PRODUCT_FAULTS, FixtureCatalog
from ilid_ray.testing.commands import catalog as catalog_cli
from ilid_ray.testing.server import CatalogServer


def bound(catalog: FixtureCatalog) -> FixtureCatalog:
    catalog.bind("http://127.0.0.1:1", "http://127.0.0.2:2")
    return catalog


def body(catalog: FixtureCatalog, url: str) -> bytes:
    reply = catalog.respond(urlsplit(url).path + (f"?{urlsplit(url).query}" if urlsplit(url).query else ""))
    assert reply.status == 200, url
    return reply.body if isinstance(reply.body, bytes) else b"".join(reply.body)


def sitemap_locs(catalog: FixtureCatalog, url: str) -> list[str]:
    data = body(catalog, url)
    if url.endswith(".gz"):
        data = gzip.decompress(data)
    return re.findall(r"<loc>([^<]+)</loc>", data.decode())


def test_sitemap_tree_lists_exactly_the_expected_urls():
    catalog = bound(FixtureCatalog("acme", n_products=30, markup="mixed", faults=True))
    robots = body(catalog, "http://127.0.0.1:1/robots.txt").decode()
    assert "Disallow: /products/discontinued/" in robots
    (root,) = re.findall(r"^Sitemap: (\S+)$", robots, re.M)
    found, queue, kinds = [], [root], set()
    while queue:
        url = queue.pop()
        kinds.add("gz" if url.endswith(".gz") else "xml")
        for loc in sitemap_locs(catalog, url):
            (queue if "/sitemaps/" in loc else found).append(loc)
    products = sorted(u for u in found if "/products/" in u)
    assert products == sorted(catalog.expected)
    assert kinds == {"gz", "xml"}
    assert body(catalog, "http://127.0.0.1:1/sitemaps/nested-index.xml").count(b"<sitemap>") >= 2


def test_faults_are_placed_and_described():
    catalog = bound(FixtureCatalog("acme", n_products=20, faults=True))
    kinds = list(catalog.expected.values())
    assert set(kinds) == set(FAULTS) | {"ok"}
    assert all(kinds.count(k) == 1 for k in PRODUCT_FAULTS)
    assert kinds.count("robots_disallowed") == 2
    private = [u for u, k in catalog.expected.items() if k == "private_page"]
    assert private and private[0].startswith("http://127.0.0.2:2/")
    images = catalog.expected_images
    assert {k for k in images.values() if k != "ok"} == {k for k in PRODUCT_FAULTS if k.startswith("image_")}
    assert all(u.startswith("http://127.0.0.2:2/") == (k == "image_private") for u, k in images.items())
    clean = bound(FixtureCatalog("acme", n_products=20))
    assert set(clean.expected.values()) == {"ok", "robots_disallowed"}
    with pytest.raises(ValueError):
        FixtureCatalog("tiny", n_products=5, faults=True)


def test_fault_pages_answer_as_described():
    catalog = bound(FixtureCatalog("acme", n_products=20, faults=True))
    at = {kind: index for index, kind in catalog.fault_of.items()}
    path = catalog.page_path
    assert catalog.respond(path(at["http_404"])).status == 404
    assert catalog.respond(path(at["http_503"])).status == 503
    first = catalog.respond(path(at["redirect_loop"]))
    second = catalog.respond(first.headers["Location"])
    assert first.status == second.status == 302 and second.headers["Location"] == path(at["redirect_loop"])
    assert b"<title>" not in catalog.respond(path(at["no_title"])).body
    assert catalog.image_urls(at["no_image"]) == []
    assert catalog.image_urls(at["image_private"])[0].startswith("http://127.0.0.2:2/")

    def image(kind):
        (url,) = catalog.image_urls(at[kind])
        return catalog.respond(urlsplit(url).path)

    assert image("image_404").status == 404
    assert image("image_html").content_type.startswith("text/html")
    lying = image("image_html_as_jpeg")
    assert lying.content_type == "image/jpeg" and lying.body.startswith(b"<!DOCTYPE html>")
    with pytest.raises(OSError):
        Image.open(io.BytesIO(image("image_truncated").body)).load()
    assert image("image_bomb").body.startswith(b"\x89PNG")
    assert image("image_too_large").length == catalog.too_large_bytes


def test_every_page_and_image_url_is_served():
    catalog = bound(FixtureCatalog("acme", n_products=12, markup="custom"))
    for index in range(12):
        page = body(catalog, catalog.page_url(index)).decode()
        assert f'data-product-api="/api/products/{index}.json"' in page
        api = json.loads(body(catalog, f"http://127.0.0.1:1/api/products/{index}.json"))
        assert api["title"] == catalog.product(index).title
        assert [m["src"] for m in api["media"]] == catalog.image_urls(index)
        for url in catalog.image_urls(index):
            assert Image.open(io.BytesIO(body(catalog, url))).size
    assert catalog.respond("/products/not-a-product-99.html").status == 404
    assert catalog.respond("/media/0/wrong-slug-0.jpg").status == 404


def test_server_serves_logs_and_stops():
    catalogs = [FixtureCatalog("one", n_products=12), FixtureCatalog("two", n_products=12, markup="selectors")]
    with CatalogServer(catalogs) as server:
        one, two = server.base_url("one"), server.base_url("two")
        assert one != two
        robots = urllib.request.urlopen(f"{one}/robots.txt", timeout=10).read().decode()
        assert f"Sitemap: {one}/sitemap_index.xml" in robots
        gz = urllib.request.urlopen(f"{two}/sitemaps/products-0.xml.gz", timeout=10)
        assert gz.headers["Content-Type"] == "application/x-gzip"
        assert b"<urlset" in gzip.decompress(gz.read())
        head = urllib.request.urlopen(urllib.request.Request(f"{one}/robots.txt", method="HEAD"), timeout=10)
        assert head.status == 200 and head.read() == b""
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{one}/nope", timeout=10)
        assert [(a.method, a.path, a.status) for a in server.requests_for("one")] == [
            ("GET", "/robots.txt", 200), ("HEAD", "/robots.txt", 200), ("GET", "/nope", 404)]
        assert len(server.access_log) == 4 and server.private_log == []
        private = server.catalogs["one"].private_base_url
        urllib.request.urlopen(f"{private}/anything.jpg", timeout=10).read()
        assert [a.path for a in server.private_log] == ["/anything.jpg"]
        assert server.network_config().allow_private == ["127.0.0.1/32"]
        assert server.spec("two").reader == "selectors"
        port = urlsplit(one).port
    with pytest.raises(ConnectionRefusedError):  # stopped: nobody listens any more
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_catalog_specs_command_writes_loadable_specs(tmp_path):
    result = CliRunner().invoke(catalog_cli, ["specs", "--out", str(tmp_path), "--port-base", "9100",
                                              "--catalogs", "5"])
    assert result.exit_code == 0, result.output
    specs = {s.name: s for s in load_catalog_specs(tmp_path)}
    assert set(specs) == {"fixture-jsonld", "fixture-microdata", "fixture-selectors", "fixture-custom",
                          "fixture-jsonld-2"}
    assert specs["fixture-jsonld"].start_urls == ["http://127.0.0.1:9100/robots.txt"]
    assert specs["fixture-jsonld-2"].start_urls == ["http://127.0.0.1:9104/robots.txt"]
    assert specs["fixture-jsonld-2"].trade_names != specs["fixture-jsonld"].trade_names
    assert specs["fixture-custom"].spider == "ilid_ray.crawl.custom.fixture_api:FixtureApiSpider"
    assert specs["fixture-selectors"].selectors is not None


def test_catalog_serve_command_serves_and_writes_specs(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(catalog_cli, ["serve", "--catalogs", "1", "--port-base", str(port),
                                              "--seconds", "0.2", "--specs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"serve  fixture-jsonld  http://127.0.0.1:{port}/robots.txt" in result.output
    (spec,) = load_catalog_specs(tmp_path)
    assert spec.start_urls == [f"http://127.0.0.1:{port}/robots.txt"]
