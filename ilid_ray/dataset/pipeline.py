"""The build as one streaming Ray Data pipeline over the stage functions.

    raw records -> [prefilter -> dedupe URL] -> extract (LLM) -> postfilter        (Ray Data)
                ==> driver: Router -> image workers [download + resize -> dedupe image -> shards]
                    -> Tally (rejects, counts) -> flush the image workers -> commit

Each stage is a plain `rows -> rows` function (testable on a list of dicts); `rows_stage` lifts it
to a Ray Data batch function over Arrow tables in the one row schema. Rejected rows ride along to
the end, where the driver records them, so every crawled record is accounted for: the build
fails loudly if `accepted + rejected + resumed != crawled`.

The pipeline's public parts are the ones the benches measure too: `read_raw`, `text_stages`,
`start_download_workers`, `Tally`, `consume` and `consume_and_commit`. Bracketed stages run
together in one Ray Data task (or one worker call), so a block is converted between Arrow and rows
once per group instead of once per stage. The image half runs in long-lived `ImageWorker` actors
(`image_workers.py`): image bytes never travel through the object store.
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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ilid_ray.config import BuildConfig, DatasetConfig, DownloadConfig, NetworkConfig
from ilid_ray.dataset import dedupe, postfilter, prefilter
from ilid_ray.dataset.builds import Build
from ilid_ray.dataset.download import Downloader
from ilid_ray.dataset.extract.engine import add_extraction_stage, extract_rows, make_engine
from ilid_ray.dataset.hostgate import start_gate
from ilid_ray.dataset.image_workers import Router, flush_image_workers, start_image_workers
from ilid_ray.dataset.manifest import Versions
from ilid_ray.dataset.removals import removed_sources
from ilid_ray.dataset.stats import top_words_png
from ilid_ray.records import OK, REJECT_SCHEMA, REJECTED, RESUMED, from_table, reject_table, to_table
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


def rows_stage(*fns: Callable[..., list[dict]], **kwargs: Any) -> Callable[[pa.Table], pa.Table]:
    """Lift `fn(rows, **kwargs) -> rows` functions to one Ray Data batch function over row-schema
    tables; several functions run one after the other on the same rows (each takes the kwargs its
    signature names)."""
    import inspect

    bound = []
    for fn in fns:
        names = inspect.signature(fn).parameters
        bound.append((fn, {k: v for k, v in kwargs.items() if k in names}))

    def apply(batch: pa.Table) -> pa.Table:
        rows = from_table(batch)
        for fn, args in bound:
            rows = fn(rows, **args)
        return to_table(rows)

    apply.__name__ = "->".join(fn.__name__ for fn in fns)
    return apply


# CPUs a task of a light stage reserves: the row filters and the hand-off to the image workers
# spend milliseconds per block, and mostly wait on the registry or the workers. Reserving a whole
# CPU each would keep them (and so the whole stream) waiting behind the extraction actors.
LIGHT_STAGE_CPUS = 0.25


def light_stage(ds, *fns: Callable[..., list[dict[str, Any]]], **kwargs):
    return ds.map_batches(rows_stage(*fns, **kwargs), batch_format="pyarrow", batch_size=None,
                          num_cpus=LIGHT_STAGE_CPUS)


def read_raw(store: Store, raw_paths: list[str], dataset: DatasetConfig):
    """The crawled records as a Ray Data dataset in blocks of `dataset.block_rows`."""
    import ray

    fs, paths = store.arrow_paths(raw_paths)
    return ray.data.read_parquet(paths, filesystem=fs).repartition(target_num_rows_per_block=dataset.block_rows)


def text_stages(ds, cfg: BuildConfig, claim: dedupe.Claim, removed: frozenset[str] = frozenset()):
    """prefilter -> URL dedupe -> LLM extraction (actor pool: a model loads once per replica) ->
    postfilter. The rules engine has no model: it runs in the filters' task, one task per block."""
    trade_names = prefilter.compile_trade_names({c.name: c.trade_names for c in cfg.catalogs})
    first, last = (prefilter.prefilter_rows, dedupe.dedupe_urls), (postfilter.postfilter_rows,)
    args = {"trade_names": trade_names, "claim": claim, "removed_sources": removed,
            "min_chars": cfg.postfilter.min_field_chars}
    if cfg.extract.engine == "rules":
        return light_stage(ds, *first, extract_rows, *last, engine=make_engine(cfg.extract), **args)
    ds = add_extraction_stage(light_stage(ds, *first, **args), cfg.extract)
    return light_stage(ds, *last, **args)


def start_download_workers(download: DownloadConfig, network: NetworkConfig, dataset: DatasetConfig, store: Store,
                           build_id: str, claim: dedupe.Claim, opt_outs: dict | None = None, gate=None) -> list:
    """The build's image workers, each fetching web images with its own `Downloader` (connection
    pools and threads kept for the whole build) and an equal share of each image host's
    politeness budget; 429 pauses shared through `gate` (the build's PauseBoard)."""
    fill = Downloader(download, network, download.cpu_slots, opt_outs, gate, share=download.concurrency)
    return start_image_workers(fill, claim, store, build_id, download, dataset)


def build_pipeline(cfg: BuildConfig, store: Store, raw_paths: list[str], claim: dedupe.Claim):
    """The lazy Ray Data dataset of the build's text half (nothing runs until it is consumed); the
    image half runs in the image workers, fed by `consume_and_commit`."""
    return text_stages(read_raw(store, raw_paths, cfg.dataset), cfg, claim, removed_sources(store))


def count_rows(store: Store, raw_paths: list[str]) -> int:
    fs, paths = store.arrow_paths(raw_paths)
    return sum(pq.ParquetFile(fs.open_input_file(p)).metadata.num_rows for p in paths)


def on_driver_node() -> dict[str, Any]:
    """Actor options that keep the build's shared state (key registry, pause board) on the driver's
    node: a lost worker node then takes only what ran there (its image workers: a clear failure and
    a rerun; Ray Data's tasks: retried), and the driver's own node failing ends the build anyway."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)}


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
    from ilid_ray.crawl.runner import crawl_catalogs, crawl_reports
    from ilid_ray.runtime import init_ray

    init_ray(cfg.ray)
    started = time.time()
    store = Store(cfg.dataset.root, cfg.storage)
    build = Build.start(store, [c.name for c in cfg.catalogs], abandon_unfinished=abandon_unfinished)
    build.lease = lease
    log.info("build %s (%s) into %s", build.build_id, "resumed" if build.resumed else "new", store.root)

    # the long-lived actors start while the catalogs crawl (each takes about a CPU-second to start)
    registry = dedupe.start_registry(build.known_keys(), cfg.dataset.registry_shards, **on_driver_node())
    gate = start_gate(**on_driver_node())
    workers = start_download_workers(cfg.download, cfg.network, cfg.dataset, store, build.build_id, registry.claim,
                                     {c.name: c.opt_outs for c in cfg.catalogs}, gate)
    try:
        raw_paths = crawl_catalogs(cfg.catalogs, cfg.crawl, cfg.network, store, build.build_id)
    except BaseException:
        end_actors([*registry.actors, gate, *workers])
        raise
    crawled = count_rows(store, raw_paths)
    crawl_s = time.time() - started

    ds = build_pipeline(cfg, store, raw_paths, registry.claim)
    names = [c.name for c in cfg.catalogs]
    return consume_and_commit(
        ds, store, build, workers, [*registry.actors, gate], crawled=crawled, started=started, crawl_s=crawl_s,
        download=cfg.download,
        summary={"crawl": crawl_reports(store, build.build_id, names)},
        version={"engine": cfg.extract.engine, "opt_outs": {c.name: c.opt_outs.model_dump() for c in cfg.catalogs}})


TALLY_COLUMNS = ("id", "status", "source", "found_by", "reject_stage", "model", "prompt_version")


class Tally:
    """The driver's end of the stream: counts every row once (per status, source, reader, reject
    stage, model), appends rejects to a Parquet file, and keeps the ids of accepted samples for
    the check that each of them is in a shard. Reads only the few columns it needs from each
    Arrow batch (no conversion of whole rows)."""

    def __init__(self, build_id: str, rejects_path: Path):
        self.build_id = build_id
        self.status: Counter[str] = Counter()
        self.rejected_per_stage: Counter[str] = Counter()
        self.per_source: dict[str, Counter[str]] = {}
        self.found_by: Counter[str] = Counter()  # crawled records per reader ("none": no product found)
        self.provenance: Counter[tuple[str, str]] = Counter()
        self.accepted: set[str] = set()
        self._rejects = pq.ParquetWriter(rejects_path, REJECT_SCHEMA)

    def add(self, batch: pa.Table) -> None:
        cols = {name: batch.column(name).to_pylist() for name in TALLY_COLUMNS}
        for i, status in enumerate(cols["status"]):
            self.status[status] += 1
            self.per_source.setdefault(cols["source"][i], Counter())[status] += 1
            self.found_by[cols["found_by"][i] or "none"] += 1
            if status == REJECTED:
                self.rejected_per_stage[cols["reject_stage"][i]] += 1
            elif status == OK:
                self.accepted.add(cols["id"][i])
                self.provenance[(cols["model"][i], cols["prompt_version"][i])] += 1
        rejected = batch.filter(pc.equal(batch.column("status"), REJECTED))
        if rejected.num_rows:
            self._rejects.write_table(reject_table(rejected, self.build_id))

    def close(self) -> None:
        self._rejects.close()

    @property
    def seen(self) -> int:
        return sum(self.status.values())

    def check(self, crawled: int, written_ids: set[str]) -> None:
        """Every crawled record came out once, and every accepted sample is in a shard."""
        if self.seen != crawled or set(self.status) - {OK, REJECTED, RESUMED}:
            raise AccountingError(f"build {self.build_id}: {crawled} records crawled but the pipeline "
                                  f"returned {self.seen} ({dict(self.status)}); nothing was committed")
        unwritten = self.accepted - written_ids
        if unwritten:
            raise AccountingError(f"build {self.build_id}: {len(unwritten)} accepted samples are in no shard "
                                  f"(e.g. {sorted(unwritten)[:3]}); nothing was committed")

    def stats(self) -> dict[str, Any]:
        return {
            "build_id": self.build_id, "accepted": self.status[OK], "rejected": self.status[REJECTED],
            "adopted_from_interrupted_attempt": self.status[RESUMED],
            "rejected_per_stage": dict(self.rejected_per_stage),
            "per_source": {s: dict(c) for s, c in sorted(self.per_source.items())},
            "found_by": dict(sorted(self.found_by.items())),
        }


def consume(ds, workers: list, tally: Tally, download: DownloadConfig) -> None:
    """Run the lazy pipeline `ds` to its end: its rows through the image workers (calls of
    `download.batch_rows`, a look-ahead of `download.lookahead_rows` to mix image hosts), every row
    into the tally."""
    router = Router(workers, tally.add, download.batch_rows, download.lookahead_rows)
    router.run(ds.iter_batches(batch_format="pyarrow", batch_size=None))


def operator_stats(ds) -> dict[str, dict]:
    """Per Ray Data operator (fused stages share one): busy seconds summed over its tasks, CPU
    seconds, span from its first task's start to its last one's end, rows and blocks out. Stages
    overlap in a streaming pipeline, so spans add up to more than the wall time."""
    out: dict[str, dict] = {}

    def walk(summary) -> None:
        for parent in summary.parents:
            walk(parent)
        for op in summary.operators_stats:
            if not op.wall_time or not op.output_num_rows:
                continue
            rows, span = int(op.output_num_rows.sum), op.time_total_s
            out[op.operator_name] = {
                "busy_s": round(op.wall_time.sum, 2), "cpu_s": round(op.cpu_time.sum, 2), "span_s": round(span, 2),
                "rows": rows, "blocks": int(op.output_num_rows.count),
            }

    try:
        walk(ds._get_stats_summary())  # Ray has no public structured form of `ds.stats()`
    except Exception as exc:  # noqa: BLE001 - diagnostics only: never fail a build over them
        log.warning("no Ray Data operator stats: %s", exc)
    return out


def end_actors(actors: list) -> None:
    import ray

    for actor in actors:
        ray.kill(actor)


def _consume_commit(ds, build: Build, workers: list, *, crawled: int, started: float, crawl_s: float,
                    summary: dict, version: dict, download: DownloadConfig) -> dict:
    with tempfile.TemporaryDirectory(prefix="ilid-rejects-") as tmp:
        rejects_path = Path(tmp) / "rejects.parquet"
        tally = Tally(build.build_id, rejects_path)
        try:
            consume(ds, workers, tally, download)
        finally:
            tally.close()
        images = flush_image_workers(workers)
        tally.check(crawled, set(build.fragments().column("id").to_pylist()))
        stats = {
            **tally.stats(), "crawled": crawled, "crawl_s": round(crawl_s, 1),
            "duration_s": round(time.time() - started, 1),
            "profile": {"operators": operator_stats(ds), "image_workers": images},
            **summary,
        }
        models = sorted({m for m, _ in tally.provenance if m})
        prompts = sorted({p for _, p in tally.provenance if p})
        return build.commit(pq.read_table(rejects_path), stats,
                            {**version, "models": models, "prompt_versions": prompts})


def consume_and_commit(ds, store: Store, build: Build, workers: list, helpers: list, *, crawled: int,
                       started: float, crawl_s: float, summary: dict, version: dict,
                       download: DownloadConfig) -> BuildResult:
    """Run the lazy pipeline `ds` to its end: record rejects, flush the image workers, check that
    every record is accounted for, commit a version, end the workers and the other `helpers`
    actors (key registry, host gate). Shared by every way samples enter a dataset (`ilid build`,
    `ilid dataset import`); `summary` joins the build's stats, `version` its version record. The
    stats also say where the time went: Ray Data's operators and the image workers' phases."""
    try:
        record = _consume_commit(ds, build, workers, crawled=crawled, started=started, crawl_s=crawl_s,
                                 summary=summary, version=version, download=download)
    finally:  # also when the stream fails: no actor of the build outlives it
        end_actors([*helpers, *workers])
    manifest = Versions(store).manifest(record["version"])
    store.put_bytes(top_words_png(manifest), f"stats/{record['version']}-top-words.png")
    return BuildResult(store.root, build.build_id, record["version"], record, record["shards_added"])
