"""Shards -> rows -> tensors, as plain functions over batches (no cluster), and the local reader."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from ilid_ray.records import MANIFEST_SCHEMA
from ilid_ray.models import TINY_MODEL, preprocess_config
from ilid_ray.storage import Store
from ilid_ray.testing.synthetic import SyntheticSpec, write_synthetic_dataset
from ilid_ray.train.data import (
    UNKNOWN_FOLD,
    dataset_source,
    iter_local_samples,
    label_text,
    parse_samples,
    select_folds,
    transform_images,
    usable_rows,
)


def jpeg(size: int = 40) -> bytes:
    """A left-to-right gradient, so crops and flips change the pixels."""
    gradient = np.tile(np.linspace(0, 255, size, dtype=np.uint8), (size, 1))
    buf = io.BytesIO()
    Image.fromarray(np.stack([gradient, 255 - gradient, gradient // 2], axis=-1)).save(buf, format="JPEG")
    return buf.getvalue()


def raw_batch() -> dict:
    good = {"fold": 2, "label_short": "red  square\tclamp", "material": None}
    return {
        "__key__": ["k1", "k2", "k3", "k4", "k5"],
        "jpg": [jpeg(), jpeg(), None, jpeg(), b"not an image"],
        "json": [json.dumps(good).encode(), b"{broken", json.dumps(good).encode(),
                 json.dumps({"fold": 1, "label_short": ""}).encode(), json.dumps(good).encode()],
    }


def test_label_text_first_words():
    meta = {"label_long": "  stainless steel   hinge with lift-off pin "}
    assert label_text(meta, "label_long", None) == "stainless steel hinge with lift-off pin"
    assert label_text(meta, "label_long", 2) == "stainless steel"
    assert label_text({"material": None}, "material", 3) == ""


def test_parse_samples_keeps_every_row_with_a_reason():
    out = parse_samples(raw_batch(), "label_short", max_words=2)
    assert list(out["key"]) == ["k1", "k2", "k3", "k4", "k5"]
    assert out["text"][0] == "red square"
    assert out["error"][0] == ""
    assert out["error"][1].startswith("bad json") and out["fold"][1] == UNKNOWN_FOLD
    assert out["error"][2] == "missing image"
    assert out["error"][3] == "empty label_short"
    assert out["error"][4] == ""  # undecodable bytes are found when decoding
    # a version's key set selects samples (a shard may hold samples of other versions)
    assert list(parse_samples(raw_batch(), "label_short", None, keys={"k1", "k4"})["key"]) == ["k1", "k4"]


def test_fold_selection_and_transform():
    parsed = parse_samples(raw_batch(), "label_short", None)
    train = select_folds(parsed, [1, 2], keep_unknown=True)
    assert list(train["key"]) == ["k1", "k2", "k3", "k4", "k5"]
    val = select_folds(parsed, [2], keep_unknown=False)
    assert list(val["key"]) == ["k1", "k3", "k5"]
    cfg = preprocess_config(TINY_MODEL, None)
    out = transform_images(val, cfg, train=False)
    assert out["pixels"].shape == (3, 3, 32, 32) and out["pixels"].dtype == np.float32
    assert out["error"][2].startswith("undecodable image")
    assert np.abs(out["pixels"][0]).sum() > 0 and np.abs(out["pixels"][2]).sum() == 0
    skipped = Counter()
    rows = usable_rows(out, skipped)
    assert list(rows["key"]) == ["k1"]
    assert sum(skipped.values()) == 2
    # augmentation is a function of (seed, key, epoch): the same again, another epoch or seed differs
    one = {k: v[:1] for k, v in val.items()}
    aug = lambda seed, epoch: transform_images(one, cfg, True, (0.2, 0.5), seed=seed, epoch=epoch)["pixels"]  # noqa: E731
    assert np.array_equal(aug(0, 0), aug(0, 0))
    assert not np.allclose(aug(0, 0), aug(0, 1)) and not np.allclose(aug(0, 0), aug(1, 0))
    assert np.allclose(transform_images(one, cfg, False)["pixels"], transform_images(one, cfg, False)["pixels"])


def test_local_reader_streams_every_sample(tmp_path):
    info = write_synthetic_dataset(tmp_path, SyntheticSpec(samples=30, shard_size=8, corrupt_images=1,
                                                           missing_labels=2))
    assert len(info["shards"]) == 4
    rows = list(iter_local_samples(str(tmp_path), None, "label_short"))
    assert len(rows) == 30
    assert sum(1 for r in rows if r["error"] == "empty label_short") == 2
    assert {r["text"] for r in rows if r["text"]} <= set(info["labels"])
    fold0 = list(iter_local_samples(str(tmp_path), [0], "material", max_words=1))
    assert fold0 and all(r["fold"] in (0, UNKNOWN_FOLD) for r in fold0)
    assert all(len(r["text"].split()) <= 1 for r in fold0)


def test_manifest_version_selects_shards_and_keys(tmp_path):
    write_synthetic_dataset(tmp_path, SyntheticSpec(samples=12, shard_size=6))
    store, shards, keys = dataset_source(str(tmp_path))
    assert len(shards) == 2 and keys is None  # no manifest: every shard
    picked = [r for r in iter_local_samples(str(tmp_path), None, "label_short")][:4]
    rows = [{"id": r["key"], "key": r["key"], "shard": shards[0], "fold": int(r["fold"])} for r in picked]
    table = pa.Table.from_pylist([{n: row.get(n) for n in MANIFEST_SCHEMA.names} for row in rows],
                                 schema=MANIFEST_SCHEMA)
    from ilid_ray.dataset.manifest import LATEST, write_parquet

    write_parquet(store, table, "manifest/v0001.parquet")
    store.put_bytes(b"v0001", LATEST)
    _, shards2, keys2 = dataset_source(str(tmp_path))
    assert shards2 == [shards[0]] and keys2 == {r["key"] for r in picked}
    assert sorted(r["key"] for r in iter_local_samples(str(tmp_path), None, "label_short")) == sorted(keys2)


def test_no_shards_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no WebDataset shards"):
        dataset_source(str(tmp_path))


def test_local_reader_from_s3(s3_server):
    root = s3_server.root("synthetic-train")
    write_synthetic_dataset(Store(root), SyntheticSpec(samples=10, shard_size=5))
    rows = list(iter_local_samples(root, None, "label_long"))
    assert len(rows) == 10 and all(r["text"].endswith("part") for r in rows)
