"""Crawls as Ray tasks: parallel catalogs, resume, a failing catalog, and `ilid crawl`."""

from __future__ import annotations

import socket

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from ilid_ray.config import CatalogSpec, CrawlConfig
from ilid_ray.crawl.commands import crawl
from ilid_ray.crawl.runner import CrawlError, crawl_catalogs
from ilid_ray.storage import Store
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = pytest.mark.slow

FAST = CrawlConfig(autothrottle_start_delay_s=0.05, download_timeout_s=10, retry_times=1,
                   concurrency_per_domain=8, max_parallel_catalogs=2)


def dead_spec() -> CatalogSpec:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return CatalogSpec(name="ray-dead", start_urls=[f"http://127.0.0.1:{port}/robots.txt"])


def test_catalogs_crawl_in_parallel_tasks_resume_and_fail_by_name(ray_local, tmp_path):
    a = FixtureCatalog("ray-a", n_products=14, markup="jsonld", faults=True)
    b = FixtureCatalog("ray-b", n_products=12, markup="microdata", seed=2)
    store = Store(str(tmp_path / "dataset"))
    with CatalogServer([a, b]) as server:
        with pytest.raises(CrawlError, match=r"1 of 3 catalog crawls failed: ray-dead: catalog 'ray-dead'"):
            crawl_catalogs([*server.specs(), dead_spec()], FAST, server.network_config(), store, "b1")
        assert store.list("raw/b1") == ["raw/b1/ray-a.parquet", "raw/b1/ray-b.parquet"]  # the others kept
        for catalog in (a, b):
            rows = pq.read_table(store.uri(f"raw/b1/{catalog.name}.parquet")).to_pylist()
            assert catalog.crawl_mismatches(rows) == []
        served = len(server.access_log)
        paths = crawl_catalogs(server.specs(), FAST, server.network_config(), store, "b1")
        assert paths == ["raw/b1/ray-a.parquet", "raw/b1/ray-b.parquet"]
        assert len(server.access_log) == served  # resumed: nothing fetched again
        assert server.private_log == []


def test_crawl_command(ray_local, tmp_path):
    catalog = FixtureCatalog("cli-shop", n_products=12, markup="selectors")
    with CatalogServer(catalog) as server:
        spec_files = server.write_specs(tmp_path / "specs")
        config = {"catalogs": [str(p) for p in spec_files], "dataset": {"root": str(tmp_path / "dataset")},
                  "crawl": FAST.model_dump(), "network": server.network_config().model_dump()}
        (tmp_path / "build.yaml").write_text(yaml.safe_dump(config))
        result = CliRunner().invoke(crawl, ["--config", str(tmp_path / "build.yaml"), "--build-id", "cli",
                                            "-o", "crawl.max_pages=5"])
        assert result.exit_code == 0, result.output
    out = tmp_path / "dataset" / "raw" / "cli" / "cli-shop.parquet"
    assert result.output.strip().splitlines()[-1] == str(out)
    assert pq.read_table(out).num_rows == 5
    bad = CliRunner().invoke(crawl, ["--config", str(tmp_path / "build.yaml"), "--catalog", "nope"])
    assert bad.exit_code != 0 and "not in the config" in bad.output
