"""Build lifecycle and versions on a real local store (no Ray needed: fragments written directly)."""

import pyarrow as pa
import pytest

from ilid_ray.dataset.builds import Build, BuildConflict
from ilid_ray.dataset.dedupe import IN_BUILD, IN_DATASET
from ilid_ray.dataset.manifest import LATEST, Versions, diff, export_version, read_parquet, write_parquet
from ilid_ray.records import MANIFEST_SCHEMA, REJECT_SCHEMA, record_id
from ilid_ray.storage import Store


def sample(url, sha, shard, source="a"):
    sid = record_id(url)
    return {"id": sid, "key": sid.replace("-", ""), "shard": shard, "url": url, "image_url": url + ".jpg",
            "image_sha256": sha, "label_short": "hinge", "label_long": "steel hinge", "description": None,
            "material": "steel", "material_finish": None, "source": source, "fold": 0, "model": "m",
            "prompt_version": "p", "build_id": "b"}


def add_fragment(store, build, name, samples):
    shard = f"shards/{build.build_id}/{name}.tar"
    store.put_bytes(b"tar", shard)
    rows = [dict(s, shard=shard, build_id=build.build_id) for s in samples]
    write_parquet(store, pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), f"fragments/{build.build_id}/{name}.parquet")


def no_rejects():
    return REJECT_SCHEMA.empty_table()


def test_versions_grow_without_duplicates(tmp_path):
    store = Store(str(tmp_path / "ds"))
    first = Build.start(store, ["a"])
    add_fragment(store, first, "s1", [sample("http://a/1", "h1", ""), sample("http://a/2", "h2", "")])
    record = first.commit(no_rejects(), {"crawled": 2}, {"models": ["m"]})
    assert record["version"] == "v0001" and record["added"] == 2 and record["total"] == 2
    assert store.get_bytes(LATEST) == b"v0001"

    second = Build.start(store, ["a", "b"])
    assert second.build_id != first.build_id and not second.resumed
    add_fragment(store, second, "s2", [
        sample("http://a/1", "h1", ""),            # same URL as v1
        sample("http://b/9", "h2", "", "b"),       # same image as v1
        sample("http://b/3", "h3", "", "b"),       # new
    ])
    record = second.commit(no_rejects(), {}, {})
    versions = Versions(store)
    assert record["added"] == 1 and record["total"] == 3 and versions.latest() == 2
    assert sorted(versions.manifest().column("url").to_pylist()) == ["http://a/1", "http://a/2", "http://b/3"]
    assert versions.manifest("v0001").num_rows == 2  # old versions stay readable as they were
    assert [h["version"] for h in versions.history()] == ["v0001", "v0002"]
    change = diff(store, "v0001", "v0002")
    assert change["added"] == 1 and change["added_per_source"] == {"b": 1} and change["removed"] == 0


def test_interrupted_build_is_resumed_and_adopts_its_shards(tmp_path):
    store = Store(str(tmp_path / "ds"))
    build = Build.start(store, ["a"])
    add_fragment(store, build, "s1", [sample("http://a/1", "h1", "")])
    # the process dies here: no commit
    again = Build.start(store, ["a"])
    assert again.resumed and again.build_id == build.build_id
    keys = again.known_keys()
    assert keys["id"] == [(record_id("http://a/1"), IN_BUILD, "")]
    assert keys["sha256"] == [("h1", IN_BUILD, record_id("http://a/1"))]
    add_fragment(store, again, "s2", [sample("http://a/2", "h2", "")])
    rejects = pa.Table.from_pylist([{"id": "x", "stage": "download", "reason": "http 404"}] * 2, schema=REJECT_SCHEMA)
    record = again.commit(rejects, {}, {})
    assert record["added"] == 2 and record["rejected"] == 1  # a reject recorded by both attempts counts once
    assert Build.start(store, ["a"]).build_id != build.build_id  # committed: next build is new
    assert Versions(store).latest() == 1


def test_unfinished_build_of_other_catalogs_blocks_until_abandoned(tmp_path):
    store = Store(str(tmp_path / "ds"))
    stale = Build.start(store, ["a"])
    add_fragment(store, stale, "s1", [sample("http://a/1", "h1", "")])
    with pytest.raises(BuildConflict, match="unfinished build"):
        Build.start(store, ["b"])
    fresh = Build.start(store, ["b"], abandon_unfinished=True)
    assert fresh.build_id != stale.build_id
    assert store.list(f"shards/{stale.build_id}") == [] and store.list(f"fragments/{stale.build_id}") == []
    assert fresh.known_keys() == {"id": [], "sha256": []}


def test_crash_after_latest_moved_counts_as_committed(tmp_path):
    store = Store(str(tmp_path / "ds"))
    build = Build.start(store, ["a"])
    add_fragment(store, build, "s1", [sample("http://a/1", "h1", "")])
    build.commit(no_rejects(), {}, {})
    build.record["status"] = "running"  # as if the process died before marking its record
    from ilid_ray.dataset.manifest import write_json
    write_json(store, build.record, build.record_path)
    nxt = Build.start(store, ["a"])
    assert nxt.build_id != build.build_id and not nxt.resumed
    known = nxt.known_keys()
    assert known["id"] == [(record_id("http://a/1"), IN_DATASET, "")]


def test_export_copies_one_version(tmp_path):
    store = Store(str(tmp_path / "ds"))
    build = Build.start(store, ["a"])
    add_fragment(store, build, "s1", [sample("http://a/1", "h1", "")])
    build.commit(no_rejects(), {}, {})
    target = Store(str(tmp_path / "export"))
    out = export_version(store, "v1", target)
    assert out["shards"] == 1
    exported = Versions(target)
    assert exported.latest() == 1 and exported.manifest().column("id").to_pylist() == [record_id("http://a/1")]
    assert target.get_bytes(exported.shards()[0]) == b"tar"


def test_commit_removes_shards_cut_off_before_their_fragment(tmp_path):
    store = Store(str(tmp_path / "ds"))
    build = Build.start(store, ["a"])
    add_fragment(store, build, "s1", [sample("http://a/1", "h1", "")])
    store.put_bytes(b"half-done", f"shards/{build.build_id}/orphan.tar")  # killed before its fragment
    record = build.commit(no_rejects(), {}, {})
    assert store.list(f"shards/{build.build_id}") == [f"shards/{build.build_id}/s1.tar"]
    assert record["shards_added"] == [f"shards/{build.build_id}/s1.tar"]


def add_tar_fragment(store, build, name, samples):
    """A fragment whose shard is a real tar holding each sample's `.jpg` and `.json` members."""
    import io
    import tarfile

    shard = f"shards/{build.build_id}/{name}.tar"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for s in samples:
            for ext, data in (("jpg", s["image_sha256"].encode()), ("json", s["url"].encode())):
                info = tarfile.TarInfo(f"{s['key']}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    store.put_bytes(buffer.getvalue(), shard)
    rows = [dict(s, shard=shard, build_id=build.build_id) for s in samples]
    write_parquet(store, pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), f"fragments/{build.build_id}/{name}.parquet")


def shard_keys(store, rel):
    import tarfile

    with store.open_read(rel) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        return sorted({m.name.partition(".")[0] for m in tar})


@pytest.mark.parametrize("swap", [False, True])
def test_a_picture_written_twice_is_kept_under_the_smaller_id(tmp_path, swap):
    """Two workers each let through a page with the same picture (the smaller id displaced the other
    after it was written): the commit keeps the smaller id whichever shard holds which, lists the
    other as a dedupe reject, and rewrites its shard without it."""
    store = Store(str(tmp_path / "ds"))
    build = Build.start(store, ["a"])
    one, two = sorted([sample("http://a/1", "same", ""), sample("http://a/2", "same", "")], key=lambda s: s["id"])
    other = sample("http://a/3", "h3", "")
    first, second = ([two, other], [one]) if swap else ([one, other], [two])
    add_tar_fragment(store, build, "s1", first)
    add_tar_fragment(store, build, "s2", second)
    stats = {"accepted": 3, "rejected": 0, "rejected_per_stage": {}}
    record = build.commit(no_rejects(), stats, {})
    manifest = Versions(store).manifest()
    assert sorted(manifest.column("id").to_pylist()) == sorted([one["id"], other["id"]])
    rejects = read_parquet(store, f"rejects/{build.build_id}.parquet").to_pylist()
    assert [(r["id"], r["stage"]) for r in rejects] == [(two["id"], "dedupe")]
    assert one["id"] in rejects[0]["reason"]
    assert record["stats"]["accepted"] == 2 and record["stats"]["displaced"] == 1
    assert record["rejected_per_stage"] == {"dedupe": 1} == record["stats"]["rejected_per_stage"]
    by_shard = {}
    for row in manifest.to_pylist():
        by_shard.setdefault(row["shard"], []).append(row["key"])
    assert sorted(store.list(f"shards/{build.build_id}")) == sorted(by_shard)  # none left empty
    for rel in by_shard:
        assert shard_keys(store, rel) == sorted(by_shard[rel])
