"""End to end: real Scrapy crawls of the fixture server, the Ray Data pipeline on a local Ray
instance, shards on disk. The `rules` engine stands in for the LLM here (the real SmolLM2 run is in
test_build_llm.py) so these tests exercise the pipeline, growth and crash safety quickly."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import webdataset as wds
import yaml
from click.testing import CliRunner
from PIL import Image

from ilid_ray.config import BuildConfig, OptOutSwitches
from ilid_ray.dataset.commands import dataset as dataset_cli
from ilid_ray.dataset.manifest import Versions, read_parquet
from ilid_ray.dataset.pipeline import run_build
from ilid_ray.storage import Store
from ilid_ray.testing.catalog import FAULTS, FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = pytest.mark.slow

DOWNLOAD_REASONS = {
    "image_404": "http 404", "image_html": "not an image", "image_html_as_jpeg": "not an image",
    "image_truncated": "truncated", "image_private": "blocked", "image_bomb": "decompression bomb",
    "image_too_large": "too large",
}


def build_config(server: CatalogServer, root: Path, names: list[str] | None = None, **overrides) -> dict:
    specs = [server.spec(n).model_dump() for n in (names or list(server.catalogs))]
    cfg = {
        "catalogs": specs, "dataset": {"root": str(root), "shard_size": 8, "block_rows": 8},
        "network": server.network_config().model_dump(), "extract": {"engine": "rules"},
        "crawl": {"autothrottle": False},
        "download": {"max_bytes": 5 * 1024 * 1024, "max_pixels": 40_000_000, "retries": 1, "backoff_s": 0.1},
        "ray": {"num_cpus": 2},
    }
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return cfg


@pytest.fixture(scope="module")
def fixture_build(ray_local, tmp_path_factory):
    catalogs = [FixtureCatalog("acme", 16, "jsonld", seed=1, faults=True),
                FixtureCatalog("boltz", 16, "mixed", seed=2, faults=True)]
    root = tmp_path_factory.mktemp("built")
    with CatalogServer(catalogs) as server:
        result = run_build(BuildConfig.model_validate(build_config(server, root)))
        yield server, catalogs, Store(str(root)), result


def test_every_crawled_record_is_a_sample_or_a_reject_with_its_reason(fixture_build):
    server, catalogs, store, result = fixture_build
    manifest = Versions(store).manifest()
    accepted = set(manifest.column("url").to_pylist())
    rejects = read_parquet(store, f"rejects/{result.build_id}.parquet").to_pylist()
    rejected = {r["url"]: r for r in rejects}
    assert not accepted & set(rejected)
    for catalog in catalogs:
        for url, kind in catalog.expected.items():
            if kind == "ok":
                assert url in accepted, (url, rejected.get(url))
                continue
            assert url in rejected, f"{kind} at {url} neither accepted nor rejected"
            fault = FAULTS[kind]
            assert rejected[url]["stage"] == fault.stage, (kind, rejected[url])
            expected_reason = fault.reason or DOWNLOAD_REASONS[kind]
            assert expected_reason in rejected[url]["reason"], (kind, rejected[url]["reason"])
    stats = result.record["stats"]
    assert stats["crawled"] == stats["accepted"] + stats["rejected"] == len(accepted) + len(rejects)


def test_the_version_records_the_opt_outs_and_where_the_time_went(fixture_build):
    _, catalogs, _, result = fixture_build
    assert result.record["opt_outs"] == {c.name: OptOutSwitches().model_dump() for c in catalogs}
    profile = result.record["stats"]["profile"]
    workers = profile["image_workers"]
    assert len(workers) == 2  # download.concurrency
    stats = result.record["stats"]  # the commit moves pages displaced by a smaller id to the rejects
    assert sum(w["counts"].get("accepted", 0) for w in workers) == stats["accepted"] + stats.get("displaced", 0)
    assert all(w["seconds"]["flush"] >= 0 for w in workers)
    assert any("prefilter_rows" in name for name in profile["operators"])


def test_private_address_and_disallowed_pages_are_never_requested(fixture_build):
    server, _, _, _ = fixture_build
    assert server.private_log == []
    assert not [a for a in server.access_log if "/products/discontinued/" in a.path]


def test_shards_hold_exactly_the_manifest(fixture_build):
    _, _, store, result = fixture_build
    manifest = {r["key"]: r for r in Versions(store).manifest().to_pylist()}
    seen = {}
    for rel in result.shards:
        for sample in wds.WebDataset(store.uri(rel), shardshuffle=False):
            meta = json.loads(sample["json"])
            image = sample.get("jpg")
            assert image is not None, sample.keys()
            assert hashlib.sha256(image).hexdigest() == meta["image_sha256"]
            assert Image.open(io.BytesIO(image)).size == (512, 512)
            seen[sample["__key__"]] = meta
    assert seen.keys() == manifest.keys()
    for key, meta in seen.items():
        row = manifest[key]
        for field in ("id", "url", "label_short", "label_long", "material", "source", "fold", "image_sha256"):
            assert meta[field] == row[field], field
        assert 0 <= meta["fold"] < 6 and meta["label_short"] and meta["label_long"]
        assert meta["orig_width"] > 0 and meta["model"] == "rules-baseline"


def test_open_clip_reads_the_shards_captions_without_our_code(fixture_build):
    """open_clip's WebDataset trainer reads (image, `txt`): the caption is the build's caption_field."""
    _, _, store, result = fixture_build
    manifest = {r["key"]: r for r in Versions(store).manifest().to_pylist()}
    urls = [store.uri(rel) for rel in result.shards]
    pairs = list(wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("__key__", "jpg;png;webp", "txt"))
    assert len(pairs) == len(manifest)
    for key, image, caption in pairs:
        assert image.size == (512, 512) and caption == manifest[key]["label_long"]  # the default field


def test_dataset_stats_history_and_png(fixture_build):
    _, _, store, result = fixture_build
    runner = CliRunner()
    out = runner.invoke(dataset_cli, ["stats", "--root", store.root, "--json"])
    assert out.exit_code == 0, out.output
    stats = json.loads(out.output)
    samples = Versions(store).manifest().num_rows
    assert stats["samples"] == samples
    assert stats["fields"]["label_short"]["present"] == samples
    assert 0 < stats["fields"]["label_short"]["unique"] <= samples
    assert sum(stats["found_by"].values()) == result.record["stats"]["crawled"]
    assert {"json-ld", "microdata", "selectors"} <= set(stats["found_by"])
    assert store.get_bytes("stats/v0001-top-words.png").startswith(b"\x89PNG")
    history = runner.invoke(dataset_cli, ["history", "--root", store.root])
    assert history.exit_code == 0 and "v0001" in history.output and "acme,boltz" in history.output


def test_second_build_adds_only_the_new_catalog(ray_local, tmp_path):
    a = FixtureCatalog("alpha", 12, "jsonld", seed=3)
    b = FixtureCatalog("beta", 12, "microdata", seed=4)
    with CatalogServer([a, b]) as server:
        first = run_build(BuildConfig.model_validate(build_config(server, tmp_path, ["alpha"])))
        second = run_build(BuildConfig.model_validate(build_config(server, tmp_path)))
    versions = Versions(Store(str(tmp_path)))
    urls = versions.manifest().column("url").to_pylist()
    ok = {u for c in (a, b) for u, kind in c.expected.items() if kind == "ok"}
    assert len(urls) == len(set(urls)) and set(urls) == ok
    assert second.record["added"] == sum(1 for k in b.expected.values() if k == "ok")
    assert second.record["rejected_per_stage"].get("dedupe") == first.record["added"]
    assert set(versions.shards(1)) < set(versions.shards(2))  # old shards kept, new ones added


def _build_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "ilid_ray.cli", "build", "-c", str(config)]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_DATA_DISABLE_PROGRESS_BARS="1")
    return env


def test_killed_build_reruns_to_the_same_manifest_as_an_uninterrupted_one(tmp_path):
    catalogs = [FixtureCatalog("gamma", 16, "jsonld", seed=5, faults=True)]
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    slow = {"download": {"threads": 2, "concurrency": 1}, "dataset": {"shard_size": 3, "block_rows": 3}}
    with CatalogServer(catalogs, media_delay_s=0.5) as server:
        configs = {}
        for name, root in (("killed", killed_root), ("clean", clean_root)):
            configs[name] = tmp_path / f"{name}.yaml"
            configs[name].write_text(yaml.safe_dump(build_config(server, root, **slow)))
        store = Store(str(killed_root))
        driver = subprocess.Popen(_build_cmd(configs["killed"]), env=_env(), start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 300
            while not store.list("fragments") and time.time() < deadline and driver.poll() is None:
                time.sleep(0.1)
            assert store.list("fragments"), "the build wrote no shard before the deadline"
            driver.send_signal(signal.SIGKILL)  # the driver dies mid-run, without any cleanup
            driver.wait()
        finally:
            _kill_group(driver.pid)  # and the local Ray processes the driver started
        assert Versions(store).latest() is None, "killed too late: the build had already committed"

        for name in ("killed", "clean"):
            done = subprocess.run(_build_cmd(configs[name]), env=_env(), capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-3000:]
    resumed, clean = Versions(store), Versions(Store(str(clean_root)))
    assert resumed.record()["resumed"] is True

    def content(versions: Versions) -> list[tuple]:
        table = versions.manifest().drop_columns(["shard", "build_id"])
        return sorted(tuple(r.values()) for r in table.to_pylist())

    assert content(resumed) == content(clean)
    in_shards = [s["__key__"] for rel in resumed.shards() for s in wds.WebDataset(store.uri(rel), shardshuffle=False)]
    assert sorted(in_shards) == sorted(resumed.manifest().column("key").to_pylist())
    assert set(store.list(f"shards/{resumed.record()['build_id']}")) == set(resumed.shards())


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
