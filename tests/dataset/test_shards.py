"""Shard writing on a local store: contract JSON, reproducible tars, fragment-after-shard."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile

import pyarrow.parquet as pq
import pytest

from ilid_ray import records
from ilid_ray.dataset.shards import SAMPLE_FIELDS, MTIME, iter_shard, shard_name, write_shard
from ilid_ray.storage import StorageError, Store
from ilid_ray.testing import image_cases as img


def downloaded_row(n: int, **extra) -> dict:
    row = records.raw_row(f"https://shop.example/p/{n}", "shop", f"Clamp {n}", ["steel"],
                          [f"https://shop.example/i/{n}.jpg"], "2026-01-01T00:00:00Z")
    image = img.jpeg(32, 32, seed=n)
    row.update(label_long=f"toggle clamp {n}", label_short="toggle clamp", description=None,
               material="steel", material_finish=None, model="smollm2", prompt_version="v1",
               image_url=f"https://shop.example/i/{n}.jpg", image=image, image_ext="jpg",
               image_sha256=hashlib.sha256(image).hexdigest(), orig_width=640, orig_height=480,
               width=32, height=32)
    row.update(extra)
    return row


def test_shard_holds_image_and_contract_json_per_sample(tmp_path):
    store = Store(str(tmp_path))
    rows = [downloaded_row(n) for n in range(5)]
    manifest = write_shard(rows, store, "b0001", "jpg", folds=6, fold_seed=0)
    name = shard_name([records.sample_key(r["id"]) for r in rows])
    assert store.list() == [f"fragments/b0001/{name}.parquet", f"shards/b0001/{name}.tar"]
    samples = {key: (image, meta) for key, image, meta in iter_shard(store, f"shards/b0001/{name}.tar")}
    assert len(samples) == 5
    for row in rows:
        key = records.sample_key(row["id"])
        image, meta = samples[key]
        assert image == row["image"]
        assert list(meta) == list(SAMPLE_FIELDS)  # exactly the contract's fields
        assert meta["id"] == row["id"] and meta["key"] == key and meta["build_id"] == "b0001"
        assert meta["image_sha256"] == hashlib.sha256(image).hexdigest()
        assert meta["fold"] == records.assign_fold(row["id"], 6, 0) == row["fold"]
        assert meta["description"] is None and meta["material"] == "steel"
        assert (meta["orig_width"], meta["width"]) == (640, 32)
        assert row["shard"] == f"shards/b0001/{name}.tar"
    table = pq.read_table(store.uri(f"fragments/b0001/{name}.parquet"))
    assert table.schema.equals(records.MANIFEST_SCHEMA)
    assert table.to_pylist() == manifest
    assert {m["key"] for m in manifest} == set(samples)


def test_same_samples_give_the_same_bytes_in_any_order(tmp_path):
    rows = [downloaded_row(n) for n in range(6)]
    first, second = Store(str(tmp_path / "a")), Store(str(tmp_path / "b"))
    write_shard(rows, first, "b1", folds=6)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    write_shard(shuffled, second, "b1", folds=6)
    [shard] = first.list("shards")
    assert second.list("shards") == [shard]
    assert first.get_bytes(shard) == second.get_bytes(shard)  # a retried task rewrites, never twins
    with tarfile.open(fileobj=io.BytesIO(first.get_bytes(shard))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names, key=lambda n: (n.split(".")[0], n.split(".")[1] != "jpg"))
    assert {m.mtime for m in members} == {MTIME} and {m.uid for m in members} == {0}


def test_png_samples_and_preassigned_folds(tmp_path):
    store = Store(str(tmp_path))
    row = downloaded_row(1, fold=4)
    row.update(image=img.png(32, 32), image_ext="png", image_sha256=None)
    write_shard([row], store, "b1", "png")
    [(key, image, meta)] = list(iter_shard(store, store.list("shards")[0]))
    assert image[:4] == b"\x89PNG" and meta["fold"] == 4
    assert meta["image_sha256"] == hashlib.sha256(image).hexdigest()


@pytest.mark.parametrize("breakage,message", [
    ({"image": None}, "no image bytes"),
    ({"image_ext": "gif"}, "image extension"),
    ({"image_sha256": "0" * 64}, "does not match"),
    ({"status": records.REJECTED}, "only ok rows"),
])
def test_bad_rows_publish_nothing(tmp_path, breakage, message):
    store = Store(str(tmp_path))
    rows = [downloaded_row(1), downloaded_row(2, **breakage)]
    with pytest.raises(ValueError, match=message):
        write_shard(rows, store, "b1")
    assert store.list() == []


def test_no_fragment_without_a_published_shard(tmp_path):
    store = Store(str(tmp_path))
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "b1").write_text("a file where the build's shard folder should be")
    with pytest.raises(StorageError):
        write_shard([downloaded_row(1)], store, "b1")
    assert store.list("fragments") == []
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["b1"]  # no temporaries left


def test_empty_batch_writes_nothing(tmp_path):
    store = Store(str(tmp_path))
    assert write_shard([], store, "b1") == []
    assert store.list() == []


def test_sample_json_is_plain_utf8(tmp_path):
    store = Store(str(tmp_path))
    write_shard([downloaded_row(1, label_long="rändelmutter ø 8")], store, "b1")
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes(store.list("shards")[0]))) as tar:
        [meta] = [json.loads(tar.extractfile(m).read().decode("utf-8")) for m in tar if m.name.endswith(".json")]
    assert meta["label_long"] == "rändelmutter ø 8"


def test_captions_for_open_clip_beside_shards_of_older_builds_without_them(tmp_path):
    """`{key}.txt` holds the caption field: plain webdataset (as open_clip's trainer reads) gets
    (image, caption); shards written without captions read as before, next to the new ones."""
    import webdataset as wds

    from ilid_ray.train.data import iter_local_samples

    store = Store(str(tmp_path))
    captioned = [downloaded_row(n) for n in range(4)]
    write_shard(captioned, store, "new", caption_field="label_long")
    write_shard([downloaded_row(n) for n in range(10, 13)], store, "old")  # an older build: no caption
    new = store.uri(next(rel for rel in store.list("shards") if rel.startswith("shards/new/")))
    pairs = list(wds.WebDataset(new, shardshuffle=False).decode("pil").to_tuple("jpg;png;webp", "txt"))
    assert sorted(text for _, text in pairs) == sorted(r["label_long"] for r in captioned)
    assert all(image.size == (32, 32) for image, _ in pairs)
    write_shard([downloaded_row(n) for n in range(20, 23)], store, "desc", caption_field="description")
    desc = store.uri(next(rel for rel in store.list("shards") if rel.startswith("shards/desc/")))
    members = {name.rpartition(".")[2] for name in tarfile.open(desc).getnames()}
    assert members == {"jpg", "json"}  # these rows have no description: no caption member
    rows = list(iter_local_samples(str(tmp_path), None, "label_long"))
    assert len(rows) == 10 and not [r for r in rows if r["error"]]
    assert sum(1 for rel in store.list("shards") for _ in iter_shard(store, rel)) == 10
