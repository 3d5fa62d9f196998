"""Store on a local folder and on a real S3-compatible server (s3rver): atomic writes, reads,
listing, missing objects; shards written to S3 read back by plain webdataset and by Ray Data."""

from __future__ import annotations

import hashlib
import json

import pytest

from ilid_ray import records
from ilid_ray.dataset.shards import SAMPLE_FIELDS, iter_shard, write_shard
from ilid_ray.dataset.wds import register_s3
from ilid_ray.storage import Store
from ilid_ray.testing import image_cases as img


def sample_rows(count: int) -> list[dict]:
    rows = []
    for n in range(count):
        row = records.raw_row(f"https://shop.example/p/{n}", "shop", f"Knob {n}", ["plastic"],
                              [f"https://shop.example/i/{n}.jpg"], "2026-01-01T00:00:00Z")
        image = img.jpeg(24, 24, seed=n)
        row.update(label_long=f"star knob {n}", label_short="star knob", description="a knob",
                   material="technopolymer", material_finish="black", model="smollm2", prompt_version="v1",
                   image_url=f"https://shop.example/i/{n}.jpg", image=image, image_ext="jpg",
                   image_sha256=hashlib.sha256(image).hexdigest(), orig_width=24, orig_height=24,
                   width=24, height=24, fold=n % 6)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- local


def test_local_writes_leave_no_temporaries(tmp_path):
    store = Store(f"file://{tmp_path}")
    store.put_bytes(b"one", "a/x.bin")
    source = tmp_path.parent / f"{tmp_path.name}-src.bin"
    source.write_bytes(b"two")
    store.put_file(source, "a/y.bin")
    with store.staged("b/z.bin") as path:
        path.write_bytes(b"three")
    assert store.list() == ["a/x.bin", "a/y.bin", "b/z.bin"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["x.bin", "y.bin", "z.bin"]
    assert store.get_bytes("b/z.bin") == b"three" and store.exists("a/y.bin") and not store.exists("a/q")
    with pytest.raises(FileNotFoundError):
        store.get_bytes("a/missing.bin")


def test_local_failing_staged_write_publishes_nothing(tmp_path):
    store = Store(str(tmp_path))
    with pytest.raises(RuntimeError, match="producer died"):
        with store.staged("shards/b1/x.tar") as path:
            path.write_bytes(b"half a shard")
            raise RuntimeError("producer died")
    assert store.list() == [] and not store.exists("shards/b1/x.tar")
    assert not path.parent.exists()  # the local stage was cleaned up too


def test_local_overwrite_is_atomic_replace(tmp_path):
    store = Store(str(tmp_path))
    store.put_bytes(b"old", "k")
    store.put_bytes(b"new", "k")
    assert store.get_bytes("k") == b"new" and store.list() == ["k"]


# --------------------------------------------------------------------------- S3 (s3rver)


def test_s3_put_get_list_exists_missing(s3_server):
    store = Store(s3_server.root("basics"))
    store.put_bytes(b"hello", "a/one.txt")
    with store.staged("a/two.txt") as path:
        path.write_bytes(b"staged")
    assert store.get_bytes("a/one.txt") == b"hello" and store.get_bytes("a/two.txt") == b"staged"
    assert store.list() == ["a/one.txt", "a/two.txt"] and store.list("a") == ["a/one.txt", "a/two.txt"]
    assert store.list("nothing-here") == []
    assert store.exists("a/one.txt") and not store.exists("a/none.txt")
    with pytest.raises(FileNotFoundError):
        store.get_bytes("a/none.txt")
    with pytest.raises(FileNotFoundError):
        store.open_read("a/none.txt")
    with store.open_read("a/two.txt") as stream:
        assert stream.read() == b"staged"
    store.delete("a/one.txt")
    assert store.list() == ["a/two.txt"]


def test_s3_failing_staged_write_publishes_nothing(s3_server):
    store = Store(s3_server.root("failing"))
    with pytest.raises(RuntimeError):
        with store.staged("shards/b1/x.tar") as path:
            path.write_bytes(b"half")
            raise RuntimeError("producer died")
    assert store.list() == []


def test_s3_large_object_goes_through_multipart(s3_server):
    store = Store(s3_server.root("large"))
    data = bytes(range(256)) * (40 * 1024 * 4)  # 40 MiB: above boto3's 8 MiB multipart threshold
    with store.staged("big.bin") as path:
        path.write_bytes(data)
    assert hashlib.sha256(store.get_bytes("big.bin")).digest() == hashlib.sha256(data).digest()


def test_shard_on_s3_reads_back_with_plain_webdataset(s3_server):
    import webdataset as wds

    store = Store(s3_server.root("wds"))
    rows = sample_rows(4)
    manifest = write_shard(rows, store, "b0001", "jpg")
    shard = manifest[0]["shard"]
    assert store.list() == sorted([shard, shard.replace("shards/", "fragments/").replace(".tar", ".parquet")])
    register_s3()
    by_key = {records.sample_key(r["id"]): r for r in rows}
    seen = set()
    for sample in wds.WebDataset(store.uri(shard), shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        row = by_key[sample["__key__"]]
        assert list(meta) == list(SAMPLE_FIELDS) and meta["id"] == row["id"]
        assert hashlib.sha256(sample["jpg"]).hexdigest() == meta["image_sha256"] == row["image_sha256"]
        seen.add(sample["__key__"])
    assert seen == set(by_key)
    assert [k for k, _, _ in iter_shard(store, shard)] == sorted(by_key)


def test_s3_gopen_handler_reads_only_and_names_missing_objects(s3_server):
    import webdataset as wds

    register_s3()
    store = Store(s3_server.root("wds-read"))
    with pytest.raises(ValueError, match="only reads"):
        wds.gopen(store.uri("x.tar"), "wb")
    with pytest.raises(FileNotFoundError, match="missing.tar"):
        wds.gopen(store.uri("missing.tar"), "rb")


@pytest.mark.slow
def test_shards_on_s3_read_back_with_ray_data(s3_server, ray_local):
    import ray

    store = Store(s3_server.root("ray"))
    rows = sample_rows(7)
    shards = [write_shard(rows[:3], store, "b0002")[0]["shard"], write_shard(rows[3:], store, "b0002")[0]["shard"]]
    fs, paths = store.arrow_paths(shards)
    ds = ray.data.read_webdataset(paths, filesystem=fs, decoder=None)
    got = {r["__key__"]: r for r in ds.take_all()}
    expected = {records.sample_key(r["id"]): r for r in rows}
    assert set(got) == set(expected)
    for key, sample in got.items():
        meta = json.loads(sample["json"])
        assert meta["id"] == expected[key]["id"] and meta["fold"] == expected[key]["fold"]
        assert hashlib.sha256(sample["jpg"]).hexdigest() == meta["image_sha256"] == expected[key]["image_sha256"]
    decoded = ray.data.read_webdataset(paths, filesystem=fs).take(1)[0]  # Ray's default decoder
    assert decoded["jpg"].shape == (24, 24, 3) and decoded["json"]["key"] == decoded["__key__"]
