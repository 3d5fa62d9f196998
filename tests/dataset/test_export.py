"""`ilid dataset export` never overwrites a dataset, the source, or anything outside its target."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ilid_ray.dataset.manifest import LATEST, Versions, export_version, write_json, write_parquet
from ilid_ray.records import MANIFEST_SCHEMA
from ilid_ray.storage import Store, inside_root


def dataset(root, shard: str = "shards/b1/s0.tar") -> Store:
    store = Store(str(root))
    if shard == "shards/b1/s0.tar" or shard.startswith("shards/b9/"):
        store.put_bytes(b"tar bytes", shard)
    rows = [{n: (0 if n == "fold" else shard if n == "shard" else f"{n}-1") for n in MANIFEST_SCHEMA.names}]
    write_parquet(store, pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), "manifest/v0001.parquet")
    write_json(store, {"version": "v0001", "build_id": "b1"}, "versions/v0001.json")
    store.put_bytes(b"v0001", LATEST)
    return store


def test_export_into_an_empty_root(tmp_path):
    source = dataset(tmp_path / "src")
    out = export_version(source, None, Store(str(tmp_path / "out")))
    assert out["shards"] == 1
    assert Versions(Store(str(tmp_path / "out"))).shards() == ["shards/b1/s0.tar"]


def test_export_refuses_a_root_that_holds_something_unless_told(tmp_path):
    source, target = dataset(tmp_path / "src"), dataset(tmp_path / "other", "shards/b9/keep.tar")
    with pytest.raises(FileExistsError, match="is not empty.*--overwrite"):
        export_version(source, None, target)
    assert target.exists("shards/b9/keep.tar") and Versions(target).record()["build_id"] == "b1"
    export_version(source, None, target, overwrite=True)
    assert not target.exists("shards/b9/keep.tar") and target.exists("shards/b1/s0.tar")


@pytest.mark.parametrize("where", ["src", "src/inner", "."])
def test_export_refuses_the_source_itself_and_nested_roots(tmp_path, where):
    source = dataset(tmp_path / "src")
    with pytest.raises(ValueError, match="one root is or contains the other"):
        export_version(source, None, Store(str(tmp_path / where)))
    assert Versions(source).latest() == 1


@pytest.mark.parametrize("shard", ["../../evil.tar", "/etc/evil.tar", "shards/../../evil.tar", "shards//x.tar"])
def test_a_hand_edited_manifest_cannot_reach_outside_the_target(tmp_path, shard):
    source = dataset(tmp_path / "src", shard)
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match="is not a path inside the dataset root"):
        export_version(source, None, Store(str(tmp_path / "out" / "t")))
    assert not (tmp_path / "evil.tar").exists() and not list((tmp_path / "out").rglob("*.tar"))


def test_paths_inside_root():
    assert inside_root("shards/b/x.tar") == "shards/b/x.tar" and inside_root("") == ""
    for bad in ("..", "a/../b", "/abs", "a\\b", "./a", "a/"):
        with pytest.raises(ValueError):
            inside_root(bad)
