"""Takedowns on a real local store with real shards (no Ray): `dataset remove` commits a version
without the samples, leaves shards untouched, export ships none of them, and a later build's
de-duplication rejects them; rights travel from the row into the sample JSON and the manifest."""

from __future__ import annotations

import hashlib
import tarfile

import pytest
from click.testing import CliRunner

from ilid_ray import records
from ilid_ray.dataset.builds import Build
from ilid_ray.dataset.commands import dataset
from ilid_ray.dataset.dedupe import KeyRegistry, dedupe_images, dedupe_urls
from ilid_ray.dataset.manifest import Versions, export_version
from ilid_ray.dataset.removals import RemovalError, remove, removed_sources
from ilid_ray.dataset.shards import iter_shard, write_shard
from ilid_ray.storage import Store
from ilid_ray.testing import image_cases as img


def row(url: str, source: str = "a", shade: int = 0, rights: str | None = None) -> dict:
    r = records.raw_row(url, source, "hinge", ["steel"], [url + ".jpg"], "2026-01-01T00:00:00Z", rights=rights)
    image = img.jpeg(8, 8, seed=shade)
    r.update(image=image, image_ext="jpg", image_sha256=hashlib.sha256(image).hexdigest(), label_short="hinge",
             label_long="steel hinge", model="m", prompt_version="p")
    return r


def built(tmp_path, rows_per_shard: list[list[dict]]) -> Store:
    store = Store(str(tmp_path / "ds"))
    build = Build.start(store, sorted({r["source"] for rows in rows_per_shard for r in rows}))
    for rows in rows_per_shard:
        write_shard(rows, store, build.build_id)
    build.commit(records.REJECT_SCHEMA.empty_table(), {}, {"models": ["m"], "prompt_versions": ["p"]})
    return store


def shard_bytes(store: Store) -> dict[str, bytes]:
    return {rel: store.get_bytes(rel) for rel in store.list("shards")}


@pytest.fixture
def store(tmp_path):
    return built(tmp_path, [[row("http://a/1", shade=1, rights="license: https://cc/by"), row("http://a/2", shade=2)],
                            [row("http://b/1", "b", shade=3), row("http://b/2", "b", shade=4)]])


def test_rights_reach_the_sample_json_and_the_manifest(store):
    manifest = Versions(store).manifest().to_pylist()
    assert {m["url"]: m["rights"] for m in manifest}["http://a/1"] == "license: https://cc/by"
    samples = {meta["url"]: meta for rel in Versions(store).shards() for _, _, meta in iter_shard(store, rel)}
    assert samples["http://a/1"]["rights"] == "license: https://cc/by" and samples["http://a/2"]["rights"] is None


def test_remove_urls_makes_a_version_without_them_and_keeps_the_shards(store, tmp_path):
    before = shard_bytes(store)
    result = remove(store, ["http://a/1", "http://never-crawled/9"])
    assert result == {"version": "v0002", "urls": 2, "sources": [], "removed": 1, "urls_not_in_dataset": 1,
                      "total": 3}
    versions = Versions(store)
    assert sorted(versions.manifest().column("url").to_pylist()) == ["http://a/2", "http://b/1", "http://b/2"]
    assert versions.manifest("v0001").num_rows == 4  # the old version stays as it was
    assert shard_bytes(store) == before  # shards are never rewritten
    record = versions.record()
    assert (record["removed"], record["added"], record["parent"]) == (1, 0, "v0001")

    target = Store(str(tmp_path / "export"))
    export_version(store, "v0001", target)  # even an old version ships without the taken-down sample
    exported = Versions(target).manifest()
    assert "http://a/1" not in exported.column("url").to_pylist() and exported.num_rows == 3
    urls = []
    for rel in target.list("shards"):
        with tarfile.open(target.uri(rel)) as tar:
            names = tar.getnames()
        assert len(names) % 2 == 0  # whole samples only: image + json
        urls += [meta["url"] for _, _, meta in iter_shard(target, rel)]
    assert sorted(urls) == ["http://a/2", "http://b/1", "http://b/2"]


def test_a_later_build_never_re_adds_removed_samples(store):
    remove(store, ["http://a/1", "http://never-crawled/9"])
    remove(store, sources=["b"])
    assert removed_sources(store) == {"b"}
    build = Build.start(store, ["a", "b", "c"])
    registry = KeyRegistry(build.known_keys())
    claim = registry.claim
    again = [row("http://a/1", shade=9), row("http://never-crawled/9", "c", shade=8), row("http://b/7", "b", shade=7),
             row("http://c/1", "c", shade=1), row("http://c/2", "c", shade=6)]
    dedupe_urls(again, claim, removed_sources=removed_sources(store))
    dedupe_images(again, claim)
    reasons = [r["reject_reason"] for r in again]
    assert reasons[:3] == ["removed from the dataset (takedown)"] * 2 + ["source removed from the dataset (takedown)"]
    assert reasons[3].startswith("same image as removed sample")  # shade 1 is the removed a/1's picture
    assert reasons[4] is None

    write_shard([r for r in [row("http://a/1", shade=9), row("http://c/2", "c", shade=6)]], store, build.build_id)
    record = build.commit(records.REJECT_SCHEMA.empty_table(), {}, {})  # a fragment holding a removed URL
    assert record["added"] == 1 and "http://a/1" not in Versions(store).manifest().column("url").to_pylist()


def test_bad_removal_requests_change_nothing(store, tmp_path):
    for kwargs, message in [({}, "nothing to remove"), ({"urls": ["ftp://a/1"]}, "not page URLs"),
                            ({"sources": ["zzz"]}, "sources not in")]:
        with pytest.raises(RemovalError, match=message):
            remove(store, **kwargs)
    assert Versions(store).latest() == 1 and not store.exists("removals.parquet")
    with pytest.raises(RemovalError, match="no committed version"):
        remove(Store(str(tmp_path / "empty")), ["http://a/1"])


def test_cli_remove_from_file(store, tmp_path):
    listing = tmp_path / "takedown.txt"
    listing.write_text("# publisher request 2026-11-30\nhttp://b/1\n\nhttp://b/2\n")
    runner = CliRunner()
    result = runner.invoke(dataset, ["remove", "--root", store.root, "--from-file", str(listing), "--url", "http://a/2"])
    assert result.exit_code == 0, result.output
    assert '"removed": 3' in result.output
    assert Versions(store).manifest().column("url").to_pylist() == ["http://a/1"]
    bad = runner.invoke(dataset, ["remove", "--root", store.root, "--source", "nope"])
    assert bad.exit_code != 0 and "sources not in" in bad.output
