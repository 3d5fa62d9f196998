"""The build as one streaming Ray Data pipeline over the stage functions.

    raw records -> prefilter -> dedupe URL -> extract (LLM) -> postfilter -> download + resize
                -> dedupe image -> shard writers (full shards + fragments)
                ==>  driver: rejects, counts, flush the writers -> commit

Each stage is a plain `rows -> rows` function (testable on a list of dicts); `rows_stage` lifts it
to a Ray Data batch function over Arrow tables in the one row schema. Rejected rows ride along to
the end, where the driver records them, so every crawled record is accounted for: the build
fails loudly if `accepted + rejected + resumed != crawled`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from ilid_ray.config import BuildConfig
from ilid_ray.dataset import dedupe, postfilter, prefilter
from ilid_ray.dataset.builds import Build
from ilid_ray.dataset.manifest import Versions
from ilid_ray.dataset.download import download_rows
from ilid_ray.dataset.hostgate import start_gate
from ilid_ray.dataset.removals import removed_sources
from ilid_ray.dataset.extract.engine import add_extraction_stage
from ilid_ray.records import OK, REJECT_SCHEMA, REJECTED, RESUMED, from_table, reject_record, to_table
from ilid_ray.dataset.shard_writers import ShardWriter, send_to_writers
from ilid_ray.dataset.stats import top_words_png
from ilid_ray.storage import Store

log = logging.getLogger(__name__)


class AccountingError(RuntimeError):
    """Records went missing between crawl and commit: a bug, never silently accepted."""


@dataclass
class BuildResult:
    root: str
    build_id: str
    version: str
    record: dict[str, Any]
    shards: list[str] = field(default_factory=list)


def rows_stage(fn: Callable[..., list[dict]], **kwargs: Any) -> Callable[[pa.Table], pa.Table]:
    """Lift `fn(rows, **kwargs) -> rows` to a Ray Data batch function over row-schema tables."""

    def apply(batch: pa.Table) -> pa.Table:
        return to_table(fn(from_table(batch), **kwargs))

    apply.__name__ = fn.__name__
    return apply


# CPUs a task of a light stage reserves: the row filters and the hand-off to the shard writers
# spend milliseconds per block, and mostly wait on the registry or writer actors. Reserving a
# whole CPU each would let them keep the download tasks (decode + resize) off the cores.
LIGHT_STAGE_CPUS = 0.25


def light_stage(ds, fn: Callable[..., list[dict[str, Any]]], **kwargs):
    return ds.map_batches(rows_stage(fn, **kwargs), batch_format="pyarrow", num_cpus=LIGHT_STAGE_CPUS)


def build_pipeline(cfg: BuildConfig, store: Store, build: Build, raw_paths: list[str], registry, writers: list,
                   gate=None):
    """The lazy Ray Data dataset of the build (nothing runs until it is consumed). `gate`: the
    HostGate actor every download task shares (per-host politeness for the whole build)."""
    import ray

    claim = dedupe.actor_claim(registry)
    fs, paths = store.arrow_paths(raw_paths)
    ds = ray.data.read_parquet(paths, filesystem=fs).repartition(target_num_rows_per_block=cfg.dataset.block_rows)
    trade_names = prefilter.compile_trade_names({c.name: c.trade_names for c in cfg.catalogs})
    ds = light_stage(ds, prefilter.prefilter_rows, trade_names=trade_names)
    ds = light_stage(ds, dedupe.dedupe_urls, claim=claim, removed_sources=removed_sources(store))
    ds = add_extraction_stage(ds, cfg.extract)
    ds = light_stage(ds, postfilter.postfilter_rows, min_chars=cfg.postfilter.min_field_chars)
    opt_outs = {c.name: c.opt_outs for c in cfg.catalogs}
    ds = ds.map_batches(rows_stage(download_rows, cfg=cfg.download, network=cfg.network, opt_outs=opt_outs, gate=gate),
                        batch_format="pyarrow", batch_size=cfg.dataset.block_rows,
                        compute=ray.data.TaskPoolStrategy(size=cfg.download.concurrency),
                        label_selector=cfg.download.label_selector)
    ds = light_stage(ds, dedupe.dedupe_images, claim=claim)
    return light_stage(ds, send_to_writers, writers=writers)


def start_shard_writers(cfg: BuildConfig, store: Store, build: Build) -> list:
    import ray

    writer = ray.remote(ShardWriter).options(num_cpus=0, label_selector=cfg.download.label_selector)
    return [writer.remote(store, build.build_id, cfg.download.image_format, cfg.dataset.shard_size,
                          cfg.dataset.folds, cfg.dataset.fold_seed) for _ in range(cfg.dataset.shard_writers)]


def count_rows(store: Store, raw_paths: list[str]) -> int:
    fs, paths = store.arrow_paths(raw_paths)
    return sum(pq.ParquetFile(fs.open_input_file(p)).metadata.num_rows for p in paths)


def run_build(cfg: BuildConfig, *, abandon_unfinished: bool = False, wait_s: float = 0.0,
              force: bool = False) -> BuildResult:
    """Build (or grow) the dataset at `cfg.dataset.root` from `cfg.catalogs` and commit a version,
    holding the root's writer lease throughout (waiting up to `wait_s` for another build to end;
    `force`: accept an S3 store that cannot create objects atomically)."""
    from ilid_ray.dataset.lease import WriterLease

    store = Store(cfg.dataset.root, cfg.storage)
    with WriterLease.acquire(store, what=",".join(sorted(c.name for c in cfg.catalogs)), wait_s=wait_s,
                             force=force) as lease:
        return _run_build_holding(cfg, lease, abandon_unfinished=abandon_unfinished)


def _run_build_holding(cfg: BuildConfig, lease, *, abandon_unfinished: bool = False) -> BuildResult:
    import ray

    from ilid_ray.crawl.runner import crawl_catalogs, crawl_reports
    from ilid_ray.runtime import init_ray

    init_ray(cfg.ray)
    started = time.time()
    store = Store(cfg.dataset.root, cfg.storage)
    build = Build.start(store, [c.name for c in cfg.catalogs], abandon_unfinished=abandon_unfinished)
    build.lease = lease
    log.info("build %s (%s) into %s", build.build_id, "resumed" if build.resumed else "new", store.root)

    raw_paths = crawl_catalogs(cfg.catalogs, cfg.crawl, cfg.network, store, build.build_id)
    crawled = count_rows(store, raw_paths)
    crawl_s = time.time() - started

    registry = ray.remote(dedupe.KeyRegistry).options(num_cpus=0).remote(build.known_keys())
    writers = start_shard_writers(cfg, store, build)
    gate = start_gate(cfg.download)
    ds = build_pipeline(cfg, store, build, raw_paths, registry, writers, gate)
    names = [c.name for c in cfg.catalogs]
    return consume_and_commit(
        ds, store, build, writers, [registry, gate], crawled=crawled, started=started, crawl_s=crawl_s,
        summary={"crawl": crawl_reports(store, build.build_id, names)},
        version={"engine": cfg.extract.engine, "opt_outs": {c.name: c.opt_outs.model_dump() for c in cfg.catalogs}})


def consume_and_commit(ds, store: Store, build: Build, writers: list, helpers: list, *, crawled: int,
                       started: float, crawl_s: float, summary: dict, version: dict) -> BuildResult:
    """Run the lazy pipeline `ds` to its end: record rejects, flush the shard writers, check that
    every record is accounted for, commit a version, end the writers and the other `helpers` actors
    (key registry, host gate). Shared by every way samples enter a dataset (`ilid build`, `ilid
    dataset import`); `summary` joins the build's stats, `version` its version record."""
    import ray

    accepted: set[str] = set()

    status: Counter[str] = Counter()
    rejected_per_stage: Counter[str] = Counter()
    per_source: dict[str, Counter[str]] = {}
    found_by: Counter[str] = Counter()  # crawled records per reader ("none": no product found)
    provenance: Counter[tuple[str, str]] = Counter()
    with tempfile.TemporaryDirectory(prefix="ilid-rejects-") as tmp:
        rejects_path = Path(tmp) / "rejects.parquet"
        with pq.ParquetWriter(rejects_path, REJECT_SCHEMA) as rejects_out:
            for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                rows = from_table(batch)
                rejects = [reject_record(r, build.build_id) for r in rows if r["status"] == REJECTED]
                if rejects:
                    rejects_out.write_table(pa.Table.from_pylist(rejects, schema=REJECT_SCHEMA))
                for row in rows:
                    status[row["status"]] += 1
                    per_source.setdefault(row["source"], Counter())[row["status"]] += 1
                    found_by[row.get("found_by") or "none"] += 1
                    if row["status"] == REJECTED:
                        rejected_per_stage[row["reject_stage"]] += 1
                    elif row["status"] == OK:
                        accepted.add(row["id"])
                        provenance[(row["model"], row["prompt_version"])] += 1
        ray.get([w.flush.remote() for w in writers])
        seen = sum(status.values())
        if seen != crawled or set(status) - {OK, REJECTED, RESUMED}:
            raise AccountingError(f"build {build.build_id}: {crawled} records crawled but the pipeline "
                                  f"returned {seen} ({dict(status)}); nothing was committed")
        unwritten = accepted - set(build.fragments().column("id").to_pylist())
        if unwritten:
            raise AccountingError(f"build {build.build_id}: {len(unwritten)} accepted samples are in no shard "
                                  f"(e.g. {sorted(unwritten)[:3]}); nothing was committed")
        stats = {
            "build_id": build.build_id, "crawled": crawled, "accepted": status[OK], "rejected": status[REJECTED],
            "adopted_from_interrupted_attempt": status[RESUMED],
            "rejected_per_stage": dict(rejected_per_stage),
            "per_source": {s: dict(c) for s, c in sorted(per_source.items())},
            "found_by": dict(sorted(found_by.items())),
            "crawl_s": round(crawl_s, 1), "duration_s": round(time.time() - started, 1),
            **summary,
        }
        models = sorted({m for m, _ in provenance if m})
        prompts = sorted({p for _, p in provenance if p})
        record = build.commit(pq.read_table(rejects_path), stats,
                              {**version, "models": models, "prompt_versions": prompts})
    for actor in (*helpers, *writers):
        ray.kill(actor)
    manifest = Versions(store).manifest(record["version"])
    store.put_bytes(top_words_png(manifest), f"stats/{record['version']}-top-words.png")
    return BuildResult(store.root, build.build_id, record["version"], record, record["shards_added"])
