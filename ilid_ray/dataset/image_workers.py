"""Build steps 6-7 in one place: long-lived image workers fetch, normalise, de-duplicate and shard.

The image half of the build used to be three Ray Data stages (download tasks -> image-hash dedupe
-> hand-off to shard-writer actors). Profiled on 2 cores it ran at less than half the speed of the
same download code in one plain process: every image's bytes crossed the object store three
times, each block started a fresh HTTP client and thread pool, and Ray Data's resource budget let
one download task run at a time (docs/scaling.md, "Profile of the image half").

Now each `ImageWorker` is one Ray actor that lives for the whole build, like an img2dataset
process: it keeps its connection pools, fetch threads and decode slots across batches, claims the
image hashes of a batch in one registry call, and buffers accepted samples into full shards that
it writes itself. Image bytes never leave the worker's process. The driver, which receives every
row at the end of the stream anyway, hands each block of text rows to the least busy worker
(`Router`) and tallies the light rows that come back.

Guarantees kept: shards are content-named and published atomically with their fragment after
them (`shards.write_shard`), a worker writes every full shard as soon as it fills and the driver
flushes the partial rest (`flush`) before checking that every accepted sample is in a shard.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from ilid_ray.config import DatasetConfig, DownloadConfig
from ilid_ray.dataset.dedupe import Claim, dedupe_images
from ilid_ray.dataset.shards import write_shard
from ilid_ray.records import OK, from_table, is_ok, to_table
from ilid_ray.storage import Store

Fill = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]

# Calls one worker serves at once: while one batch waits for its slowest image, the next batches'
# fetches keep the worker's threads busy.
CALLS_PER_WORKER = 4


class ImageWorkerLost(RuntimeError):
    """An image worker's process or node died mid-build. Its buffered samples died with it, so the
    build stops before committing; the next `ilid build` resumes and adopts the shards written."""


def results(refs):
    """`ray.get(refs)` of image worker calls; a dead worker ends the build with ImageWorkerLost."""
    import ray
    from ray.exceptions import RayActorError

    try:
        return ray.get(refs)
    except RayActorError as exc:
        text = str(exc)
        why = next((line.split(". ")[0] for line in text.splitlines() if line.startswith("The actor is dead")),
                   text.splitlines()[0] if text else type(exc).__name__)
        raise ImageWorkerLost(f"an image worker was lost mid-build ({why.rstrip('.')}); nothing was committed: "
                              "rerun the same `ilid build` to resume (the shards already written are kept)") from exc


class ShardWriter:
    """Buffers accepted rows (with image bytes) and writes them as shards of `shard_size`.

    Thread-safe: rows are taken under a lock, full shards are written outside it, so one batch's
    shard upload does not hold up the batches arriving beside it. (A row reaches it once: the key
    registry lets one row per id and per image through.)
    """

    def __init__(self, store: Store, build_id: str, image_format: str, shard_size: int, folds: int,
                 fold_seed: int, caption_field: str | None = None):
        self.store, self.build_id, self.image_format = store, build_id, image_format
        self.shard_size, self.folds, self.fold_seed = shard_size, folds, fold_seed
        self.caption_field = caption_field
        self.buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Take rows; publish every full shard."""
        with self._lock:
            self.buffer.extend(rows)
            full = []
            while len(self.buffer) >= self.shard_size:
                full.append(self.buffer[:self.shard_size])
                del self.buffer[:self.shard_size]
        for shard in full:
            self._write(shard)

    def __getstate__(self) -> dict[str, Any]:  # the driver builds it, the worker's process runs it
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def flush(self) -> None:
        """Publish the remainder (a last, partial shard)."""
        with self._lock:
            rest, self.buffer = self.buffer, []
        if rest:
            self._write(rest)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        write_shard(rows, self.store, self.build_id, self.image_format, self.folds, self.fold_seed,
                    self.caption_field)


class ImageWorker:
    """fill (fetch + normalise) -> claim image hashes -> buffer into shards -> light rows.

    `fill` turns rows into rows with image fields or rejects (a `Downloader` for web images, a file
    reader for imports); it is called with this worker's batches for the whole build, so whatever
    it keeps (connections, threads) is kept too. `claim` is the build's key registry.
    """

    def __init__(self, fill: Fill, claim: Claim, writer: ShardWriter):
        self.fill, self.claim, self.writer = fill, claim, writer
        self.seconds: Counter[str] = Counter()  # wall seconds per phase, summed over calls
        self.counts: Counter[str] = Counter()
        self.span: list[float] = []  # epoch seconds of the first call's start and the last call's end
        self._lock = threading.Lock()

    def process(self, batch: pa.Table) -> pa.Table:
        started = time.perf_counter()
        with self._lock:
            self.span = self.span or [time.time(), time.time()]
        rows = self.fill(from_table(batch))
        filled = time.perf_counter()
        dedupe_images(rows, self.claim)
        claimed = time.perf_counter()
        accepted = [r for r in rows if is_ok(r)]
        self.writer.add(accepted)
        written = time.perf_counter()
        light = to_table([{**row, "image": None} for row in rows])  # the buffered rows keep their bytes
        with self._lock:
            self.seconds.update(fill=filled - started, claim=claimed - filled, shard=written - claimed,
                                total=time.perf_counter() - started)
            self.counts.update(rows=len(rows), accepted=len(accepted), calls=1)
            self.span[1] = time.time()
        return light

    def flush(self) -> dict[str, Any]:
        """Write the partial last shard; return this worker's phase times and counts."""
        started = time.perf_counter()
        self.writer.flush()
        close = getattr(self.fill, "close", None)
        if close is not None:
            close()
        with self._lock:
            self.seconds.update(flush=time.perf_counter() - started)
            return {"seconds": {k: round(v, 2) for k, v in self.seconds.items()}, "counts": dict(self.counts),
                    "span": [round(t, 3) for t in self.span]}


def interleave_sources(rows: pa.Table) -> pa.Table:
    """The rows in round-robin order over their sources (a1 b1 c1 a2 b2 ...), each source's rows in
    their order: consecutive calls then spread over the catalogs' image hosts, so each host's
    politeness budget works in parallel instead of one host after another."""
    seen: Counter[str] = Counter()
    ranks = []
    for source in rows.column("source").to_pylist():
        ranks.append(seen[source])
        seen[source] += 1
    if len(seen) < 2:
        return rows
    order = sorted(range(rows.num_rows), key=lambda i: (ranks[i], i))
    return rows.take(pa.array(order, type=pa.int64()))


class Router:
    """The driver's end of the image half: ok rows go, in calls of at most `call_rows`, to the
    image worker with the fewest calls in flight (at most CALLS_PER_WORKER each). Rows that are
    not ok, and the light rows the workers return, go to `sink` (the Tally).

    While the workers are busy the router keeps reading the stream into a pool of up to
    `lookahead` rows, and each call takes its rows round-robin over the sources in the pool
    (`interleave_sources`); once the pool is full it waits for a worker, and Ray Data's stream
    upstream waits with it. When the workers are idle a call leaves as soon as rows arrive.

    The driver is where every row ends up anyway, so routing there adds no hop; a Ray Data task per
    block in between cost a worker process each (about a CPU-second to start) and a second trip
    through the object store."""

    def __init__(self, workers: list, sink: Callable[[pa.Table], None], call_rows: int, lookahead: int):
        self.workers, self.sink, self.call_rows = workers, sink, max(1, call_rows)
        self.lookahead = max(self.call_rows, lookahead)
        self.in_flight: list[list] = [[] for _ in workers]
        self.pool: pa.Table | None = None

    @property
    def pooled(self) -> int:
        return self.pool.num_rows if self.pool is not None else 0

    def run(self, batches: Iterable[pa.Table]) -> None:
        for batch in batches:
            ok = pc.fill_null(pc.equal(batch.column("status"), OK), False)
            rest = batch.filter(pc.invert(ok))
            if rest.num_rows:
                self.sink(rest)
            todo = batch.filter(ok)
            if todo.num_rows:
                self.pool = todo if self.pool is None else pa.concat_tables([self.pool, todo])
            self._collect(block=False)
            while self.pooled and (self._free_worker() is not None or self.pooled >= self.lookahead):
                self._submit_from_pool()
        while self.pooled:
            self._submit_from_pool()
        while any(self.in_flight):
            self._collect(block=True)

    def _free_worker(self) -> int | None:
        w = min(range(len(self.workers)), key=lambda i: len(self.in_flight[i]))
        return w if len(self.in_flight[w]) < CALLS_PER_WORKER else None

    def _submit_from_pool(self) -> None:
        while (w := self._free_worker()) is None:
            self._collect(block=True)
        pool = interleave_sources(self.pool)
        call, rest = pool.slice(0, self.call_rows), pool.slice(self.call_rows)
        self.pool = rest if rest.num_rows else None
        self.in_flight[w].append(self.workers[w].process.remote(call))

    def _collect(self, block: bool) -> None:
        """Pass on the results of finished calls (with `block`, wait for at least one)."""
        import ray

        pending = [ref for calls in self.in_flight for ref in calls]
        if not pending:
            return
        ready, _ = ray.wait(pending, num_returns=1 if block else len(pending), timeout=None if block else 0,
                            fetch_local=True)
        for ref in ready:
            for calls in self.in_flight:
                if ref in calls:
                    calls.remove(ref)
            self.sink(results(ref))


def start_image_workers(fill: Fill, claim: Claim, store: Store, build_id: str, download: DownloadConfig,
                        dataset: DatasetConfig) -> list:
    """`download.concurrency` ImageWorker actors, spread over the nodes `download.label_selector`
    picks; each reserves `download.num_cpus` and serves CALLS_PER_WORKER calls at once."""
    import ray

    actor = ray.remote(ImageWorker).options(num_cpus=download.num_cpus, max_concurrency=CALLS_PER_WORKER,
                                            label_selector=download.label_selector, scheduling_strategy="SPREAD")
    return [actor.remote(fill, claim, ShardWriter(store, build_id, download.image_format, dataset.shard_size,
                                                  dataset.folds, dataset.fold_seed, dataset.caption_field))
            for _ in range(download.concurrency)]


def flush_image_workers(workers: list) -> list[dict[str, Any]]:
    """Write every worker's partial last shard (the driver calls this once the stream has ended)."""
    return results([w.flush.remote() for w in workers])
