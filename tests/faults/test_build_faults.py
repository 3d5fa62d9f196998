"""Faults during a build, each with the real part really failing: the S3 server (s3rver) killed
and restarted, catalog servers that hang, an image worker's process SIGKILLed while it
downloads, the driver SIGKILLed while it commits, a worker node of a multi-node cluster killed.
Each ends in a valid dataset equal to one uninterrupted build of the same shop (the module's
`reference`), after at most one rerun of the same command; a failure says what happened in one
line. BENCHMARKS.md's reliability table lists the outcomes."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from ilid_ray.config import BuildConfig
from ilid_ray.crawl.runner import CrawlError
from ilid_ray.dataset.manifest import LATEST, Versions, read_json, read_parquet, version_name
from ilid_ray.dataset.pipeline import run_build
from ilid_ray.storage import Store
from ilid_ray.testing import s3
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(900)]

POLL_S = 0.02
LOCAL_CLUSTER = Path(__file__).with_name("local_cluster.py")


def build_config(server: CatalogServer, root: str | Path, *extra: CatalogServer, **overrides) -> dict:
    """A tiny build of the shop (and the catalogs of `extra` servers): one image fetch at a time per
    worker on a slow image host, so a fault lands while downloads are in flight."""
    cfg = {
        "catalogs": [s.spec(n).model_dump() for s in (server, *extra) for n in s.catalogs],
        "dataset": {"root": str(root), "shard_size": 3, "block_rows": 4},
        "network": server.network_config().model_dump(), "extract": {"engine": "rules"},
        "crawl": {"autothrottle": False},
        "download": {"threads": 1, "concurrency": 2, "retries": 1, "backoff_s": 0.1},
        "ray": {"num_cpus": 2},
    }
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def build_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_DATA_DISABLE_PROGRESS_BARS="1")
    return env


def start_build(config: Path, log: Path, *flags: str) -> subprocess.Popen:
    """`ilid build` as a user runs it, in its own process group (its local Ray instance with it)."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "ilid_ray.cli", "build", "-c", str(config), *flags],
                                env=build_env(), start_new_session=True, stdout=out, stderr=subprocess.STDOUT)


def rerun(config: Path, log: Path, *flags: str) -> None:
    build = start_build(config, log, *flags)
    try:
        assert build.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        kill_group(build.pid)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def error_line(log: Path) -> str:
    """The failed command's message: one `Error: ...` line, no traceback (Ray may still stream its
    processes' log lines after it)."""
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in text.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, text[-3000:]
    assert "unexpected" not in errors[0], errors[0]  # a failure the command knows how to word
    return errors[0]


def wait_for(what: str, condition, build: subprocess.Popen | None = None, timeout_s: float = 300.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert build is None or build.poll() is None, f"the build ended (status {build.returncode}) before {what}"
        time.sleep(POLL_S)
    raise AssertionError(f"no {what} within {timeout_s:.0f} s")


def ray_processes(root_pid: int, title: str) -> list[psutil.Process]:
    """Processes under `root_pid` whose Ray process title starts with `ray::{title}`."""
    found = []
    try:
        children = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for proc in children:
        try:
            if " ".join(proc.cmdline()).startswith(f"ray::{title}"):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def media_requests(server: CatalogServer) -> int:
    return sum(1 for a in server.access_log if a.path.startswith("/media/"))


def content(store: Store) -> list[tuple]:
    """The latest manifest's rows without what differs between equal builds (shard names, build id)."""
    table = Versions(store).manifest().drop_columns(["shard", "build_id"])
    return sorted(tuple(r.values()) for r in table.to_pylist())


def assert_valid(store: Store) -> Versions:
    """Committed versions 1..LATEST with nothing beyond them, no build left running, and shards
    that hold exactly the manifest's samples."""
    versions = Versions(store)
    latest = versions.latest()
    assert latest, f"{store.root} has no committed version"
    names = [version_name(n) for n in range(1, latest + 1)]
    assert store.list("manifest") == [f"manifest/{n}.parquet" for n in names]
    assert sorted(rel for rel in store.list("versions")) == [f"versions/{n}.json" for n in names]
    assert not [rel for rel in store.list("builds") if read_json(store, rel)["status"] == "running"]
    manifest = versions.manifest()
    assert set(store.list("shards")) == set(versions.shards())
    keys = []
    for rel in versions.shards():
        with tarfile.open(fileobj=io.BytesIO(store.get_bytes(rel))) as tar:
            keys += sorted({Path(m.name).name.split(".", 1)[0] for m in tar.getmembers()})
    assert sorted(keys) == sorted(manifest.column("key").to_pylist())
    return versions


class GatedShop(FixtureCatalog):
    """A shop whose images wait while `images_open` is clear (a test holds the build's writers)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.images_open = threading.Event()
        self.images_open.set()

    def respond(self, path: str):
        if path.startswith("/media/"):
            self.images_open.wait(300)
        return super().respond(path)


@pytest.fixture(scope="module")
def shop():
    """One shop on a slow image host (0.25 s per image) for every build of the module."""
    with CatalogServer(GatedShop("shop", 12, "jsonld", seed=16), media_delay_s=0.25) as server:
        yield server


@pytest.fixture(scope="module")
def reference(shop, ray_local, tmp_path_factory) -> list[tuple]:
    """The manifest content of one uninterrupted build of the shop."""
    root = tmp_path_factory.mktemp("reference")
    run_build(BuildConfig.model_validate(build_config(shop, root)))
    rows = content(Store(str(root)))
    assert len(rows) == sum(1 for kind in shop.catalogs["shop"].expected.values() if kind == "ok")
    return rows


# --------------------------------------------------------------------------- the store


def s3rver_settled(objects: Path) -> bool:
    """Every object under `objects` complete (s3rver writes an object's metadata after its bytes)
    and nothing written for a moment: no upload is in flight."""
    def state() -> set:
        return {(p.name, p.stat().st_size) for p in objects.rglob("*") if p.is_file()}

    before = state()
    time.sleep(0.5)
    done = all(p.with_name(p.name.replace("._S3rver_object", "._S3rver_metadata.json")).exists()
               for p in objects.rglob("*._S3rver_object"))
    return done and state() == before


def test_s3_server_killed_and_restarted_mid_build(shop, reference, tmp_path, monkeypatch):
    data_dir, port = tmp_path / "s3", s3.free_port()
    data_dir.mkdir()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in dict(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=s3.ACCESS_KEY,
                           AWS_SECRET_ACCESS_KEY=s3.SECRET_KEY, AWS_REGION=s3.REGION,
                           AWS_REQUEST_CHECKSUM_CALCULATION="when_required",
                           AWS_RESPONSE_CHECKSUM_VALIDATION="when_required").items():
        monkeypatch.setenv(key, value)
    server = s3.start_process(data_dir, port, tmp_path / "s3rver.log")
    images = shop.catalogs["shop"].images_open
    try:
        s3.S3Server(endpoint, "faults", data_dir).client().create_bucket(Bucket="faults")
        root = "s3://faults/data"
        config = write_config(tmp_path / "build.yaml", build_config(shop, root))
        log = tmp_path / "build.log"
        build = start_build(config, log, "--force")  # s3rver ignores conditional writes (test_lease.py)
        try:
            objects = data_dir / "faults" / "data"
            wait_for("shard in the bucket", lambda: any(objects.glob("fragments/*/*")), build)
            # s3rver is not crash-safe (it acknowledges a PUT before its bytes are on disk, and a killed
            # upload leaves a truncated object), which real S3 never shows: kill it between uploads
            images.clear()
            wait_for("uploads to settle", lambda: s3rver_settled(objects), build)
            kill_group(server.pid)  # s3rver SIGKILLed mid-build: every request is refused
            server.wait()
            assert not any(objects.glob(f"{LATEST}*")), "stopped too late: the build had already committed"
            images.set()  # the next shards are written while the store is down
            time.sleep(1.0)  # the outage
            server = s3.start_process(data_dir, port, tmp_path / "s3rver.log")  # same port, same objects
            status = build.wait(timeout=600)
        finally:
            images.set()
            kill_group(build.pid)
        if status != 0:  # a clear failure, then the rerun of the same command resumes
            line = error_line(log)
            assert root in line, line
            rerun(config, log, "--force")
        store = Store(root)
        assert_valid(store)
        assert content(store) == reference
    finally:
        s3.stop_process(server)


# --------------------------------------------------------------------------- catalogs that hang


class HangingPages(FixtureCatalog):
    """A shop that answers robots.txt and its sitemaps but never a product page (until released)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.released = threading.Event()

    def respond(self, path: str):
        if path.startswith("/products/"):
            self.released.wait(120)
        return super().respond(path)


def test_catalog_hanging_on_its_pages_is_recorded_and_the_other_lands(shop, reference, tmp_path):
    stall = HangingPages("stall", 4, "jsonld", seed=17)
    with CatalogServer(stall) as hanging:
        try:
            cfg = build_config(shop, tmp_path, hanging, crawl={"download_timeout_s": 2.0, "retry_times": 0})
            result = run_build(BuildConfig.model_validate(cfg))
        finally:
            stall.released.set()
    store = Store(str(tmp_path))
    assert_valid(store)
    assert content(store) == reference  # every sample of the shop, none of the hanging one
    rejects = {r["url"]: r for r in read_parquet(store, f"rejects/{result.build_id}.parquet").to_pylist()}
    hung = [url for url, kind in stall.expected.items() if kind == "ok"]
    assert hung and all(rejects[url]["stage"] == "crawl" and "timeout" in rejects[url]["reason"] for url in hung), \
        [rejects.get(url) for url in hung]
    assert result.record["stats"]["per_source"]["stall"] == {"rejected": len(stall.expected)}  # + robots.txt's


def test_catalog_server_that_never_answers_refuses_the_build_naming_it(shop, ray_local, tmp_path):
    silent = socket.socket()  # connections complete in the kernel's backlog; nothing ever answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        spec = {"name": "silent", "start_urls": [f"http://127.0.0.1:{silent.getsockname()[1]}/robots.txt"]}
        cfg = build_config(shop, tmp_path, crawl={"download_timeout_s": 2.0, "retry_times": 0})
        cfg["catalogs"].append(spec)
        with pytest.raises(CrawlError, match=r"1 of 2 catalog crawls failed: silent: .*no product pages found"):
            run_build(BuildConfig.model_validate(cfg))
    finally:
        silent.close()
    store = Store(str(tmp_path))
    assert Versions(store).latest() is None and not store.list("shards")  # nothing published


# --------------------------------------------------------------------------- processes killed


def test_image_worker_sigkilled_while_downloading_fails_clearly_and_the_rerun_resumes(shop, reference, tmp_path):
    config = write_config(tmp_path / "build.yaml", build_config(shop, tmp_path / "data"))
    log = tmp_path / "build.log"
    build = start_build(config, log)
    try:
        workers = wait_for("two image workers", lambda: len(ray_processes(build.pid, "ImageWorker")) == 2
                           and ray_processes(build.pid, "ImageWorker"), build)
        fetched = media_requests(shop)
        wait_for("image download", lambda: media_requests(shop) > fetched, build)
        workers[0].kill()  # SIGKILL while its images are being fetched
        status = build.wait(timeout=600)
    finally:
        kill_group(build.pid)
    assert status == 1
    line = error_line(log)
    assert "image worker was lost" in line and "process has died" in line and "rerun" in line, line
    store = Store(str(tmp_path / "data"))
    assert Versions(store).latest() is None
    rerun(config, log)
    assert assert_valid(store).record()["resumed"] is True
    assert content(store) == reference


def test_driver_sigkilled_during_commit_reruns_to_one_valid_version(shop, reference, tmp_path):
    root = tmp_path / "data"
    config = write_config(tmp_path / "build.yaml", build_config(shop, root))
    log = tmp_path / "build.log"
    build = start_build(config, log)
    try:
        wait_for("commit", lambda: any((root / "rejects").glob("*")), build)  # the commit's first write
        kill_group(build.pid)  # the driver and its Ray instance, no cleanup
        build.wait()
    finally:
        kill_group(build.pid)
    committed = (root / LATEST).exists()
    rerun(config, log)
    store = Store(str(root))
    versions = assert_valid(store)
    assert content(store) == reference
    # killed before LATEST: the rerun resumes and commits v0001; after it: v0001 stands, the rerun adds nothing
    assert versions.latest() == (2 if committed else 1)
    assert versions.record()["added"] == (0 if committed else len(reference))


# --------------------------------------------------------------------------- a node killed


def on_nodes(raylets: dict[str, int], title: str) -> list[tuple[str, psutil.Process]]:
    """(node, process) for each process titled `ray::{title}...` that a node's raylet started."""
    return [(name, proc) for name, pid in raylets.items() for proc in ray_processes(pid, title)]


def test_worker_node_killed_on_a_labelled_multi_node_cluster(shop, reference, tmp_path):
    nodes = {"download-a": "download", "download-b": "download"}
    args = [arg for name, pool in nodes.items() for arg in ("--node", f"{name}={pool}")]
    with open(tmp_path / "cluster.log", "wb") as err:
        cluster = subprocess.Popen([sys.executable, str(LOCAL_CLUSTER), "--head-pool", "crawl", *args],
                                   env=build_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                   text=True, start_new_session=True)
    try:
        info = json.loads(cluster.stdout.readline() or "{}")
        assert info, (tmp_path / "cluster.log").read_text()[-3000:]
        raylets = info["raylets"]
        config = write_config(tmp_path / "build.yaml", build_config(
            shop, tmp_path / "data", ray={"address": info["address"], "num_cpus": None},
            crawl={"label_selector": {"ilid.io/pool": "crawl"}},
            download={"label_selector": {"ilid.io/pool": "download"}}))
        log = tmp_path / "build.log"
        build = start_build(config, log)
        try:
            crawl = wait_for("crawl task", lambda: on_nodes(raylets, "_crawl_to_store"), build)
            assert {name for name, _ in crawl} == {"head"}  # the crawl pool
            workers = wait_for("two image workers", lambda: len(on_nodes(raylets, "ImageWorker")) == 2
                               and on_nodes(raylets, "ImageWorker"), build)
            assert {name for name, _ in workers} <= set(nodes)  # the download pool
            fetched = media_requests(shop)
            wait_for("image download", lambda: media_requests(shop) > fetched, build)
            victim = workers[0][0]
            cluster.stdin.write(f"kill {victim}\n")
            cluster.stdin.flush()
            assert cluster.stdout.readline().strip() == f"killed {victim}"
            status = build.wait(timeout=600)
        finally:
            kill_group(build.pid)
        if status != 0:
            line = error_line(log)
            assert "image worker was lost" in line and "rerun" in line, line
            rerun(config, log)  # the surviving download node takes both workers
        store = Store(str(tmp_path / "data"))
        assert_valid(store)
        assert content(store) == reference
    finally:
        cluster.stdin.close()
        try:
            cluster.wait(timeout=60)
        finally:
            kill_group(cluster.pid)
