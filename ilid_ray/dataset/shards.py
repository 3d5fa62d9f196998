"""Build step 7: a batch of downloaded samples -> one WebDataset shard + its manifest fragment.

A shard's name is a hash of its sorted sample keys, its members are sorted and carry fixed
metadata, so the same samples always give byte-identical tars: a retried Ray task overwrites the
object it wrote before instead of adding a twin. The shard is staged locally and published
atomically; its manifest fragment is written only afterwards, so an existing fragment always
means a complete shard (the manifest step only trusts shards that have a fragment).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ilid_ray import records
from ilid_ray.storage import Store

# The `{key}.json` of every sample, in this order (the briefing's contract).
SAMPLE_FIELDS = (
    "id", "key", "url", "image_url", "source", "label_short", "label_long", "description",
    "material", "material_finish", "fold", "image_sha256", "orig_width", "orig_height", "width",
    "height", "model", "prompt_version", "fields_from_markup", "crawled_at", "build_id", "rights",
)
IMAGE_EXTENSIONS = ("jpg", "png")
CAPTION_EXTENSION = "txt"  # the caption open_clip's WebDataset trainer reads (dataset.caption_field)
MTIME = 946684800  # 2000-01-01: fixed so shards are reproducible


def shard_name(keys: list[str]) -> str:
    """Deterministic from content: the same samples always land in the same shard object."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:20]


def shard_path(build_id: str, name: str) -> str:
    return f"shards/{build_id}/{name}.tar"


def fragment_path(build_id: str, name: str) -> str:
    return f"fragments/{build_id}/{name}.parquet"


def sample_json(row: dict[str, Any], key: str, build_id: str) -> dict[str, Any]:
    values = dict(row, key=key, build_id=build_id)
    return {name: values.get(name) for name in SAMPLE_FIELDS}


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _checked(row: dict[str, Any], image_format: str, folds: int, fold_seed: int) -> dict[str, Any]:
    """Validate one downloaded row and fill `fold` when an earlier stage did not."""
    if not records.is_ok(row):
        raise ValueError(f"row {row.get('id')}: only ok rows go into shards ({row.get('status')})")
    if not row.get("image"):
        raise ValueError(f"row {row.get('id')}: no image bytes (run the download stage first)")
    ext = row.get("image_ext") or image_format
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"row {row.get('id')}: image extension {ext!r} is not one of {IMAGE_EXTENSIONS}")
    digest = hashlib.sha256(row["image"]).hexdigest()
    if row.get("image_sha256") not in (None, digest):
        raise ValueError(f"row {row.get('id')}: image_sha256 does not match the image bytes")
    fold = row.get("fold")
    if fold is None:
        fold = records.assign_fold(row["id"], folds, fold_seed)
    return dict(row, image_ext=ext, image_sha256=digest, fold=fold)


def write_shard(rows: list[dict[str, Any]], store: Store, build_id: str, image_format: str = "jpg",
                folds: int = 6, fold_seed: int = 0, caption_field: str | None = None) -> list[dict[str, Any]]:
    """Write the ok rows of one batch as ONE shard + fragment; return their manifest rows.

    Rows must carry image bytes (download stage). `fold` is kept if set, else assigned from the id
    with `folds`/`fold_seed`. The input rows get their `fold` and `shard` filled in place. With
    `caption_field`, a sample whose field has text also gets `{key}.txt` holding it (shards of
    older builds have none; every reader here ignores the member).
    """
    if not rows:
        return []
    checked = {records.sample_key(row["id"]): (row, _checked(row, image_format, folds, fold_seed))
               for row in rows}
    if len(checked) != len(rows):
        raise ValueError("duplicate sample ids in one shard")
    keys = sorted(checked)
    name = shard_name(keys)
    rel = shard_path(build_id, name)
    with store.staged(rel) as local:
        with tarfile.open(local, "w", format=tarfile.USTAR_FORMAT) as tar:
            for key in keys:
                row = checked[key][1]
                meta = json.dumps(sample_json(row, key, build_id), ensure_ascii=False, sort_keys=False)
                _add_member(tar, f"{key}.{row['image_ext']}", row["image"])
                _add_member(tar, f"{key}.json", meta.encode("utf-8"))
                caption = row.get(caption_field) if caption_field else None
                if caption:
                    _add_member(tar, f"{key}.{CAPTION_EXTENSION}", str(caption).encode("utf-8"))
    manifest = [manifest_row(checked[key][1], key, rel, build_id) for key in keys]
    with store.staged(fragment_path(build_id, name)) as local:
        pq.write_table(pa.Table.from_pylist(manifest, schema=records.MANIFEST_SCHEMA), local)
    for original, row in checked.values():
        original.update(fold=row["fold"], shard=rel)
    return manifest


def manifest_row(row: dict[str, Any], key: str, shard: str, build_id: str) -> dict[str, Any]:
    values = dict(row, key=key, shard=shard, build_id=build_id)
    return {name: values.get(name) for name in records.MANIFEST_SCHEMA.names}


def iter_shard(store: Store, rel: str) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
    """(key, image bytes, sample json) for each sample of a shard, streamed in tar order (other
    members, such as the caption, are skipped)."""
    with store.open_read(rel) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        pending: dict[str, dict[str, Any]] = {}
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.partition(".")
            if ext != "json" and ext not in IMAGE_EXTENSIONS:
                continue
            data = tar.extractfile(member).read()
            sample = pending.setdefault(key, {})
            sample["json" if ext == "json" else "image"] = json.loads(data) if ext == "json" else data
            if "json" in sample and "image" in sample:
                del pending[key]
                yield key, sample["image"], sample["json"]
        if pending:
            raise ValueError(f"{store.uri(rel)}: incomplete samples {sorted(pending)[:3]}")
