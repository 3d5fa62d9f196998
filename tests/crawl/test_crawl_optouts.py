"""The opt-out fixture catalog crawled for real (fresh Scrapy process), its accepted rows then
downloaded: every opt-out ends as its own reject, every non-http(s) URL is refused without a
connection (the raw TCP trap on 127.0.0.1 records none), the endless sitemap walk stops at the
depth cap, and the licence of a page reaches its row."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from ilid_ray import records
from ilid_ray.config import CrawlConfig, DownloadConfig
from ilid_ray.crawl.runner import crawl_catalog_isolated
from ilid_ray.dataset.download import download_rows
from ilid_ray.testing.optout_catalog import LICENSE_URL, RESERVED_MEDIA, ROBOTS_BLOCKED_MEDIA, OptOutCatalog
from ilid_ray.testing.server import CatalogServer
from ilid_ray.testing.trap import TcpTrap

pytestmark = pytest.mark.slow

FAST = CrawlConfig(autothrottle_start_delay_s=0.05, download_timeout_s=10, retry_times=1, concurrency_per_domain=8,
                   max_sitemap_depth=4)
DOWNLOAD = DownloadConfig(threads=4, timeout_s=5.0, retries=0, image_size=64)


def test_opt_outs_schemes_and_walk_caps(tmp_path):
    local_page = tmp_path / "products" / "local-1.html"  # a real product page on disk
    local_page.parent.mkdir()
    with TcpTrap() as trap:
        schemes = (trap.url("ftp", "/products/trap-1.html"), local_page.as_uri(),
                   "data:text/html,/products/inline-1.html", "s3://bucket/products/x-1.html")
        catalog = OptOutCatalog("optout", trap.url("ftp"), scheme_urls=schemes, generated_sitemaps=True)
        with CatalogServer(catalog) as server:
            local_page.write_bytes(catalog.respond(catalog.page_path(13)).body)
            # no allowed_domains: the default (the start URL's host, 127.0.0.1) also covers the trap,
            # so only the scheme guard keeps the crawl away from it
            spec = server.spec("optout").model_copy(update={"allowed_domains": []})
            report = crawl_catalog_isolated(spec, FAST, server.network_config(), tmp_path / "raw.parquet", "WARNING")
            rows = pq.read_table(tmp_path / "raw.parquet").to_pylist()
            ok = [dict(r) for r in rows if r["status"] == records.OK]
            download_rows(ok, DOWNLOAD, server.network_config())
            paths = [a.path for a in server.requests_for("optout")]
            private = server.private_log
        connections = trap.connections

    assert catalog.crawl_mismatches(rows) == []
    for row in ok:
        reason = catalog.expected_download_reason(row["url"])
        tries = set((row["reject_reason"] or "").split("; ")) - {""}  # one reason per image URL
        assert (row["status"], tries) == (("rejected", {reason}) if reason else ("ok", set())), row["url"]
    kinds = {catalog.expected[r["url"]] for r in ok if r["status"] == records.OK}
    assert {"image_x_robots_other_agent", "rights", "ok"} == kinds
    rights = {catalog.expected[r["url"]]: r["rights"] for r in rows}
    assert rights["rights"] == f"license: {LICENSE_URL}" and rights["ok"] is None

    assert connections == [] and private == []  # nothing reached the trap or the private listener
    assert not [p for p in paths if p.startswith((ROBOTS_BLOCKED_MEDIA, RESERVED_MEDIA))]  # rules read first
    assert "/.well-known/tdmrep.json" in paths
    depths = {catalog.generated_sitemap_depth(p) for p in paths} - {None}
    assert depths == {2, 3, 4} and report.sitemaps_too_deep == 8  # 2 children of each of the 4 at depth 4
    assert report.sitemaps_over_cap == 0 and report.caps["max_sitemap_depth"] == 4
    assert any("ftp.xml: unsupported scheme: ftp" in e for e in report.sitemap_errors)
