"""`ilid dataset import`: a company's own labelled images become samples, exactly as a build makes them.

    folder class_name/*.jpg  or  table path,label[,...]  -> records (label_short = cleaned class name)
        -> stratified folds (driver) -> raw/<build>/<source>.parquet
        -> dedupe path -> image workers: read + normalise image (the build's codec) -> dedupe image -> shards
        ==> the build's accounting and commit: a new version, rejects with stage and reason

A sample's id is the uuid5 of `import://<source>/<path relative to the folder or table>`, so
importing the same folder again adds only the new files (growth works as for catalogs), and an
interrupted import resumes. Folds are stratified by label: each new sample goes to the fold where
its label has fewest samples so far (existing samples keep theirs), so a rare class is spread
over the folds instead of landing in one by chance.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections import Counter
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa

from ilid_ray import records
from ilid_ray.config import DownloadConfig, ImportConfig, ImportSource, StorageConfig, read_yaml
from ilid_ray.dataset.postfilter import clean_field
from ilid_ray.imaging import SUFFIXES, ImageError
from ilid_ray.storage import Store

log = logging.getLogger(__name__)

STAGE = "import"
TEXT_COLUMNS = ("label_long", "description", "material", "material_finish")


# --------------------------------------------------------------------------- records


def clean_label(name: str | None) -> str | None:
    """A folder or label name as label_short: `Surface_Scratch-2` -> `surface scratch 2`."""
    if name is None:
        return None
    value = clean_field(str(name).replace("_", " ").replace("-", " "), 1)
    return value.lower() if value else None


def split_location(location: str) -> tuple[str, str]:
    """`s3://b/p/x.jpg` or `/p/x.jpg` -> (parent root, file name), for a Store."""
    parent, _, name = location.rstrip("/").rpartition("/")
    return parent or "/", name


def listed_files(store: Store) -> list[str]:
    """Files under a folder, hidden ones (`.DS_Store`, `.git/`) left out."""
    return [rel for rel in store.list("") if not any(part.startswith(".") for part in rel.split("/"))]


def folder_entries(folder: str, storage: StorageConfig | None = None) -> list[dict[str, Any]]:
    """One entry per file: {rel, location, label}; the label is the first folder of its path
    (None for files directly in the folder: rejected later, never dropped)."""
    store = Store(folder, storage)
    out = []
    for rel in listed_files(store):
        parts = PurePosixPath(rel).parts
        out.append({"rel": rel, "location": store.uri(rel), "label": parts[0] if len(parts) > 1 else None})
    return out


def table_entries(table: str, source: ImportSource, storage: StorageConfig | None = None) -> list[dict[str, Any]]:
    """One entry per table row: {rel, location, label, optional text columns}."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from ilid_ray.dataset.manifest import arrow_owned

    parent, name = split_location(table)
    data = Store(parent, storage).get_bytes(name)
    tab = pq.read_table(arrow_owned(data)) if table.endswith(".parquet") else pcsv.read_csv(arrow_owned(data))
    missing = [c for c in (source.path_column, source.label_column) if c not in tab.column_names]
    if missing:
        raise ValueError(f"{table}: missing column(s) {missing}; it has {tab.column_names}")
    base = Store(parent, storage)
    out = []
    for row in tab.to_pylist():
        path = str(row.get(source.path_column) or "").strip()
        absolute = path.startswith("/") or "://" in path
        entry = {"rel": path, "location": path if absolute else base.uri(path),
                 "label": row.get(source.label_column)}
        entry.update({c: row.get(c) for c in TEXT_COLUMNS if row.get(c) is not None})
        out.append(entry)
    return out


def class_texts(path: str | None) -> dict[str, dict[str, str]]:
    """Per-class texts from YAML: `{class: description}` or `{class: {description: .., material: ..}}`;
    keys may be the folder name or the cleaned label."""
    if not path:
        return {}
    out = {}
    for key, value in read_yaml(path).items():
        texts = value if isinstance(value, dict) else {"description": value}
        unknown = set(texts) - set(TEXT_COLUMNS)
        if unknown:
            raise ValueError(f"{path}: class {key!r} has unknown fields {sorted(unknown)}; use {TEXT_COLUMNS}")
        out[clean_label(str(key))] = {k: str(v) for k, v in texts.items() if v is not None}
    return out


def import_row(entry: dict[str, Any], source: str, texts: dict[str, dict[str, str]], crawled_at: str) -> dict:
    """A listed image as a row of the build's shape; labelled already (no extraction stage)."""
    rel = entry["rel"]
    row = records.raw_row(f"import://{source}/{rel}", source, entry.get("label"), [], [entry["location"]],
                          crawled_at)
    label = clean_label(entry.get("label"))
    if not rel:
        return records.reject(row, STAGE, "empty path")
    if not label:
        return records.reject(row, STAGE, "no label (put the image in a class folder or fill the label column)")
    fields = {**texts.get(label, {}), **{c: entry[c] for c in TEXT_COLUMNS if entry.get(c)}}
    row.update(label_short=label, label_long=fields.get("label_long") or label,
               description=fields.get("description"), material=fields.get("material"),
               material_finish=fields.get("material_finish"))
    return row


# --------------------------------------------------------------------------- folds


def _order(seed: int, text: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{text}".encode()).digest()[:8], "big")


def assign_stratified_folds(rows: list[dict[str, Any]], existing: pa.Table, folds: int, seed: int = 0) -> None:
    """Fill `fold` of the ok rows, label by label: each row (in seeded hash order) joins the fold
    where its label has fewest samples, counting the existing manifest's; ties go round a
    per-label rotation. Rows already in the dataset are skipped (dedupe rejects them)."""
    known = set(existing.column("id").to_pylist())
    counts: dict[str, list[int]] = {}
    for label, fold in zip(existing.column("label_short").to_pylist(), existing.column("fold").to_pylist()):
        if fold is not None and 0 <= fold < folds:
            counts.setdefault(label, [0] * folds)[fold] += 1
    per_label: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if records.is_ok(row) and row["id"] not in known:
            per_label.setdefault(row["label_short"], []).append(row)
    for label, group in per_label.items():
        count = counts.setdefault(label, [0] * folds)
        start = _order(seed, label) % folds
        rotation = [(start + i) % folds for i in range(folds)]
        for row in sorted(group, key=lambda r: _order(seed, r["id"])):
            fold = min(rotation, key=lambda f: count[f])
            row["fold"] = fold
            count[fold] += 1


# --------------------------------------------------------------------------- image stage


def read_location(location: str, storage: StorageConfig | None = None) -> bytes:
    parent, name = split_location(location)
    return Store(parent, storage).get_bytes(name)


def read_images(rows: list[dict[str, Any]], cfg: DownloadConfig, storage: StorageConfig | None = None) -> list[dict]:
    """Read each ok row's file and normalise it as the build's download stage does; a missing or
    undecodable file rejects the row (stage "import") with the reason."""
    from ilid_ray.dataset.download import process_image

    for row in rows:
        if not records.is_ok(row):
            continue
        location = row["image_urls"][0]
        try:
            row.update(process_image(read_location(location, storage), cfg), image_url=location)
        except FileNotFoundError:
            records.reject(row, STAGE, "file not found")
        except ImageError as exc:
            records.reject(row, STAGE, exc.reason)
        except OSError as exc:
            records.reject(row, STAGE, f"cannot read: {type(exc).__name__}: {exc}"[:200])
    return rows


# --------------------------------------------------------------------------- the run


def list_rows(cfg: ImportConfig, crawled_at: str) -> list[dict[str, Any]]:
    source = cfg.source
    entries = (folder_entries(source.folder, cfg.storage) if source.folder
               else table_entries(source.table, source, cfg.storage))
    where = source.folder or source.table
    if not entries:
        raise FileNotFoundError(f"no images in {where} (expected class_name/*.jpg, or table rows)")
    if source.folder and not any(PurePosixPath(e["rel"]).suffix.lower() in SUFFIXES for e in entries):
        raise FileNotFoundError(f"no images in {where}: none of its {len(entries)} files is named like an image "
                                f"({', '.join(sorted(SUFFIXES))}); expected class_name/*.jpg")
    texts = class_texts(source.descriptions)
    return [import_row(e, source.name, texts, crawled_at) for e in entries]


def import_pipeline(cfg: ImportConfig, store: Store, raw_path: str, claim):
    """The lazy Ray Data dataset of an import's rows (the build's stages where they apply; the
    image workers read the files)."""
    from ilid_ray.dataset import dedupe
    from ilid_ray.dataset.pipeline import light_stage, read_raw

    return light_stage(read_raw(store, [raw_path], cfg.dataset), dedupe.dedupe_urls, claim=claim)


def run_import(cfg: ImportConfig, *, abandon_unfinished: bool = False):
    """Import `cfg.source` into the dataset at `cfg.dataset.root` and commit a version."""
    from ilid_ray.dataset import dedupe
    from ilid_ray.dataset.builds import Build, now_iso
    from ilid_ray.dataset.manifest import Versions, write_parquet
    from ilid_ray.dataset.image_workers import start_image_workers
    from ilid_ray.dataset.pipeline import consume_and_commit, on_driver_node
    from ilid_ray.runtime import init_ray

    rows = list_rows(cfg, now_iso())  # nothing to import: say so before starting Ray
    init_ray(cfg.ray)
    started = time.time()
    store = Store(cfg.dataset.root, cfg.storage)
    build = Build.start(store, [cfg.source.name], abandon_unfinished=abandon_unfinished)
    assign_stratified_folds(rows, Versions(store).manifest(), cfg.dataset.folds, cfg.dataset.fold_seed)
    raw_path = f"raw/{build.build_id}/{cfg.source.name}.parquet"
    write_parquet(store, records.to_table(rows), raw_path)
    log.info("import %s: %d files (%s) into %s", build.build_id, len(rows),
             dict(Counter(r["label_short"] for r in rows)), store.root)
    registry = dedupe.start_registry(build.known_keys(), cfg.dataset.registry_shards, **on_driver_node())
    workers = start_image_workers(functools.partial(read_images, cfg=cfg.download, storage=cfg.storage),
                                  registry.claim, store, build.build_id, cfg.download, cfg.dataset)
    ds = import_pipeline(cfg, store, raw_path, registry.claim)
    return consume_and_commit(ds, store, build, workers, list(registry.actors), crawled=len(rows), started=started,
                              crawl_s=time.time() - started, summary={}, version={"engine": "import"},
                              download=cfg.download)
