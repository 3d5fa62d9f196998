"""Full shards from a stream: a few writer actors buffer accepted samples and publish a shard each
time `shard_size` of them have arrived; the driver flushes what is left when the stream ends.

Writing shards straight from Ray Data tasks would cut a shard at every task's last batch (and
rejected rows would count towards its size), leaving many small shards. Rows are routed to writers
by id, so a task that Ray retries sends its rows to the same writer again, which drops the repeats.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ilid_ray.records import is_ok
from ilid_ray.dataset.shards import write_shard
from ilid_ray.storage import Store


class ShardWriter:
    """Buffers accepted rows (with image bytes) and writes them as shards of `shard_size`."""

    def __init__(self, store: Store, build_id: str, image_format: str, shard_size: int, folds: int,
                 fold_seed: int):
        self.store, self.build_id, self.image_format = store, build_id, image_format
        self.shard_size, self.folds, self.fold_seed = shard_size, folds, fold_seed
        self.buffer: list[dict[str, Any]] = []
        self.seen: set[str] = set()

    def add(self, rows: list[dict[str, Any]]) -> int:
        """Take rows; publish every full shard. Returns how many rows were new to this writer."""
        fresh = [r for r in rows if r["id"] not in self.seen]
        self.seen.update(r["id"] for r in fresh)
        self.buffer.extend(fresh)
        while len(self.buffer) >= self.shard_size:
            self._write(self.buffer[:self.shard_size])
            del self.buffer[:self.shard_size]
        return len(fresh)

    def flush(self) -> None:
        """Publish the remainder (a last, partial shard)."""
        if self.buffer:
            self._write(self.buffer)
            self.buffer = []

    def _write(self, rows: list[dict[str, Any]]) -> None:
        write_shard(rows, self.store, self.build_id, self.image_format, self.folds, self.fold_seed)


def writer_for(sample_id: str, writers: int) -> int:
    """A stable writer index per sample, so retries reach the writer that has seen the row."""
    return int.from_bytes(hashlib.blake2b(sample_id.encode(), digest_size=4).digest(), "big") % writers


def send_to_writers(rows: list[dict[str, Any]], writers: list) -> list[dict[str, Any]]:
    """Hand accepted rows to their writers (waiting for them: backpressure); then drop image bytes
    from every row, so only light rows travel on to the driver."""
    import ray

    routed: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if is_ok(row):
            routed.setdefault(writer_for(row["id"], len(writers)), []).append(row)
    ray.get([writers[i].add.remote(batch) for i, batch in routed.items()])
    for row in rows:
        row["image"] = None
    return rows
