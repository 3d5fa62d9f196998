"""A whole build into an S3-compatible bucket (s3rver, a real server), read back with plain webdataset
and with ray.data.read_webdataset.

The build runs as `ilid build` in a subprocess with the AWS_* variables set, as a user would run it:
its local Ray workers inherit them (the session's shared Ray instance predates the S3 server).
s3rver ignores conditional writes, so the root's writer lease needs `--force` there (test_lease.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import webdataset as wds
import yaml

from ilid_ray.dataset.manifest import Versions
from ilid_ray.dataset.wds import register_s3
from ilid_ray.storage import Store
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_build(s3_server, tmp_path_factory):
    catalog = FixtureCatalog("s3shop", 14, "microdata", seed=11)
    root = s3_server.root("ilid")
    with CatalogServer(catalog) as server:
        config = tmp_path_factory.mktemp("s3") / "build.yaml"
        config.write_text(yaml.safe_dump({
            "catalogs": [server.spec("s3shop").model_dump()],
            "dataset": {"root": root, "shard_size": 5},
            "network": server.network_config().model_dump(),
            "crawl": {"autothrottle": False},
            "extract": {"engine": "rules"},
            "ray": {"num_cpus": 2},
        }))
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        done = subprocess.run([sys.executable, "-m", "ilid_ray.cli", "build", "-c", str(config), "--force"],
                              env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    yield catalog, Store(root), done.stdout


def test_build_publishes_shards_and_manifest_to_the_bucket(s3_build):
    catalog, store, stdout = s3_build
    versions = Versions(store)
    manifest = versions.manifest()
    assert manifest.num_rows == sum(1 for kind in catalog.expected.values() if kind == "ok")
    sizes = manifest.group_by("shard").aggregate([("id", "count")]).column("id_count").to_pylist()
    assert sum(sizes) == manifest.num_rows
    assert sum(1 for n in sizes if n != 5) <= 2  # full shards of 5 but one last shard per writer (2)
    assert f"shards   {store.root}/shards/" in stdout
    assert store.exists(f"rejects/{versions.record()['build_id']}.parquet")
    assert not [rel for rel in store.list("") if rel.endswith(".tmp")]


def test_plain_webdataset_reads_the_shards_from_s3(s3_build):
    _, store, _ = s3_build
    register_s3()
    versions = Versions(store)
    expected = {r["key"]: r for r in versions.manifest().to_pylist()}
    urls = [store.uri(rel) for rel in versions.shards()]
    seen = {}
    for sample in wds.WebDataset(urls, shardshuffle=False):
        meta = json.loads(sample["json"])
        assert hashlib.sha256(sample["jpg"]).hexdigest() == meta["image_sha256"]
        seen[sample["__key__"]] = meta
    assert seen.keys() == expected.keys()
    assert all(seen[k]["label_long"] == expected[k]["label_long"] for k in seen)


def test_ray_data_reads_the_shards_from_s3(s3_build, ray_local):
    import ray

    _, store, _ = s3_build
    versions = Versions(store)
    fs, paths = store.arrow_paths(versions.shards())
    rows = ray.data.read_webdataset(paths, filesystem=fs, decoder=None).take_all()
    keys = {r["__key__"] for r in rows}
    assert keys == set(versions.manifest().column("key").to_pylist())
    for row in rows:
        meta = json.loads(row["json"])
        assert hashlib.sha256(row["jpg"]).hexdigest() == meta["image_sha256"]
