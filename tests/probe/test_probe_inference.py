"""`ilid catalog probe`'s pure parts: URL families, sitemap_follow, trade names, reader coverage,
proposed selectors, the spec YAML and the table, over the fixture catalogs' own URLs and pages
(read through `FixtureCatalog.respond`, no sockets)."""

from __future__ import annotations

import gzip
import re

import pytest
from click.testing import CliRunner
from protego import Protego
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from ilid_ray.catalogs.reader import read_product
from ilid_ray.config import CatalogSpec, load_catalog_specs
from ilid_ray.probe.findings import ProbeFetch, ProbeJob, SitemapNode, choose_sample
from ilid_ray.probe.infer import check_spec, infer_spec, probe_roots
from ilid_ray.probe.readers import Page, propose_selectors, reader_coverage, spec_readers
from ilid_ray.probe.report import coverage_table, sitemap_tree, spec_yaml
from ilid_ray.probe.titles import propose_trade_names
from ilid_ray.probe.urls import even_sample, infer_sitemap_follow, product_family, shop_hosts, url_families
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.odd_paths import OddPathCatalog
from ilid_ray.testing.products import brand_for, make_product

BASE, PRIVATE = "http://127.0.0.1:8701", "http://127.0.0.2:8800"


def bound(catalog: FixtureCatalog) -> FixtureCatalog:
    catalog.bind(BASE, PRIVATE)
    return catalog


def offline_fetch(catalog: FixtureCatalog, pages: int = 30, job: ProbeJob | None = None) -> ProbeFetch:
    """What the probe's Scrapy run collects, read straight from `catalog.respond`: the sitemap tree
    from robots.txt down, the sample `choose_sample` picks, and the sample pages that answer 200."""
    job = job or ProbeJob([f"{BASE}/robots.txt"], pages=pages)
    fetch = ProbeFetch()
    queue = [(url, None) for url in job.roots]
    while queue:
        url, parent = queue.pop(0)
        node = fetch.sitemaps.setdefault(url, SitemapNode(url, parent))
        body = catalog.respond(url.removeprefix(BASE)).body
        if url.endswith("/robots.txt"):
            fetch.robots_txt, node.kind = body.decode(), "robots"
            node.children = list(sitemap_urls_from_robots(body, base_url=url))
            fetch.robots_has_sitemaps = bool(node.children)
            queue += [(c, url) for c in node.children]
            continue
        sitemap = Sitemap(gzip.decompress(body) if url.endswith(".gz") else body)
        locs = [entry["loc"] for entry in sitemap]
        if sitemap.type == "sitemapindex":
            node.kind, node.children = "index", [u for u in locs if any(re.search(f, u) for f in job.follow)]
            queue += [(c, url) for c in node.children]
        else:
            node.kind, node.urls = "urlset", len(locs)
            fetch.listed.update((u, url) for u in locs)
    robots = Protego.parse(fetch.robots_txt)
    for url in choose_sample(fetch, job, "127.0.0.1", lambda u: robots.can_fetch(u, "ilid-ray")):
        reply = catalog.respond(url.removeprefix(BASE))
        if reply.status == 200:
            fetch.pages.append(Page(url, reply.body.decode()))
        else:
            fetch.failed[url] = f"http {reply.status}"
    return fetch


def site_urls(catalog: FixtureCatalog) -> list[str]:
    return list(offline_fetch(catalog, pages=0).listed)


# --------------------------------------------------------------------------- URL shapes


def test_the_product_family_of_the_standard_layout_is_its_product_pages_only():
    catalog = bound(FixtureCatalog("shop", n_products=40, faults=True))
    urls = site_urls(catalog)
    family = product_family(urls)
    matched = {u for u in urls if re.search(family.pattern, u)}
    discontinued = {u for u, kind in catalog.expected.items() if kind == "robots_disallowed"}
    assert matched == set(catalog.expected) - discontinued  # the private-host page has the same shape
    assert sorted(family.urls) == sorted(matched)
    assert not any("/category/" in u or u.endswith(("/", "about.html")) for u in matched)


def test_products_under_a_non_obvious_pattern_are_told_from_categories_and_articles():
    catalog = bound(OddPathCatalog("odd", n_products=40, faults=True))
    urls = site_urls(catalog)
    families = url_families(urls)
    matched = {u for u in urls if re.search(families[0].pattern, u)}
    assert matched == set(catalog.expected)  # the robots-disallowed /sortiment/auslauf/ pages included
    assert [len(f.urls) for f in families[1:3]] == [len(catalog.category_paths()), 6]
    assert not any(re.search(families[0].pattern, BASE + p) for p in catalog.category_paths() + catalog.cms_paths())


@pytest.mark.parametrize("n_products", [5, 12, 300])
def test_the_odd_layout_is_found_at_every_catalog_size(n_products):
    catalog = bound(OddPathCatalog("odd", n_products=n_products, seed=n_products))
    family = product_family(site_urls(catalog))
    assert {u for u in site_urls(catalog) if re.search(family.pattern, u)} == set(catalog.expected)


def test_a_dominant_section_is_not_merged_with_smaller_ones():
    products = [f"https://s.example/products/widget-{i}.html" for i in range(30)]
    blog = [f"https://s.example/blog/post-{i}.html" for i in range(5)]
    news = [f"https://s.example/news/item-{i}.html" for i in range(3)]
    families = url_families([*products, *blog, *news, "https://s.example/"])
    assert families[0].pattern == r"^https?://[^/]+/products/[^/]*-\d+\.html$"
    assert sorted(families[0].urls) == sorted(products)


def test_slugs_without_numbers_and_query_string_products_form_one_family():
    slugs = ["brass-knob", "steel-hinge-m8", "toggle-clamp", "ball-bearing-6204", "swivel-foot"]
    urls = [f"https://s.example/p/{s}" for s in slugs] + ["https://s.example/about", "https://s.example/contact"]
    assert sorted(product_family(urls).urls) == sorted(urls[:5])
    query = [f"https://s.example/index.php?route=product&product_id={i}" for i in range(8)]
    family = product_family([*query, "https://s.example/index.php?route=common/home"])
    assert sorted(family.urls) == sorted(query)
    assert re.search(family.pattern, "https://s.example/index.php?route=product&product_id=99")
    assert product_family(["https://s.example/"]) is None


def test_sitemap_follow_opens_the_product_sitemaps_only():
    nested = ["https://s.example/sitemaps/pages.xml", "https://s.example/sitemaps/nested-index.xml",
              *(f"https://s.example/sitemaps/products-{c}.xml{'.gz' if c % 2 else ''}" for c in range(4))]
    follow = infer_sitemap_follow(nested[1:], nested)
    assert all(any(re.search(f, u) for f in follow) for u in nested[1:])
    assert not any(re.search(f, nested[0]) for f in follow)
    assert any(re.search(f, "https://s.example/sitemaps/products-17.xml.gz") for f in follow)  # grows
    assert infer_sitemap_follow(nested, nested) == [".*"]
    # a generalised pattern that would also open an unneeded sitemap falls back to the exact path
    exact = infer_sitemap_follow(["https://s.example/map-1.xml"], ["https://s.example/map-2.xml"])
    assert exact == [r"/map-1\.xml$"]


def test_even_sample_spreads_over_the_list():
    urls = [f"u{i}" for i in range(100)]
    assert even_sample(urls, 4) == ["u0", "u25", "u50", "u75"]
    assert even_sample(urls[:3], 10) == urls[:3]


def test_probe_roots():
    assert probe_roots("https://shop.example.com/en/") == ["https://shop.example.com/robots.txt"]
    assert probe_roots("https://shop.example.com/sitemap.xml.gz") == ["https://shop.example.com/sitemap.xml.gz"]
    with pytest.raises(ValueError, match="http"):
        probe_roots("file:///etc/passwd")


# --------------------------------------------------------------------------- trade names


@pytest.mark.parametrize("name,seed", [("shop", 0), ("acme", 1), ("fixture-jsonld", 0), ("odd", 2)])
def test_trade_names_proposed_from_titles_are_the_brand_and_its_series(name, seed):
    brand = brand_for(name, seed)
    products = [make_product(name, seed, i) for i in range(30)]
    proposed = propose_trade_names([p.title for p in products], [b for p in products for b in p.text_blocks()])
    assert set(proposed.names) <= set(brand.trade_names)  # never an ordinary word
    assert {brand.name, brand.code} <= set(proposed.names) and len(proposed.names) >= 4
    assert all(re.fullmatch(proposed.regex, n, re.I) for n in proposed.names)


def test_ordinary_capitalised_words_are_not_trade_names():
    titles = ["Toggle Clamp 900 N", "Toggle Clamp 500 N", "Steel Hinge 40 mm", "Steel Hinge 60 mm"]
    assert propose_trade_names(titles, ["A toggle clamp holds parts.", "A steel hinge for doors."]).regex is None
    marked = propose_trade_names(["Festo® Cylinder", "Pneumatic cylinder 40"], [])
    assert marked.names == ["Festo"] and marked.marked == {"Festo"}


# --------------------------------------------------------------------------- readers


def sample_pages(catalog: FixtureCatalog, n: int = 30) -> list[Page]:
    return offline_fetch(catalog, n).pages


@pytest.mark.parametrize("markup,reader", [("jsonld", "structured"), ("microdata", "structured"),
                                           ("selectors", "selectors")])
def test_each_markup_style_is_read_by_the_reader_that_fits(markup, reader):
    catalog = bound(FixtureCatalog(f"shop-{markup}", n_products=24, markup=markup, faults=True))
    fetch = offline_fetch(catalog)
    readable = [p for p in fetch.pages if catalog.expected[p.url] == "ok" or catalog.expected[p.url].startswith("image_")]
    selectors, _ = propose_selectors(fetch.pages)
    rows = {r.reader: r for r in reader_coverage(fetch.pages, selectors)}
    assert rows[reader].usable == len(readable) and rows[reader].pages == len(fetch.pages)
    assert set(rows[reader].problems) <= {"no title", "no image"}  # the planted faults
    assert rows["heuristic"].available == ("heuristic" in spec_readers())
    if reader == "selectors":
        assert rows["structured"].usable == 0 and selectors.title == "h1.product-title::text"


def test_no_reader_fits_an_app_shell_and_the_spec_says_so():
    catalog = bound(FixtureCatalog("shop-custom", n_products=12, markup="custom"))
    report = infer_spec(BASE, offline_fetch(catalog))
    assert all(r.usable == 0 for r in report.readers)
    assert "custom spider" in report.notes["reader"][0]


# --------------------------------------------------------------------------- the spec, the table


@pytest.mark.parametrize("catalog", [FixtureCatalog("std", n_products=30, markup="mixed", faults=True),
                                     OddPathCatalog("odd", n_products=30, markup="selectors", faults=True)],
                         ids=["mixed", "odd"])
def test_the_written_spec_loads_back_and_says_what_was_inferred(tmp_path, catalog):
    catalog = bound(catalog)
    report = infer_spec(f"{BASE}/", offline_fetch(catalog, pages=20))
    text = spec_yaml(report, "ilid catalog probe test")
    (tmp_path / "shop.yaml").write_text(text)
    assert load_catalog_specs(tmp_path / "shop.yaml") == [report.spec]
    spec = report.spec
    assert spec.start_urls == [f"{BASE}/robots.txt"] and spec.allowed_domains == ["127.0.0.1"]
    assert {u for u in catalog.expected if re.search(spec.product_url_pattern, u)} >= {
        u for u, kind in catalog.expected.items() if kind != "robots_disallowed"}
    assert f"{len(report.products)} of the {len(report.fetch.listed)} URLs the sitemaps list" in text
    assert "# PROPOSED, confirm" in text and re.search(spec.trade_names, catalog.brand.name, re.I)
    assert spec.selectors is not None  # mixed: the fallback reads the selector pages; odd: the reader
    hand_written = catalog.spec()  # the inferred spec reads every sample page as the hand-written one does
    for page in report.fetch.pages:
        assert read_product(page.html, spec, page.url) == read_product(page.html, hand_written, page.url)
    ok = [p for p in report.fetch.pages if catalog.expected[p.url] == "ok"]
    assert report.spec_row.usable >= len(ok) > 0
    table = "\n".join(coverage_table(report))
    assert f"{report.spec_row.usable}/{len(report.fetch.pages)}" in table
    tree = "\n".join(sitemap_tree(report))
    assert f"{len(report.products)} of {len(report.fetch.listed)} listed URLs" in tree


def test_dry_run_measures_a_hand_written_spec_the_same_way():
    catalog = bound(OddPathCatalog("odd", n_products=30, markup="jsonld", faults=True))
    spec = catalog.spec()
    job = ProbeJob(spec.start_urls, spec.sitemap_follow, spec.product_url_pattern, pages=10)
    report = check_spec(spec, offline_fetch(catalog, job=job))
    assert len(report.products) == len(catalog.expected) and len(report.fetch.sample) == 10
    assert report.spec_row.usable == {r.reader: r for r in report.readers}["structured"].usable > 0
    wrong = spec.model_copy(update={"product_url_pattern": "/products/"})  # the standard layout's pattern
    job = ProbeJob(spec.start_urls, spec.sitemap_follow, wrong.product_url_pattern, pages=10)
    report = check_spec(wrong, offline_fetch(catalog, job=job))
    assert report.products == [] and "product pages found          0" in "\n".join(coverage_table(report))


def test_cli_refuses_to_overwrite_and_needs_a_url(tmp_path):
    from ilid_ray.cli import main

    (tmp_path / "shop.yaml").write_text("name: x\n")
    result = CliRunner().invoke(main, ["catalog", "probe", "https://shop.example.com", "--out",
                                       str(tmp_path / "shop.yaml")])
    assert result.exit_code != 0 and "exists" in result.output
    assert (tmp_path / "shop.yaml").read_text() == "name: x\n"
    result = CliRunner().invoke(main, ["catalog", "probe"])
    assert result.exit_code != 0 and "--dry-run" in result.output
    (tmp_path / "bad.yaml").write_text("name: x\nsitemap_urls: [https://x/s.xml]\nreader: custom\nspider: no.such:Spider\n")
    result = CliRunner().invoke(main, ["catalog", "probe", "--dry-run", str(tmp_path / "bad.yaml")])
    assert result.exit_code == 1 and "cannot load spider 'no.such:Spider'" in result.output


def test_spec_readers_match_the_schema():
    assert set(spec_readers()) >= {"structured", "selectors", "custom"}
    assert CatalogSpec(name="x", sitemap_urls=["https://x/s.xml"], reader=spec_readers()[0])


def test_shop_hosts_are_the_probed_host_and_those_with_many_products():
    products = [f"https://www.shop.example/p/{i}" for i in range(20)] + ["https://other.example/p/1"]
    assert shop_hosts(products, "shop.example") == ["shop.example", "www.shop.example"]
