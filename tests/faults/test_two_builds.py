"""Two `ilid build`s of the same root started at once: the root's writer lease lets exactly one
write; the other fails with a message naming the holder, and the dataset stays valid."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import webdataset as wds
import yaml

from ilid_ray.dataset.manifest import Versions
from ilid_ray.storage import Store
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_two_builds_at_once_one_writes_the_other_is_refused(tmp_path):
    root = tmp_path / "data"
    catalogs = [FixtureCatalog("duo", 8, "jsonld", seed=3)]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_DATA_DISABLE_PROGRESS_BARS="1")
    with CatalogServer(catalogs, media_delay_s=0.1) as server:
        config = tmp_path / "build.yaml"
        config.write_text(yaml.safe_dump({
            "catalogs": [server.spec("duo").model_dump()], "dataset": {"root": str(root), "shard_size": 4},
            "network": server.network_config().model_dump(), "extract": {"engine": "rules"},
            "crawl": {"autothrottle": False}, "ray": {"num_cpus": 2}}))
        command = [sys.executable, "-m", "ilid_ray.cli", "build", "-c", str(config)]
        builds = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for _ in range(2)]
        outputs = [b.communicate(timeout=850) for b in builds]  # reads the pipes: no full-pipe deadlock
        results = [(b.returncode, *out) for b, out in zip(builds, outputs)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], [err[-2000:] for _, _, err in results]
    refused = next(err for code, _, err in results if code == 1)
    assert f"Error: {root} is being written by build duo" in refused and "Traceback" not in refused
    store = Store(str(root))
    versions = Versions(store)
    assert versions.latest() == 1
    manifest = versions.manifest()
    assert manifest.num_rows > 0
    build_id = versions.record()["build_id"]
    assert set(store.list(f"shards/{build_id}")) == set(versions.shards())
    keys = [s["__key__"] for rel in versions.shards() for s in wds.WebDataset(store.uri(rel), shardshuffle=False)]
    assert sorted(keys) == sorted(manifest.column("key").to_pylist())
    assert [r for r in store.list("builds")] == [f"builds/{build_id}.json"]  # the refused one left nothing
