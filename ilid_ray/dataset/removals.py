"""Takedowns: `ilid dataset remove` and the removal list every later build and export consults.

A removal commits a new version whose manifest omits the removed samples; shards are never
rewritten (older versions stay readable as they were), and training reads only the manifest's
keys. The removal list (`removals.parquet` in the root) remembers what was taken down:

* a later build rejects those page URLs and images at stage "dedupe" (the KeyRegistry is preloaded
  with them), and every page of a removed source (`--source`), so nothing comes back;
* `dataset export` leaves them out of whatever version it exports, shards included (a shard that
  holds a removed sample is copied without it).

A URL that is not in the dataset yet can be removed too: it is listed, so no build adds it.
"""

from __future__ import annotations

import io
import tarfile
from collections import defaultdict
from typing import Any, Iterable

import pyarrow as pa

from ilid_ray.dataset.manifest import LATEST, Versions, read_parquet, version_name, write_json, write_parquet
from ilid_ray.dataset.stats import unique_counts
from ilid_ray.records import MANIFEST_SCHEMA, record_id
from ilid_ray.storage import Store

REMOVALS = "removals.parquet"
STAGE_REASON = "removed from the dataset (takedown)"
REMOVAL_SCHEMA = pa.schema([
    ("id", pa.string()),  # the page URL's sample id (null for a source-wide entry)
    ("url", pa.string()),
    ("source", pa.string()),
    ("scope", pa.string()),  # "url" (one page) or "source" (every page of a catalog)
    ("image_sha256", pa.string()),
    ("shard", pa.string()),
    ("key", pa.string()),
    ("version", pa.string()),  # the version the removal committed
    ("removed_at", pa.string()),
])


class RemovalError(ValueError):
    """The removal request cannot be carried out as given (nothing is changed)."""


def removal_list(store: Store) -> pa.Table:
    if not store.exists(REMOVALS):
        return REMOVAL_SCHEMA.empty_table()
    return read_parquet(store, REMOVALS).cast(REMOVAL_SCHEMA)


def removed_sources(store: Store) -> frozenset[str]:
    """Catalogs taken down as a whole: no build adds any page of theirs again."""
    table = removal_list(store)
    return frozenset(s for s, scope in zip(table.column("source").to_pylist(), table.column("scope").to_pylist())
                     if s and scope == "source")


def registry_preload(store: Store, origin: str) -> dict[str, list[tuple[str, str, str]]]:
    """Removed ids and image hashes for the KeyRegistry, tagged with `origin`."""
    table = removal_list(store)
    ids, hashes = table.column("id").to_pylist(), table.column("image_sha256").to_pylist()
    return {"id": [(i, origin, "") for i in ids if i],
            "sha256": [(h, origin, i or "") for h, i in zip(hashes, ids) if h]}


def without_removed(table: pa.Table, store: Store) -> pa.Table:
    """Manifest rows whose id, image or source was not taken down."""
    removals = removal_list(store)
    if removals.num_rows == 0:
        return table
    ids = {i for i in removals.column("id").to_pylist() if i}
    hashes = {h for h in removals.column("image_sha256").to_pylist() if h}
    sources = removed_sources(store)
    keep = [sid not in ids and digest not in hashes and source not in sources for sid, digest, source in zip(
        table.column("id").to_pylist(), table.column("image_sha256").to_pylist(), table.column("source").to_pylist())]
    return table.filter(pa.array(keep, type=pa.bool_()))


def read_url_file(text: str) -> list[str]:
    """One URL a line; blank lines and `#` comments skipped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def remove(store: Store, urls: Iterable[str] = (), sources: Iterable[str] = (), now: str | None = None) -> dict[str, Any]:
    """Commit a version without the samples of `urls` and of `sources`, and list them as removed."""
    from ilid_ray.dataset.builds import now_iso

    urls, sources = list(dict.fromkeys(u.strip() for u in urls if u.strip())), sorted(set(sources))
    if not urls and not sources:
        raise RemovalError("nothing to remove: give --url, --source or --from-file")
    bad = [u for u in urls if not u.lower().startswith(("http://", "https://"))]
    if bad:
        raise RemovalError(f"not page URLs (http/https): {bad[:3]}")
    versions = Versions(store)
    parent = versions.latest()
    if parent is None:
        raise RemovalError(f"{store.root} has no committed version to remove samples from")
    manifest, record = versions.manifest(parent), versions.record(parent)
    known_sources = set(manifest.column("source").to_pylist()) | set(record.get("catalogs", []))
    unknown = [s for s in sources if s not in known_sources]
    if unknown:
        raise RemovalError(f"sources not in {store.root}: {unknown} (known: {sorted(known_sources)})")
    wanted_ids = {record_id(u): u for u in urls}
    ids, srcs = manifest.column("id").to_pylist(), manifest.column("source").to_pylist()
    hit = [sid in wanted_ids or src in sources for sid, src in zip(ids, srcs)]
    removed = manifest.filter(pa.array(hit, type=pa.bool_()))
    kept = manifest.filter(pa.array([not h for h in hit], type=pa.bool_()))
    now = now or now_iso()
    name = version_name(parent + 1)

    entries = [{"id": r["id"], "url": r["url"], "source": r["source"],
                "scope": "source" if r["source"] in sources and r["id"] not in wanted_ids else "url",
                "image_sha256": r["image_sha256"], "shard": r["shard"], "key": r["key"],
                "version": name, "removed_at": now} for r in removed.to_pylist()]
    in_dataset = set(removed.column("id").to_pylist())
    entries += [{"id": sid, "url": url, "source": None, "scope": "url", "image_sha256": None, "shard": None,
                 "key": None, "version": name, "removed_at": now}
                for sid, url in wanted_ids.items() if sid not in in_dataset]
    entries += [{"id": None, "url": None, "source": s, "scope": "source", "image_sha256": None, "shard": None,
                 "key": None, "version": name, "removed_at": now} for s in sources]
    listed = pa.concat_tables([removal_list(store), pa.Table.from_pylist(entries, schema=REMOVAL_SCHEMA)])
    write_parquet(store, listed, REMOVALS)  # first: a crash after it only leaves the list ahead
    write_parquet(store, kept, f"manifest/{name}.parquet")
    summary = {"urls": len(urls), "sources": sources, "removed": removed.num_rows,
               "urls_not_in_dataset": len(wanted_ids) - len(in_dataset & set(wanted_ids))}
    new_record = {
        "version": name, "parent": version_name(parent), "build_id": None, "catalogs": record.get("catalogs", []),
        "created_at": now, "resumed": False, "added": 0, "removed": removed.num_rows, "total": kept.num_rows,
        "rejected": 0, "rejected_per_stage": {}, "shards_added": [], "engine": record.get("engine"),
        "models": record.get("models", []), "prompt_versions": record.get("prompt_versions", []),
        "opt_outs": record.get("opt_outs", {}), "removal": summary, "dataset": unique_counts(kept),
    }
    write_json(store, new_record, f"versions/{name}.json")
    store.put_bytes(name.encode(), LATEST)
    return {"version": name, **summary, "total": kept.num_rows}


def export_plan(store: Store, manifest: pa.Table) -> tuple[pa.Table, dict[str, set[str] | None]]:
    """What an export of `manifest` ships: the manifest without taken-down samples, and per shard
    None (copy it whole) or the keys to keep (it holds a removed sample: copy it without)."""
    kept = without_removed(manifest, store).cast(MANIFEST_SCHEMA)
    touched = {s for s in removal_list(store).column("shard").to_pylist() if s}
    keys: dict[str, set[str]] = defaultdict(set)
    for shard, key in zip(kept.column("shard").to_pylist(), kept.column("key").to_pylist()):
        keys[shard].add(key)
    return kept, {shard: (members if shard in touched else None) for shard, members in sorted(keys.items())}


def copy_shard_keeping(store: Store, rel: str, keep: set[str], target: Store) -> None:
    """Copy a shard to `target` with only the members of the `keep` keys, byte for byte (the
    shard in `store` is never touched)."""
    with store.open_read(rel) as stream, tarfile.open(fileobj=stream, mode="r|") as tar, \
            target.staged(rel) as local, tarfile.open(local, "w", format=tarfile.USTAR_FORMAT) as out:
        for member in tar:
            if member.isfile() and member.name.partition(".")[0] in keep:
                out.addfile(member, io.BytesIO(tar.extractfile(member).read()))
