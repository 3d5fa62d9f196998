"""Global de-duplication by page URL and by image content, across workers and builds.

The key registry knows every id and image hash that is already in the dataset, and those written by
an interrupted attempt of the current build. Workers claim keys for their rows; the first claimant
wins, except for images: the same picture behind several pages goes to the smallest sample id
(the uuid5 of its page URL), whatever order the pages arrive in, so a build is a function of its
inputs (also across a resume). A smaller claimant displaces this build's holder; the displaced
sample may already be in a shard, and the commit drops it (`Build.commit`). Claims are idempotent per
owner, so a task that Ray retries re-claims its own keys instead of rejecting its own rows as
duplicates.

In a build the registry is `shards` `KeyRegistry` Ray actors (`start_registry`): a key lives on the
shard its stable hash (`shard_of`, blake2b) names, so growth past 10^7 keys does not funnel through
one process, and every claim of a key, from any worker, is decided by the one shard that holds it
(hence the same verdicts as one registry). `Registry` is the small picklable handle the stages get.
"""

from __future__ import annotations

from hashlib import blake2b
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from ilid_ray.records import RESUMED, is_ok, reject

STAGE = "dedupe"

IN_DATASET = "in dataset"
IN_BUILD = "written by an interrupted attempt of this build"
TAKEN = "taken in this build"
REMOVED = "removed"  # taken down by `ilid dataset remove` (removals.py): never added again

RANKED = frozenset({"sha256"})  # namespaces whose keys go to the smallest owner, not the first
DISPLACEABLE = (TAKEN, IN_BUILD)  # holders a smaller claimant may displace (published ones stay)

Claim = Callable[[str, list[str], list[str]], list[tuple[str, str] | None]]


class KeyRegistry:
    """Keys per namespace ("id", "sha256") -> (origin, owner id)."""

    def __init__(self, preloaded: dict[str, Iterable[tuple[str, str, str]]] | None = None):
        self._keys: dict[str, dict[str, tuple[str, str]]] = {"id": {}, "sha256": {}}
        self.load(preloaded or {})

    def load(self, preloaded: dict[str, Iterable[tuple[str, str, str]]]) -> int:
        """Add known entries (key, origin, owner); a key's first entry wins (a takedown comes first)."""
        added = 0
        for namespace, entries in preloaded.items():
            table = self._keys.setdefault(namespace, {})
            before = len(table)
            for key, origin, owner in entries:
                table.setdefault(key, (origin, owner))
            added += len(table) - before
        return added

    def claim(self, namespace: str, keys: list[str], owners: list[str]) -> list[tuple[str, str] | None]:
        """For each key: None if this owner holds it now, else (origin, owner) of who holds it. In a
        RANKED namespace a smaller owner takes a key over from this build's holder; a holder
        displaced within the same call is told so (its row is never written)."""
        table = self._keys.setdefault(namespace, {})
        ranked = namespace in RANKED
        out: list[tuple[str, str] | None] = []
        won_here: dict[str, int] = {}  # key -> position of this call's current holder
        for key, owner in zip(keys, owners):
            held = table.get(key)
            if held is None or (ranked and held[0] in DISPLACEABLE and owner < held[1]):
                table[key] = (TAKEN, owner)
                if key in won_here:
                    out[won_here[key]] = table[key]
                won_here[key] = len(out)
                out.append(None)
            elif held == (TAKEN, owner):
                out.append(None)
            else:
                out.append(held)
        return out

    def size(self, namespace: str) -> int:
        return len(self._keys.get(namespace, {}))


# --------------------------------------------------------------------------- sharding


def shard_of(key: str, shards: int) -> int:
    """The shard that holds `key`: blake2b of its UTF-8 bytes (the same in every process and run,
    unlike `hash()`), modulo `shards`."""
    if shards == 1:
        return 0
    return int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "big") % shards


def split_keys(keys: Sequence[str], owners: Sequence[str], shards: int,
               ) -> dict[int, tuple[list[int], list[str], list[str]]]:
    """A batch's claims by shard: shard -> (positions in the batch, its keys, their owners), keys in
    batch order (so a key twice in one batch reaches its shard twice, in order). Only shards with keys."""
    parts: dict[int, tuple[list[int], list[str], list[str]]] = {}
    routes = [shard_of(k, shards) for k in keys]
    for i, (shard, key, owner) in enumerate(zip(routes, keys, owners)):
        part = parts.get(shard)
        if part is None:
            part = parts[shard] = ([], [], [])
        part[0].append(i)
        part[1].append(key)
        part[2].append(owner)
    return parts


def merge_verdicts(positions: Iterable[list[int]], verdicts: Iterable[list], n: int) -> list:
    """The shards' verdicts back in batch order (`positions` as `split_keys` gave them)."""
    out: list = [None] * n
    for where, part in zip(positions, verdicts):
        for i, verdict in zip(where, part):
            out[i] = verdict
    return out


def preload_chunks(preloaded: dict[str, Iterable[tuple[str, str, str]]], shards: int, chunk: int,
                   ) -> Iterator[tuple[int, dict[str, list[tuple[str, str, str]]]]]:
    """A preload as (shard, part) pieces of at most `chunk` entries, each entry only in its key's
    shard; a shard's pieces come in the original order of its entries (so first-entry-wins holds)."""
    buffers: list[dict[str, list[tuple[str, str, str]]]] = [{} for _ in range(shards)]
    counts = [0] * shards
    for namespace, entries in preloaded.items():
        for entry in entries:
            s = shard_of(entry[0], shards)
            buffers[s].setdefault(namespace, []).append(entry)
            counts[s] += 1
            if counts[s] >= chunk:
                yield s, buffers[s]
                buffers[s], counts[s] = {}, 0
    for s in range(shards):
        if counts[s]:
            yield s, buffers[s]


@dataclass(frozen=True)
class Registry:
    """Handle on the sharded registry (picklable: it travels to every task of the stages). `claim`
    has the `Claim` signature: one remote call per involved shard per batch, all in flight together."""

    actors: tuple  # KeyRegistry actor handles; shard i holds the keys with shard_of(key, n) == i

    @property
    def shards(self) -> int:
        return len(self.actors)

    def claim(self, namespace: str, keys: list[str], owners: list[str]) -> list[tuple[str, str] | None]:
        import ray

        if len(self.actors) == 1:
            return ray.get(self.actors[0].claim.remote(namespace, list(keys), list(owners)))
        parts = split_keys(keys, owners, len(self.actors))
        refs = [self.actors[s].claim.remote(namespace, ks, os_) for s, (_, ks, os_) in parts.items()]
        return merge_verdicts((where for where, _, _ in parts.values()), ray.get(refs), len(keys))

    def size(self, namespace: str) -> int:
        import ray

        return sum(ray.get([a.size.remote(namespace) for a in self.actors]))

    def kill(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)


PRELOAD_CHUNK = 100_000  # entries per remote `load` call: no single huge argument, bounded driver copies


def start_registry(preloaded: dict[str, Iterable[tuple[str, str, str]]] | None, shards: int = 1,
                   chunk: int = PRELOAD_CHUNK, **actor_options) -> Registry:
    """Start `shards` KeyRegistry actors (num_cpus=0 unless `actor_options` say otherwise), send each
    only its own keys of `preloaded` (in chunks of `chunk` entries, original order kept), and return
    once every shard holds them: a claim never runs against a partly loaded registry."""
    import ray

    if shards < 1:
        raise ValueError(f"registry shards must be >= 1, not {shards}")
    actor = ray.remote(KeyRegistry).options(**{"num_cpus": 0, **actor_options})
    actors = tuple(actor.remote() for _ in range(shards))
    # one caller (this driver) per actor: its `load` calls run in the order they are sent
    pending = [actors[s].load.remote(part) for s, part in preload_chunks(preloaded or {}, shards, chunk)]
    ray.get([*pending, *(a.size.remote("id") for a in actors)])  # also: every actor is up
    return Registry(actors)


def record_owner(row: dict[str, Any]) -> str:
    """Who claims a URL: the crawled record itself, so only a retry of the same record re-claims."""
    return f"{row['source']}|{row['url']}|{row['crawled_at']}"


def dedupe_urls(rows: list[dict[str, Any]], claim: Claim,
                removed_sources: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """One sample per page URL: the id is the uuid5 of the URL, so claim ids. Pages of a source
    taken down as a whole (`removed_sources`) and taken-down URLs are rejected."""
    for row in rows:
        if is_ok(row) and row["source"] in removed_sources:
            reject(row, STAGE, "source removed from the dataset (takedown)")
    todo = [r for r in rows if is_ok(r)]
    if not todo:
        return rows
    verdicts = claim("id", [r["id"] for r in todo], [record_owner(r) for r in todo])
    for row, held in zip(todo, verdicts):
        if held is None:
            continue
        origin, _ = held
        if origin == REMOVED:
            reject(row, STAGE, "removed from the dataset (takedown)")
        elif origin == IN_BUILD:
            row["status"] = RESUMED
        elif origin == IN_DATASET:
            reject(row, STAGE, "URL already in the dataset")
        else:
            reject(row, STAGE, "duplicate URL in this build")
    return rows


def dedupe_images(rows: list[dict[str, Any]], claim: Claim) -> list[dict[str, Any]]:
    """One sample per image: the same picture behind two pages is kept once, under the smaller
    sample id (a row that loses here was claimed after a smaller one; one that wins may displace a
    larger one already written, which the commit then drops)."""
    todo = [r for r in rows if is_ok(r) and r.get("image_sha256")]
    if not todo:
        return rows
    verdicts = claim("sha256", [r["image_sha256"] for r in todo], [r["id"] for r in todo])
    for row, held in zip(todo, verdicts):
        if held is not None:
            origin, owner = held
            if origin == REMOVED:
                reject(row, STAGE, f"same image as removed sample {owner} (takedown)")
                continue
            where = "in the dataset" if origin == IN_DATASET else "in this build"
            reject(row, STAGE, f"same image as sample {owner} {where}")
    return rows
