"""Global de-duplication by page URL and by image content, across workers and builds.

A single `KeyRegistry` (a Ray actor in the build) knows every id and image hash that is already
in the dataset, and those written by an interrupted attempt of the current build. Workers claim
keys for their rows; the first claimant wins. Claims are idempotent per owner, so a task that Ray
retries re-claims its own keys instead of rejecting its own rows as duplicates.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ilid_ray.records import RESUMED, is_ok, reject

STAGE = "dedupe"

IN_DATASET = "in dataset"
IN_BUILD = "written by an interrupted attempt of this build"
TAKEN = "taken in this build"
REMOVED = "removed"  # taken down by `ilid dataset remove` (removals.py): never added again

Claim = Callable[[str, list[str], list[str]], list[tuple[str, str] | None]]


class KeyRegistry:
    """Keys per namespace ("id", "sha256") -> (origin, owner id)."""

    def __init__(self, preloaded: dict[str, Iterable[tuple[str, str, str]]] | None = None):
        self._keys: dict[str, dict[str, tuple[str, str]]] = {"id": {}, "sha256": {}}
        for namespace, entries in (preloaded or {}).items():
            table = self._keys.setdefault(namespace, {})
            for key, origin, owner in entries:
                table.setdefault(key, (origin, owner))

    def claim(self, namespace: str, keys: list[str], owners: list[str]) -> list[tuple[str, str] | None]:
        """For each key: None if this owner holds it now, else (origin, owner) of who had it."""
        table = self._keys.setdefault(namespace, {})
        out: list[tuple[str, str] | None] = []
        for key, owner in zip(keys, owners):
            held = table.get(key)
            if held is None:
                table[key] = (TAKEN, owner)
                out.append(None)
            elif held == (TAKEN, owner):
                out.append(None)
            else:
                out.append(held)
        return out

    def size(self, namespace: str) -> int:
        return len(self._keys.get(namespace, {}))


def actor_claim(handle) -> Claim:
    """Adapt a KeyRegistry actor handle to the plain `claim` callable the stages take."""
    import ray

    return lambda namespace, keys, owners: ray.get(handle.claim.remote(namespace, keys, owners))


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
    """One sample per image: the same picture behind two pages is kept once."""
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
