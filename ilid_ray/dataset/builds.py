"""A build's life: start (or resume an interrupted one), adopt finished shards, commit a version.

Crash safety comes from three facts: a shard is published atomically, its fragment (the manifest
rows of that shard) is written only after the shard, and nothing is visible to readers until the
commit writes a new manifest and moves LATEST. A build killed at any point leaves a `running`
build record; the next `ilid build` resumes it: finished crawls are reused, finished shards are
adopted through their fragments, everything else is recomputed, and the commit de-duplicates by
id and image hash once more. Commit steps are idempotent, so a crash during commit is safe too.

One writer per dataset at a time: the build holds the root's writer lease (`lease.py`) from before
it starts or resumes until after it commits, and checks it once more before committing.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from ilid_ray.dataset import removals
from ilid_ray.dataset.dedupe import IN_BUILD, IN_DATASET, REMOVED, STAGE
from ilid_ray.dataset.manifest import (LATEST, Versions, read_json, read_parquet, version_name, write_json,
                                       write_parquet)
from ilid_ray.records import MANIFEST_SCHEMA, REJECT_SCHEMA, conform
from ilid_ray.dataset.stats import unique_counts
from ilid_ray.storage import Store


class BuildConflict(RuntimeError):
    """An unfinished build of other catalogs blocks this one."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_build_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass
class Build:
    store: Store
    build_id: str
    catalogs: list[str]
    parent: int | None
    resumed: bool = False
    record: dict[str, Any] = field(default_factory=dict)
    lease: Any = None  # the root's WriterLease, held by whoever runs this build

    @property
    def record_path(self) -> str:
        return f"builds/{self.build_id}.json"

    # ---------------------------------------------------------------- start / resume

    @classmethod
    def start(cls, store: Store, catalogs: list[str], *, abandon_unfinished: bool = False) -> Build:
        """Resume the unfinished build of the same catalogs, or start a new one."""
        versions = Versions(store)
        for rel in store.list("builds"):
            record = read_json(store, rel)
            if record.get("status") != "running":
                continue
            if record["build_id"] == _latest_build_id(versions):
                _mark(store, record, status="committed")  # crashed between LATEST and the record
                continue
            if sorted(record["catalogs"]) == sorted(catalogs):
                build = cls(store, record["build_id"], record["catalogs"], versions.latest(), True, record)
                build.record["resumed_at"] = now_iso()
                write_json(store, build.record, build.record_path)
                return build
            if not abandon_unfinished:
                raise BuildConflict(
                    f"{store.root} has an unfinished build {record['build_id']} of catalogs "
                    f"{record['catalogs']}; rerun it with those catalogs to finish it, or pass "
                    "--abandon-unfinished to discard its partial shards")
            cls(store, record["build_id"], record["catalogs"], None, record=record).abandon()
        build = cls(store, new_build_id(), sorted(catalogs), versions.latest())
        build.record = {"build_id": build.build_id, "catalogs": build.catalogs, "status": "running",
                        "started_at": now_iso(), "parent": build.parent and version_name(build.parent)}
        write_json(store, build.record, build.record_path)
        return build

    def abandon(self) -> None:
        for prefix in (f"shards/{self.build_id}", f"fragments/{self.build_id}", f"raw/{self.build_id}",
                       f"reports/{self.build_id}"):
            for rel in self.store.list(prefix):
                self.store.delete(rel)
        _mark(self.store, self.record, status="abandoned", abandoned_at=now_iso())

    # ---------------------------------------------------------------- what already exists

    def fragments(self) -> pa.Table:
        """Manifest rows of the shards this build has finished so far (all attempts)."""
        parts = [read_parquet(self.store, rel) for rel in self.store.list(f"fragments/{self.build_id}")
                 if rel.endswith(".parquet")]
        parts = [conform(part, MANIFEST_SCHEMA) for part in parts]
        return pa.concat_tables(parts) if parts else MANIFEST_SCHEMA.empty_table()

    def known_keys(self) -> dict[str, list[tuple[str, str, str]]]:
        """Preload for the KeyRegistry: ids and image hashes of the dataset and of adopted shards."""
        preload: dict[str, list[tuple[str, str, str]]] = {"id": [], "sha256": []}
        for table, origin in ((Versions(self.store).manifest(), IN_DATASET), (self.fragments(), IN_BUILD)):
            ids = table.column("id").to_pylist()
            preload["id"].extend((i, origin, "") for i in ids)
            preload["sha256"].extend((h, origin, i) for h, i in zip(table.column("image_sha256").to_pylist(), ids))
        for namespace, entries in removals.registry_preload(self.store, REMOVED).items():
            preload[namespace] = entries + preload[namespace]  # a takedown outranks every other origin
        return preload

    # ---------------------------------------------------------------- commit

    def commit(self, rejects: pa.Table, stats: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
        """Publish a new version: previous manifest + this build's fragments, de-duplicated."""
        if self.lease is not None:
            self.lease.check()
        versions = Versions(self.store)
        previous = versions.manifest()
        fragments = self.fragments()
        self._delete_orphan_shards(set(fragments.column("shard").to_pylist()))
        added, displaced = _new_samples(previous, fragments)
        added = removals.without_removed(added, self.store)
        self._drop_displaced(displaced, added)
        manifest = pa.concat_tables([previous.cast(MANIFEST_SCHEMA), added])
        number = (versions.latest() or 0) + 1
        name = version_name(number)

        rejects = _unique_rejects(pa.concat_tables([rejects.cast(REJECT_SCHEMA), _displaced_rejects(displaced)]))
        stats = _count_displaced(stats, displaced.num_rows)
        write_parquet(self.store, rejects, f"rejects/{self.build_id}.parquet")
        write_parquet(self.store, manifest, f"manifest/{name}.parquet")
        per_stage: dict[str, int] = {}
        for stage in rejects.column("stage").to_pylist():
            per_stage[stage] = per_stage.get(stage, 0) + 1
        record = {
            "version": name, "parent": version_name(number - 1) if number > 1 else None,
            "build_id": self.build_id, "catalogs": self.catalogs, "created_at": now_iso(),
            "resumed": self.resumed, "added": added.num_rows, "total": manifest.num_rows,
            "rejected": rejects.num_rows, "rejected_per_stage": per_stage,
            "shards_added": sorted(set(added.column("shard").to_pylist())),
            **provenance, "stats": stats, "dataset": unique_counts(manifest),
        }
        write_json(self.store, record, f"versions/{name}.json")
        write_json(self.store, {**stats, "dataset": record["dataset"]}, f"stats/{self.build_id}.json")
        self.store.put_bytes(name.encode(), LATEST)
        _mark(self.store, self.record, status="committed", version=name, committed_at=now_iso())
        return record

    def _drop_displaced(self, displaced: pa.Table, added: pa.Table) -> None:
        """Rewrite this build's shards that hold a displaced sample without it (atomically, each
        shard alone: a crash here leaves old or new shards, and the next commit drops the same
        samples again), so the shards still hold exactly the manifest; one left empty is deleted."""
        for shard in sorted(set(displaced.column("shard").to_pylist())):
            keep = {k for s, k in zip(added.column("shard").to_pylist(), added.column("key").to_pylist()) if s == shard}
            if keep:
                removals.copy_shard_keeping(self.store, shard, keep, self.store)
            else:
                self.store.delete(shard)

    def _delete_orphan_shards(self, finished: set[str]) -> None:
        """A shard without a fragment was cut off before its fragment was written; its samples were
        written again by a later attempt, so the orphan would only be a hidden duplicate."""
        for rel in self.store.list(f"shards/{self.build_id}"):
            if rel not in finished:
                self.store.delete(rel)


def _latest_build_id(versions: Versions) -> str | None:
    return versions.record().get("build_id") if versions.latest() else None


def _mark(store: Store, record: dict[str, Any], **changes: Any) -> None:
    record.update(changes)
    write_json(store, record, f"builds/{record['build_id']}.json")


def _new_samples(previous: pa.Table, fragments: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The fragment rows whose id and image are not in the previous manifest, one per id and per
    image, and those displaced by a smaller sample id with the same image (with `winner`: its id).
    Decided on the sorted ids, so the same fragments give the same samples in any order."""
    seen_ids = set(previous.column("id").to_pylist())
    seen_hashes = set(previous.column("image_sha256").to_pylist())
    fragments = fragments.sort_by([("id", "ascending"), ("shard", "ascending"), ("key", "ascending")])
    winner_of: dict[str, str] = {}
    keep, lost, winners = [], [], []
    for i, (sid, digest) in enumerate(zip(fragments.column("id").to_pylist(),
                                          fragments.column("image_sha256").to_pylist())):
        fresh = sid not in seen_ids and digest not in seen_hashes
        keep.append(fresh)
        if fresh:
            winner_of[digest] = sid
        elif sid not in seen_ids and digest in winner_of:
            lost.append(i)
            winners.append(winner_of[digest])
        seen_ids.add(sid)
        seen_hashes.add(digest)
    added = fragments.filter(pa.array(keep, type=pa.bool_())).sort_by([("shard", "ascending"), ("key", "ascending")])
    displaced = fragments.take(pa.array(lost, type=pa.int64())).append_column("winner", pa.array(winners, pa.string()))
    return added.cast(MANIFEST_SCHEMA), displaced


def _displaced_rejects(displaced: pa.Table) -> pa.Table:
    rows = [{"id": r["id"], "url": r["url"], "source": r["source"], "stage": STAGE, "label": r["label_short"],
             "reason": f"same image as sample {r['winner']} in this build (the smaller sample id is kept)",
             "image_url": r["image_url"], "llm_raw": None, "build_id": r["build_id"]} for r in displaced.to_pylist()]
    return pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)


def _count_displaced(stats: dict[str, Any], n: int) -> dict[str, Any]:
    """The stream counted displaced samples as accepted; the version counts them as dedupe rejects."""
    if not n or "accepted" not in stats:
        return stats
    per_stage = dict(stats.get("rejected_per_stage", {}))
    per_stage[STAGE] = per_stage.get(STAGE, 0) + n
    return {**stats, "accepted": stats["accepted"] - n, "rejected": stats.get("rejected", 0) + n,
            "displaced": n, "rejected_per_stage": per_stage}


def _unique_rejects(rejects: pa.Table) -> pa.Table:
    """A record rejected again by a resumed attempt is listed once."""
    seen: set[tuple] = set()
    first = []
    columns = [rejects.column(c).to_pylist() for c in ("id", "stage", "reason")]
    for i, key in enumerate(zip(*columns)):
        if key not in seen:
            seen.add(key)
            first.append(i)
    return rejects.take(pa.array(first, type=pa.int64()))
