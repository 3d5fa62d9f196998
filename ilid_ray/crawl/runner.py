"""Running crawls: one catalog in this process, one catalog per fresh process, many as Ray tasks.

Twisted's reactor cannot be restarted inside a process, so `crawl_catalog` runs at most once per
process; `crawl_catalog_isolated` gives it a fresh (spawned) process and `crawl_catalogs` a fresh
Ray worker per catalog (`max_calls=1`). Each crawl writes its raw rows as one Parquet file in the
build's row schema (ok rows and crawl rejects together), published atomically; a crawl that finds
no product page at all (robots.txt or sitemaps unreachable, wrong product_url_pattern) raises
CrawlError naming the catalog instead of writing an empty file.

With the rows goes `reports/{build_id}/{catalog}.crawl.json`: the crawl's counts and how its walk caps bit
(sitemaps fetched / over the cap / too deep, wall time), which the build's summary reports. A
crawl task that outlives `crawl.max_crawl_s` by CRAWL_GRACE_S (a hung connection Scrapy's own
timeout could not end) is cancelled and fails its catalog.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ilid_ray.config import CatalogSpec, CrawlConfig, NetworkConfig
from ilid_ray import records
from ilid_ray.storage import Store

log = logging.getLogger(__name__)
CRAWL_TASK_CPUS = 0.5  # a crawl mostly waits on the network; don't let it hold a whole core
CRAWL_GRACE_S = 120.0  # past max_crawl_s: time for Scrapy to close the spider and write its rows


class CrawlError(RuntimeError):
    """A catalog could not be crawled at all; the message names the catalog and the cause."""


@dataclass
class CrawlReport:
    catalog: str
    out_path: str
    rows: int = 0
    ok: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # reject reason -> count
    sitemap_errors: list[str] = field(default_factory=list)
    over_cap: int = 0
    duplicates: int = 0
    finish_reason: str = ""
    seconds: float = 0.0
    sitemaps_fetched: int = 0
    sitemaps_over_cap: int = 0  # not fetched: crawl.max_sitemaps reached
    sitemaps_too_deep: int = 0  # not fetched: nested deeper than crawl.max_sitemap_depth
    caps: dict[str, float] = field(default_factory=dict)  # the caps this crawl ran under

    @property
    def timed_out(self) -> bool:
        return self.finish_reason == "closespider_timeout"

    def summary(self) -> str:
        top = ", ".join(f"{r} x{n}" for r, n in sorted(self.reasons.items(), key=lambda kv: -kv[1])[:5])
        return (f"{self.catalog}: {self.rows} pages ({self.ok} ok, {self.rejected} rejected"
                f"{': ' + top if top else ''}), {self.over_cap} over the page cap, {self.walk()}, "
                f"{self.seconds:.1f}s")

    def walk(self) -> str:
        """How the walk caps bit, in words."""
        caps = self.caps
        text = (f"{self.sitemaps_fetched} sitemaps (cap {caps.get('max_sitemaps', '?')}: "
                f"{self.sitemaps_over_cap} over it, {self.sitemaps_too_deep} deeper than "
                f"{caps.get('max_sitemap_depth', '?')})")
        if self.timed_out:
            text += f", stopped at the wall-time cap of {caps.get('max_crawl_s', '?')}s"
        return text


def raw_path(build_id: str, catalog: str) -> str:
    return f"raw/{build_id}/{catalog}.parquet"


def report_path(build_id: str, catalog: str) -> str:
    return f"reports/{build_id}/{catalog}.crawl.json"


def crawl_reports(store: Store, build_id: str, catalogs: list[str]) -> dict[str, dict]:
    """The crawl reports of a build's catalogs (those that wrote one), for the build's summary."""
    out = {}
    for name in catalogs:
        try:
            out[name] = json.loads(store.get_bytes(report_path(build_id, name)))
        except FileNotFoundError:
            continue
    return out


def crawl_catalog(spec: CatalogSpec, crawl_cfg: CrawlConfig, network_cfg: NetworkConfig,
                  out_path: str | Path, log_level: str = "INFO") -> CrawlReport:
    """Crawl one catalog in this process (once per process: Twisted's reactor can't restart)."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from ilid_ray.crawl.settings import crawl_settings
    from ilid_ray.crawl.spider import spider_class

    started = time.time()
    rows: list[dict] = []
    process = CrawlerProcess(crawl_settings(crawl_cfg, network_cfg, log_level))
    crawler = process.create_crawler(spider_class(spec))
    finish: dict[str, str] = {}
    # weak=False: the dispatcher holds receivers weakly and would drop these lambdas
    crawler.signals.connect(lambda item, **_: rows.append(item), signal=signals.item_scraped, weak=False)
    crawler.signals.connect(lambda reason, **_: finish.setdefault("reason", reason),
                            signal=signals.spider_closed, weak=False)
    process.crawl(crawler, catalog=spec, crawl=crawl_cfg)
    process.start(install_signal_handlers=False)

    spider = crawler.spider
    reason = finish.get("reason", "unknown")
    rows += spider.unfinished_rows(reason)  # requested but never answered: still accounted for
    if not spider.product_urls:
        problems = "; ".join(spider.sitemap_errors) or f"no sitemap URL matched {spec.product_url_pattern!r}"
        raise CrawlError(f"catalog {spec.name!r}: no product pages found ({problems})")
    report = write_rows(rows, out_path, spec.name)
    report.sitemap_errors = list(spider.sitemap_errors)
    report.over_cap, report.duplicates, report.finish_reason = spider.over_cap, spider.duplicates, reason
    report.sitemaps_fetched = spider.sitemaps_requested
    report.sitemaps_over_cap, report.sitemaps_too_deep = spider.sitemaps_over_cap, spider.sitemaps_too_deep
    report.caps = {"max_pages": spider.max_products, "max_sitemaps": crawl_cfg.max_sitemaps,
                   "max_sitemap_depth": crawl_cfg.max_sitemap_depth, "max_crawl_s": crawl_cfg.max_crawl_s}
    report.seconds = round(time.time() - started, 2)
    log.info("crawl %s", report.summary())
    return report


def write_rows(rows: list[dict], out_path: str | Path, catalog: str) -> CrawlReport:
    """Write raw rows as Parquet atomically (temporary name, then rename) and count them."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    pq.write_table(records.to_table(rows), tmp)
    os.replace(tmp, out_path)
    reasons = Counter(r["reject_reason"] for r in rows if r["status"] == records.REJECTED)
    ok = sum(1 for r in rows if r["status"] == records.OK)
    return CrawlReport(catalog, str(out_path), len(rows), ok, len(rows) - ok, dict(reasons))


def crawl_catalog_isolated(spec: CatalogSpec, crawl_cfg: CrawlConfig, network_cfg: NetworkConfig,
                           out_path: str | Path, log_level: str = "INFO") -> CrawlReport:
    """`crawl_catalog` in a fresh spawned process (for callers without Ray, e.g. tests, benches)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(crawl_catalog, spec, crawl_cfg, network_cfg, str(out_path), log_level).result()


def _crawl_to_store(spec: CatalogSpec, crawl_cfg: CrawlConfig, network_cfg: NetworkConfig,
                    store: Store, rel: str, report_rel: str) -> dict:
    """Ray task body: crawl into a local temporary file, then publish it and its report on the store."""
    folder = tempfile.mkdtemp(prefix="ilid-crawl-")
    try:
        local = Path(folder) / f"{spec.name}.parquet"
        report = crawl_catalog(spec, crawl_cfg, network_cfg, local, crawl_cfg.log_level)
        store.put_file(local, rel)
        report.out_path = store.uri(rel)
        summary = dict(asdict(report), timed_out=report.timed_out)
        store.put_bytes(json.dumps(summary, indent=2).encode(), report_rel)
        return asdict(report)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def crawl_catalogs(specs: list[CatalogSpec], crawl_cfg: CrawlConfig, network_cfg: NetworkConfig,
                   store: Store, build_id: str) -> list[str]:
    """Crawl catalogs in parallel as Ray tasks (a fresh worker each, at most
    `crawl_cfg.max_parallel_catalogs` at once) into `raw/{build_id}/{name}.parquet`.

    Catalogs whose raw file exists are skipped (resume). Returns the raw paths in spec order.
    If any catalog fails, the others still finish and are kept; then CrawlError lists the failures.
    """
    import ray

    from ilid_ray.runtime import init_ray

    init_ray()  # no-op when the caller already connected
    task = ray.remote(max_calls=1, max_retries=0, num_cpus=CRAWL_TASK_CPUS,
                      label_selector=crawl_cfg.label_selector)(_crawl_to_store)
    paths = {spec.name: raw_path(build_id, spec.name) for spec in specs}
    todo = [spec for spec in specs if not store.exists(paths[spec.name])]
    for spec in specs:
        if spec not in todo:
            log.info("crawl %s: %s exists, skipped (resume)", spec.name, store.uri(paths[spec.name]))
    pending: dict = {}
    started: dict = {}
    failures: dict[str, str] = {}
    limit = max(1, crawl_cfg.max_parallel_catalogs)
    deadline_s = crawl_cfg.max_crawl_s + CRAWL_GRACE_S
    while todo or pending:
        while todo and len(pending) < limit:
            spec = todo.pop(0)
            ref = task.remote(spec, crawl_cfg, network_cfg, store, paths[spec.name], report_path(build_id, spec.name))
            pending[ref], started[ref] = spec.name, time.monotonic()
        done, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
        for ref in [r for r in pending if r not in done and time.monotonic() - started[r] > deadline_s]:
            ray.cancel(ref, force=True)  # hung past its own wall-time cap: end it, fail the catalog
            failures[pending.pop(ref)] = f"crawl still running {deadline_s:.0f}s after it started; cancelled"
        for ref in done:
            name = pending.pop(ref)
            try:
                report = CrawlReport(**ray.get(ref))
                log.info("crawl %s", report.summary())
                for problem in report.sitemap_errors:
                    log.warning("crawl %s: %s", name, problem)
            except Exception as exc:  # noqa: BLE001 - collected, then raised together
                cause = getattr(exc, "cause", None) or exc
                failures[name] = str(cause).strip().splitlines()[-1] if str(cause).strip() else repr(cause)
                log.error("crawl %s failed: %s", name, failures[name])
    if failures:
        listed = "; ".join(f"{name}: {why}" for name, why in failures.items())
        raise CrawlError(f"{len(failures)} of {len(specs)} catalog crawls failed: {listed}")
    return [paths[spec.name] for spec in specs]
