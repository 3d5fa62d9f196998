"""Dataset versions: immutable manifests, one per committed build, and a LATEST pointer.

    manifest/v0003.parquet   every sample of version 3 (one row per sample)
    versions/v0003.json      what build 3 did: catalogs, added/rejected counts, model, prompt, shards
    LATEST                   "v0003"

A version only ever adds samples and shards; shards of older versions are never rewritten, so any
version can be read or exported later exactly as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ilid_ray.records import MANIFEST_SCHEMA, conform
from ilid_ray.storage import Store

LATEST = "LATEST"


def version_name(number: int) -> str:
    return f"v{number:04d}"


def parse_version(name: str | int) -> int:
    if isinstance(name, int):
        return name
    text = str(name).strip().lstrip("vV")
    if not text.isdigit():
        raise ValueError(f"not a dataset version: {name!r} (expected e.g. v0003 or 3)")
    return int(text)


def arrow_owned(data: bytes) -> pa.BufferReader:
    """A reader over a copy of `data` in Arrow's own memory.

    Arrow's reader threads may drop the last reference to their input after Python began to shut
    down; if that input wraps a Python object (a `bytes` buffer, a file object), its destructor
    takes the GIL from a thread the interpreter is ending, and the process aborts at exit
    ("terminate called without an active exception", exit 134). Memory Arrow owns needs no GIL.
    """
    sink = pa.BufferOutputStream()
    sink.write(data)
    return pa.BufferReader(sink.getvalue())


def read_parquet(store: Store, rel: str) -> pa.Table:
    return pq.read_table(arrow_owned(store.get_bytes(rel)))


def write_parquet(store: Store, table: pa.Table, rel: str) -> None:
    with store.staged(rel) as path:
        pq.write_table(table, path, compression="zstd")


def write_json(store: Store, data: dict[str, Any], rel: str) -> None:
    store.put_bytes(json.dumps(data, indent=2, sort_keys=True, default=str).encode(), rel)


def read_json(store: Store, rel: str) -> dict[str, Any]:
    return json.loads(store.get_bytes(rel))


@dataclass(frozen=True)
class Versions:
    """Read access to a dataset's versions."""

    store: Store

    def latest(self) -> int | None:
        try:
            return parse_version(self.store.get_bytes(LATEST).decode())
        except FileNotFoundError:
            return None

    def resolve(self, version: str | int | None) -> int:
        latest = self.latest()
        if latest is None:
            raise FileNotFoundError(f"{self.store.root} has no committed dataset version yet: build one "
                                    "there first (`ilid build`) or check --root")
        number = latest if version in (None, "latest") else parse_version(version)
        if not 1 <= number <= latest:
            raise FileNotFoundError(f"{self.store.root} has no version {version_name(number)} "
                                    f"(versions v0001..{version_name(latest)}; see `ilid dataset history`)")
        return number

    def manifest(self, version: str | int | None = None) -> pa.Table:
        """The manifest of a version (default latest); an empty table if nothing is committed."""
        if version is None and self.latest() is None:
            return MANIFEST_SCHEMA.empty_table()
        return conform(read_parquet(self.store, f"manifest/{version_name(self.resolve(version))}.parquet"),
                       MANIFEST_SCHEMA)

    def record(self, version: str | int | None = None) -> dict[str, Any]:
        return read_json(self.store, f"versions/{version_name(self.resolve(version))}.json")

    def history(self) -> list[dict[str, Any]]:
        """Every committed version's record, oldest first (uncommitted leftovers ignored)."""
        latest = self.latest() or 0
        return [self.record(n) for n in range(1, latest + 1)]

    def shards(self, version: str | int | None = None) -> list[str]:
        """Relative paths of the shards that make up a version."""
        table = self.manifest(version)
        return sorted(set(table.column("shard").to_pylist()))


def current_shards(store: Store) -> list[str]:
    """Shards of the latest version (what training and evaluation read)."""
    return Versions(store).shards()


def diff(store: Store, old: str | int, new: str | int) -> dict[str, Any]:
    """What `new` has that `old` has not (versions only add), per source and in total."""
    versions = Versions(store)
    old_ids = set(versions.manifest(old).column("id").to_pylist())
    table = versions.manifest(new)
    added = [i for i, sid in enumerate(table.column("id").to_pylist()) if sid not in old_ids]
    new_ids = set(table.column("id").to_pylist())
    sources = table.column("source").to_pylist()
    shards = table.column("shard").to_pylist()
    per_source: dict[str, int] = {}
    for i in added:
        per_source[sources[i]] = per_source.get(sources[i], 0) + 1
    return {
        "old": version_name(versions.resolve(old)), "new": version_name(versions.resolve(new)),
        "added": len(added), "removed": len(old_ids - new_ids), "added_per_source": per_source,
        "shards_added": sorted({shards[i] for i in added}),
    }


def overlaps(a: Store, b: Store) -> bool:
    """Whether one root is the other or lies inside it."""
    if a.is_s3 != b.is_s3 or a.bucket != b.bucket:
        return False
    x, y = a.prefix.rstrip("/") + "/", b.prefix.rstrip("/") + "/"
    return x.startswith(y) or y.startswith(x) or not a.prefix or not b.prefix


def export_version(store: Store, version: str | int | None, target: Store, *,
                   overwrite: bool = False) -> dict[str, Any]:
    """Copy one version (its shards, manifest and record) to another root, as version 1 there,
    without the samples the removal list took down (removals.py). The target must be empty;
    `overwrite` first deletes what it holds. Never onto or inside the source (nor the source
    inside it)."""
    from ilid_ray.dataset.removals import copy_shard_keeping, export_plan

    if overlaps(store, target):
        raise ValueError(f"cannot export {store.root} onto {target.root}: one root is or contains the other; "
                         "pick a separate --to")
    versions = Versions(store)
    number = versions.resolve(version)
    manifest, plan = export_plan(store, versions.manifest(number))  # takedowns are never exported
    shards = list(plan)
    existing = target.list()
    if existing and not overwrite:
        raise FileExistsError(f"{target.root} is not empty ({len(existing)} objects, e.g. {existing[0]}); "
                              "export into an empty root, or pass --overwrite to delete what it holds first")
    for rel in existing:
        target.delete(rel)
    for rel, keep in plan.items():
        if keep is not None:
            copy_shard_keeping(store, rel, keep, target)
            continue
        with target.staged(rel) as path:
            store.download(rel, path)
    write_parquet(target, manifest, f"manifest/{version_name(1)}.parquet")
    record = dict(versions.record(number), exported_from={"root": store.root, "version": version_name(number)})
    record["version"], record["total"] = version_name(1), manifest.num_rows
    write_json(target, record, f"versions/{version_name(1)}.json")
    target.put_bytes(version_name(1).encode(), LATEST)
    return {"version": version_name(number), "shards": len(shards), "target": target.root}
