"""End to end: probe a real served fixture shop, crawl it with the inferred spec, and check that
the crawl took the products and nothing else."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from ilid_ray.config import CrawlConfig
from ilid_ray.crawl.runner import crawl_catalog_isolated
from ilid_ray.probe.fetch import fetch_probe_isolated
from ilid_ray.probe.findings import ProbeJob
from ilid_ray.probe.infer import check_spec, infer_spec
from ilid_ray.probe.report import sitemap_tree
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.odd_paths import ODD_DISALLOWED_PREFIX, OddPathCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = pytest.mark.slow

FAST = CrawlConfig(autothrottle_start_delay_s=0.05, download_timeout_s=10, retry_times=1, concurrency_per_domain=8)


def differences_that_are_not_allowed(catalog: FixtureCatalog, rows: list[dict]) -> list[str]:
    """The catalog's own crawl check, less two differences an inferred spec may have: robots-
    forbidden pages left out of the pattern, and the private-host page rejected as offsite (the
    probe allows only the probed host) instead of by the address guard."""
    allowed = ("(robots_disallowed): no row", "(private_page): expected a crawl reject")
    problems = catalog.crawl_mismatches(rows)
    return [p for p in problems if not any(a in p for a in allowed)]


def test_the_inferred_spec_crawls_the_products_and_nothing_else(tmp_path):
    catalog = OddPathCatalog("odd-shop", n_products=24, markup="selectors", faults=True, seed=4)
    with CatalogServer(catalog) as server:
        network = server.network_config()
        root = server.base_url(catalog.name) + "/"
        fetched = fetch_probe_isolated(ProbeJob([root + "robots.txt"], pages=12, delay_s=0), FAST, network)
        report = infer_spec(root, fetched, name=catalog.name)
        out = tmp_path / "raw.parquet"
        crawl = crawl_catalog_isolated(report.spec, FAST, network, out, "WARNING")
        rows = pq.read_table(out).to_pylist()

        ok = {r["url"] for r in rows if r["status"] == "ok"}
        assert ok == {u for u in catalog.expected if catalog.expected_crawl_reason(u) is None}
        assert {r["url"] for r in rows} <= set(catalog.expected)  # no category, article, service page
        assert differences_that_are_not_allowed(catalog, rows) == []
        assert crawl.sitemap_errors == []
        assert report.spec_row.usable == len(fetched.pages) - sum(
            catalog.expected[p.url] in ("no_title", "no_image") for p in fetched.pages)

        # --dry-run on a spec a person wrote (opening only the assortment sitemaps) reads the sample the same way
        spec = catalog.spec().model_copy(update={"sitemap_follow": ["/sitemap/sortiment-"]})
        job = ProbeJob(spec.start_urls, spec.sitemap_follow, spec.product_url_pattern, pages=12, delay_s=0)
        checked = check_spec(spec, fetch_probe_isolated(job, FAST, network))
        paths = [a.path for a in server.requests_for(catalog.name)]
        assert server.private_log == []
    assert not [p for p in paths if p.startswith(ODD_DISALLOWED_PREFIX)]  # robots.txt obeyed throughout
    assert not [p for p in paths if p.startswith("/media/")]
    assert len(checked.products) == len(catalog.expected)
    assert not [u for u in checked.fetch.sitemaps if u.endswith("/cms.xml")]
    assert "index   /sitemap.xml  3 sitemaps, 1 not followed" in "\n".join(sitemap_tree(checked))
    assert {r.reader: r.usable for r in checked.readers}["selectors"] == checked.spec_row.usable > 0
