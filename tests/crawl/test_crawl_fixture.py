"""Real Scrapy crawls (fresh process each) against the real fixture catalog server."""

from __future__ import annotations

import socket
from datetime import datetime

import pyarrow.parquet as pq
import pytest

from ilid_ray.config import CatalogSpec, CrawlConfig
from ilid_ray.crawl.runner import CrawlError, crawl_catalog_isolated
from ilid_ray import records
from ilid_ray.testing.catalog import DISALLOWED_PREFIX, FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = pytest.mark.slow

FAST = CrawlConfig(autothrottle_start_delay_s=0.05, download_timeout_s=10, retry_times=1, concurrency_per_domain=8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("markup", ["mixed", "custom"])
def test_every_product_url_ends_as_one_ok_row_or_one_reject(tmp_path, markup):
    catalog = FixtureCatalog(f"shop-{markup}", n_products=16, markup=markup, faults=True, seed=3)
    out = tmp_path / "raw.parquet"
    with CatalogServer(catalog) as server:
        report = crawl_catalog_isolated(server.spec(catalog.name), FAST, server.network_config(), out, "WARNING")
        log = server.requests_for(catalog.name)
        private_log = server.private_log

    table = pq.read_table(out)
    assert table.schema.equals(records.ROW_SCHEMA, check_metadata=False)
    rows = table.to_pylist()
    assert catalog.crawl_mismatches(rows) == []
    assert all(r["id"] == records.record_id(r["url"]) and r["source"] == catalog.name for r in rows)
    assert all(datetime.fromisoformat(r["crawled_at"]).tzinfo is not None for r in rows)
    ok = [u for u in catalog.expected if catalog.expected_crawl_reason(u) is None]
    total = len(catalog.expected)
    assert (report.rows, report.ok, report.rejected) == (total, len(ok), total - len(ok))
    assert report.sitemap_errors == [] and report.finish_reason == "finished"

    paths = [a.path for a in log]
    assert not [p for p in paths if p.startswith(DISALLOWED_PREFIX)]  # robots.txt obeyed
    assert {"/sitemap_index.xml", "/sitemaps/nested-index.xml", "/sitemaps/products-0.xml.gz",
            "/sitemaps/products-1.xml", "/sitemaps/products-2.xml.gz"} <= set(paths)
    assert not [p for p in paths if p.startswith("/media/")]  # images are the downloader's job
    unavailable = catalog.page_path(next(i for i, k in catalog.fault_of.items() if k == "http_503"))
    assert paths.count(unavailable) == FAST.retry_times + 1  # retried, then rejected
    assert private_log == []  # the private listener was never reached


def test_page_cap_limits_product_pages(tmp_path):
    catalog = FixtureCatalog("capped", n_products=30)
    out = tmp_path / "raw.parquet"
    with CatalogServer(catalog) as server:
        spec = server.spec("capped").model_copy(update={"max_pages": 7})
        report = crawl_catalog_isolated(spec, FAST, server.network_config(), out, "WARNING")
        fetched = [a.path for a in server.requests_for("capped") if a.path.startswith("/products/")]
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 7 and {r["url"] for r in rows} <= set(catalog.expected)
    assert report.over_cap == len(catalog.expected) - 7
    assert len(fetched) == sum(1 for r in rows if r["reject_reason"] != "robots.txt disallow")


def test_a_catalog_that_cannot_be_crawled_fails_loudly(tmp_path):
    """robots.txt on a dead port and on the private listener: no product found -> CrawlError
    naming the catalog and both causes; no file written, the private listener never asked."""
    with CatalogServer(FixtureCatalog("elsewhere", n_products=12)) as server:
        private = server.catalogs["elsewhere"].private_base_url
        spec = CatalogSpec(name="unreachable", start_urls=[f"http://127.0.0.1:{free_port()}/robots.txt",
                                                           f"{private}/robots.txt"])
        with pytest.raises(CrawlError) as failure:
            crawl_catalog_isolated(spec, FAST, server.network_config(), tmp_path / "raw.parquet", "WARNING")
        assert server.private_log == []
    message = str(failure.value)
    assert message.startswith("catalog 'unreachable': no product pages found (")
    assert "connection refused" in message and "blocked: loopback address 127.0.0.2" in message
    assert not (tmp_path / "raw.parquet").exists()
