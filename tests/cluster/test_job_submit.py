"""`ray job submit` against a real head started with `ray start --head` on 127.0.0.1: the build job
runs on the cluster (its crawl and download stages pinned to the labelled CPU pool) and writes shards.

The head gets its own --temp-dir and is stopped by killing that session's processes only: `ray stop`
would also stop every other Ray instance on the machine."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import yaml

from ilid_ray.dataset.manifest import Versions
from ilid_ray.storage import Store
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env.update(RAY_AUTH_MODE="disabled", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")  # the job's `python` is this venv's
    return env


@pytest.fixture(scope="module")
def ray_head():
    temp_dir = tempfile.mkdtemp(prefix="ilid-head-", dir="/tmp")  # short: Ray's socket paths are length-capped
    port, dashboard = free_port(), free_port()
    env = cluster_env()
    subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    f"--dashboard-port={dashboard}", "--dashboard-host=127.0.0.1", "--include-dashboard=true",
                    "--num-cpus=2", "--labels", "ilid.io/pool=cpu", f"--temp-dir={temp_dir}", "--disable-usage-stats",
                    # the agents' default ports are fixed; other Ray instances on this machine may hold them
                    f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                    f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"],
                   env=env, check=True, capture_output=True, timeout=180)
    try:
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        for proc in psutil.process_iter(["cmdline"]):
            if any(temp_dir in part for part in proc.info["cmdline"] or []):
                try:
                    proc.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass
        shutil.rmtree(temp_dir, ignore_errors=True)


def submit(address: str, env: dict, entrypoint: list[str]) -> subprocess.CompletedProcess:
    """`ray job submit`, waiting for the head's job agent: right after `ray start` it may not be up,
    and the head then refuses the submission (nothing was submitted, so trying again is safe)."""
    deadline = time.time() + 120
    while True:
        job = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(REPO),
                              "--", *entrypoint], env=env, capture_output=True, text=True, timeout=600)
        if "No available agent to submit job" not in job.stderr or time.time() > deadline:
            return job
        time.sleep(2)


def test_build_job_submitted_to_a_running_head(ray_head, tmp_path):
    address, env = ray_head
    catalog = FixtureCatalog("submitted", 20, "jsonld", seed=7, faults=True)  # 12 faults + 8 good
    root = tmp_path / "dataset"
    with CatalogServer(catalog) as server:
        config = tmp_path / "build.yaml"
        config.write_text(yaml.safe_dump({
            "catalogs": [server.spec("submitted").model_dump()],
            "dataset": {"root": str(root), "shard_size": 50},
            "network": server.network_config().model_dump(),
            "crawl": {"autothrottle": False, "label_selector": {"ilid.io/pool": "cpu"}},
            "download": {"label_selector": {"ilid.io/pool": "cpu"}},
            "extract": {"engine": "rules"},
        }))
        job = submit(address, env, ["python", "jobs/build_dataset.py", "--config", str(config)])
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert "succeeded" in job.stdout and f"shards   {root}" in job.stdout
    versions = Versions(Store(str(root)))
    expected_ok = sum(1 for kind in catalog.expected.values() if kind == "ok")
    assert expected_ok > 0
    assert versions.latest() == 1 and versions.manifest().num_rows == expected_ok
    assert versions.shards() and all(Store(str(root)).exists(rel) for rel in versions.shards())
