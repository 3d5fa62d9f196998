"""The real-markup corpus crawled by Scrapy from the local fixture server, as a build crawls it."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest

from ilid_ray import records
from ilid_ray.config import CrawlConfig
from ilid_ray.crawl.runner import crawl_catalog_isolated
from ilid_ray.testing.server import CatalogServer
from ilid_ray.testing.shops.corpus import ShopCorpus

pytestmark = pytest.mark.slow

FAST = CrawlConfig(autothrottle_start_delay_s=0.05, download_timeout_s=10, retry_times=1, concurrency_per_domain=8)


def test_corpus_crawl_gives_right_records_and_says_which_reader_found_them(tmp_path):
    corpus = ShopCorpus()
    out = tmp_path / "raw.parquet"
    with CatalogServer([corpus]) as server:
        report = crawl_catalog_isolated(server.spec(corpus.name), FAST, server.network_config(), out, "WARNING")
        truth = corpus.truth
    table = pq.read_table(out)
    assert table.schema.equals(records.ROW_SCHEMA, check_metadata=False)
    rows = {r["url"]: r for r in table.to_pylist()}
    assert set(rows) == set(truth) and report.rows == len(truth) >= 60
    right = [url for url, t in truth.items() if rows[url]["status"] == "ok" and rows[url]["label"] == t.title
             and urlsplit(rows[url]["image_urls"][0]).path == urlsplit(t.image).path
             and any(t.material in d for d in rows[url]["data"])]
    assert len(right) >= 0.95 * len(truth), sorted(set(truth) - set(right))[:5]
    readers = Counter(r["found_by"] for r in rows.values())
    assert {"json-ld", "microdata", "rdfa", "opengraph", "heuristic"} <= set(readers)
