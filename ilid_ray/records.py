"""The one row shape that flows through the build, and the helpers every stage shares.

Every input record leaves the build exactly once: as a sample in a shard, or as a reject with
the stage and reason that stopped it (img2dataset's habit). A rejected row keeps flowing through
the later stages untouched, so the pipeline is a plain chain of `rows -> rows` functions and
`accepted + rejected == crawled` holds by construction.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import urldefrag

import pyarrow as pa

OK = "ok"
REJECTED = "rejected"
RESUMED = "resumed"  # already written to a shard by an interrupted attempt of the same build

FIELDS = ("label_long", "label_short", "description", "material", "material_finish")

ROW_SCHEMA = pa.schema([
    # crawl
    ("id", pa.string()),  # uuid5 of the page URL: stable across re-crawls and rebuilds
    ("url", pa.string()),
    ("source", pa.string()),
    ("crawled_at", pa.string()),
    ("image_urls", pa.list_(pa.string())),
    ("label", pa.string()),
    ("data", pa.list_(pa.string())),
    ("found_by", pa.string()),  # the reader that found the product: json-ld, microdata, heuristic, ...
    ("rights", pa.string()),  # the page's licence / rights statement (schema.org license, rel=license)
    # status
    ("status", pa.string()),
    ("reject_stage", pa.string()),
    ("reject_reason", pa.string()),
    # extraction
    ("label_long", pa.string()),
    ("label_short", pa.string()),
    ("description", pa.string()),
    ("material", pa.string()),
    ("material_finish", pa.string()),
    ("llm_raw", pa.string()),
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    ("fields_from_markup", pa.list_(pa.string())),  # fields taken from the page's markup, not the model
    # download
    ("image_url", pa.string()),
    ("image", pa.binary()),
    ("image_ext", pa.string()),
    ("image_sha256", pa.string()),
    ("orig_width", pa.int32()),
    ("orig_height", pa.int32()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    # shards
    ("fold", pa.int32()),
    ("shard", pa.string()),
])

RAW_COLUMNS = ("id", "url", "source", "crawled_at", "image_urls", "label", "data", "found_by", "rights")

REJECT_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("url", pa.string()),
    ("source", pa.string()),
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("label", pa.string()),
    ("image_url", pa.string()),
    ("llm_raw", pa.string()),
    ("build_id", pa.string()),
])

MANIFEST_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("key", pa.string()),  # WebDataset key inside the shard
    ("shard", pa.string()),  # path of the shard relative to the dataset root
    ("url", pa.string()),
    ("image_url", pa.string()),
    ("image_sha256", pa.string()),
    ("label_short", pa.string()),
    ("label_long", pa.string()),
    ("description", pa.string()),
    ("material", pa.string()),
    ("material_finish", pa.string()),
    ("source", pa.string()),
    ("fold", pa.int32()),
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    ("build_id", pa.string()),
    ("rights", pa.string()),
])


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` in `schema`: columns it lacks (written before they existed, e.g. `rights`) become
    nulls, so tables of older versions still concatenate with new ones."""
    columns = [table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def record_id(url: str) -> str:
    """Deterministic sample id: the same page URL (fragment ignored) gets the same id in every build."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, urldefrag(url.strip()).url))


def sample_key(sample_id: str) -> str:
    """WebDataset key (no dots or dashes, which webdataset treats as extension separators)."""
    return sample_id.replace("-", "")


def assign_fold(sample_id: str, folds: int, seed: int = 0) -> int:
    """fold = floor(u * k) with u uniform in [0, 1) from a seeded hash of the id (paper: seeded RNG).

    Hashing instead of drawing keeps a sample's fold fixed as the dataset grows.
    """
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return int(u * folds)


def empty_row() -> dict[str, Any]:
    return {name: None for name in ROW_SCHEMA.names}


def raw_row(url: str, source: str, label: str | None, data: Iterable[str], image_urls: Iterable[str],
            crawled_at: str, found_by: str | None = None, rights: str | None = None) -> dict[str, Any]:
    """A crawled record in the build's row shape."""
    row = empty_row()
    row.update(id=record_id(url), url=url, source=source, crawled_at=crawled_at, image_urls=list(image_urls),
               label=label, data=list(data), found_by=found_by, rights=rights, status=OK)
    return row


def is_ok(row: dict[str, Any]) -> bool:
    return row.get("status") == OK


def reject(row: dict[str, Any], stage: str, reason: str) -> dict[str, Any]:
    """Mark a row rejected in place (first rejection wins) and return it."""
    if row.get("status") != REJECTED:
        row["status"] = REJECTED
        row["reject_stage"] = stage
        row["reject_reason"] = reason
    return row


def for_ok_rows(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[list[dict]], list[dict]]:
    """Lift a per-row stage function to a batch function that leaves rejected rows untouched."""

    def apply(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [fn(row) if is_ok(row) else row for row in rows]

    apply.__name__ = getattr(fn, "__name__", "stage")
    return apply


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows -> Arrow table in the one row schema (missing columns become nulls)."""
    names = ROW_SCHEMA.names
    return pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows], schema=ROW_SCHEMA)


def from_table(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for row in rows:
        for name in ROW_SCHEMA.names:
            row.setdefault(name, None)
    return rows


def reject_table(rows: pa.Table, build_id: str) -> pa.Table:
    """Rejected rows (row schema, Arrow) -> reject records (REJECT_SCHEMA), column by column."""
    columns = {"id": "id", "url": "url", "source": "source", "stage": "reject_stage", "reason": "reject_reason",
               "label": "label", "image_url": "image_url", "llm_raw": "llm_raw"}
    arrays = [rows.column(columns[f.name]) if f.name in columns else pa.array([build_id] * rows.num_rows, f.type)
              for f in REJECT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=REJECT_SCHEMA)
