"""`ilid` under a user's first mistakes: each case runs the real command line as a subprocess and
checks its exit code (1 for an expected error, 2 for usage) and its one-line message; none starts Ray."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from ilid_ray.dataset.manifest import LATEST, write_json, write_parquet
from ilid_ray.records import MANIFEST_SCHEMA
from ilid_ray.storage import Store

REPO = Path(__file__).resolve().parents[1]


def ilid(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("ILID_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ilid_ray.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def error_line(done: subprocess.CompletedProcess) -> str:
    """The error message: exactly one `Error:` line and no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def dataset_with_one_version(root: Path) -> Store:
    store = Store(str(root))
    rows = [{name: (i if name == "fold" else f"{name}-{i}") for name in MANIFEST_SCHEMA.names} for i in range(50)]
    write_parquet(store, pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), "manifest/v0001.parquet")
    write_json(store, {"version": "v0001", "catalogs": ["c"], "added": 50, "total": 50, "rejected": 0,
                       "created_at": "2026-01-01T00:00:00+00:00"}, "versions/v0001.json")
    store.put_bytes(b"v0001", LATEST)
    return store


@pytest.mark.parametrize("command", [
    ["dataset", "stats", "--root", "{empty}"],
    ["dataset", "export", "--root", "{empty}", "--to", "{tmp}/target"],
])
def test_a_root_without_a_version_says_to_build_one(command, tmp_path):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty", tmp=tmp_path) for a in command]
    done = ilid(*args, cwd=tmp_path)
    assert done.returncode == 1
    line = error_line(done)
    assert str(tmp_path / "empty") in line and "no committed" in line and "ilid build" in line


def test_debug_shows_the_traceback(tmp_path):
    done = ilid("--debug", "dataset", "stats", "--root", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "FileNotFoundError" in done.stderr


@pytest.mark.parametrize("version, message", [("vfoo", "not a dataset version: 'vfoo'"),
                                              ("v0007", "has no version v0007 (versions v0001..v0001")])
def test_a_bad_version_name(version, message, tmp_path):
    dataset_with_one_version(tmp_path / "data")
    done = ilid("dataset", "diff", "--root", str(tmp_path / "data"), version, cwd=tmp_path)
    assert done.returncode == 1
    assert message in error_line(done)


def test_diff_exits_cleanly_after_its_answer(tmp_path):
    """It printed the diff, then sometimes aborted at exit: an Arrow thread dropped the last reference
    to a Python-owned buffer while the interpreter was shutting down (about 1 run in 15)."""
    dataset_with_one_version(tmp_path / "data")
    done = ilid("dataset", "diff", "--root", str(tmp_path / "data"), "v0001", "latest", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"added": 0' in done.stdout and "terminate" not in done.stderr


def test_a_misspelt_config_key_names_the_key(tmp_path):
    config = tmp_path / "build.yaml"
    config.write_text("catalogs: []\ndataset: {root: ./data, shrad_size: 3}\n")
    done = ilid("build", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 1
    line = error_line(done)
    assert "dataset.shrad_size" in line and "Extra inputs are not permitted" in line


@pytest.mark.parametrize("command, message", [
    (["build", "-c", "missing.yaml"], "'missing.yaml' does not exist"),
    (["build", "-c", str(REPO / "configs/build/fixture.yaml"), "--catalog", "nope"], "not in the config: ['nope']"),
    (["no-such-command"], "No such command"),
])
def test_usage_errors_exit_2(command, message, tmp_path):
    done = ilid(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert message in error_line(done)


@pytest.mark.slow
def test_serve_with_a_missing_checkpoint_fails_before_starting_ray(tmp_path):
    done = ilid("serve", "--clip-checkpoint", str(tmp_path / "nope"), cwd=tmp_path)
    assert done.returncode == 1
    assert f"CLIP checkpoint not found: {tmp_path / 'nope'}" in error_line(done)
    assert "Started a local Ray instance" not in done.stderr
