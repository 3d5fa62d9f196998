"""`ilid` under a user's first mistakes: each case runs the real command line as a subprocess and
checks its exit code (1 for an expected error, 2 for usage) and its one-line message; none starts Ray."""

from __future__ import annotations

import os
import socket
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


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mistakes_folder(tmp: Path) -> dict[str, str]:
    """What the first-mistake cases point at: an empty folder, a class folder with no image, a root
    with a shard but no checkpoint, a file that is not YAML, a probe config that does not wait."""
    (tmp / "empty").mkdir()
    (tmp / "notes" / "scratch").mkdir(parents=True)
    (tmp / "notes" / "scratch" / "readme.txt").write_text("not a picture")
    (tmp / "shards-only" / "shards").mkdir(parents=True)
    (tmp / "shards-only" / "shards" / "000000.tar").write_bytes(b"")
    (tmp / "broken.yaml").write_text("catalogs: [\n")
    (tmp / "probe.yaml").write_text("catalogs: []\ncrawl: {autothrottle: false, retry_times: 0}\n"
                                    "network: {allow_private: [127.0.0.1/32]}\n")
    return {"tmp": str(tmp), "train": str(REPO / "configs/train/tiny-cpu.yaml"),
            "build": str(REPO / "configs/build/fixture.yaml"), "port": str(closed_port())}


TINY = ["--model-name", "ilid-tiny-clip", "--pretrained", "none"]
FIRST_MISTAKES = [  # (command, exit code, what the one line says)
    (["dataset", "import", "--folder", "{tmp}/empty", "--root", "{tmp}/data"], 1, "no images in {tmp}/empty"),
    (["dataset", "import", "--folder", "{tmp}/notes", "--root", "{tmp}/data"], 1,
     "none of its 1 files is named like an image"),
    (["dataset", "import", "--root", "{tmp}/data"], 1, "source: Field required"),
    (["synth", "scenes", "--root", "{tmp}/empty", "--out", "{tmp}/scenes"], 1, "no committed dataset version"),
    (["catalog", "probe", "shop.example"], 2, "give an http(s) URL of a shop"),
    (["catalog", "probe", "http://127.0.0.1:{port}/", "-c", "{tmp}/probe.yaml", "--pages", "2", "--delay", "0"], 1,
     "robots.txt: connection refused"),
    (["crawl", "-c", "{build}", "--catalog", "nope"], 2, "not in the config: ['nope']"),
    (["crawl", "-c", "{tmp}/missing.yaml"], 2, "does not exist"),
    (["build", "-c", "{tmp}/broken.yaml"], 1, "expected the node content"),
    (["build", "-c", "{build}", "--engine", "gpt"], 2, "'gpt' is not one of"),
    # these import torch (~6 CPU-seconds each, hence slow), never a model
    *[pytest.param(*case, marks=pytest.mark.slow) for case in [
        (["train", "-c", "{train}", "-o", "data.root={tmp}/empty"], 1, "no WebDataset shards under {tmp}/empty/shards"),
        (["train", "-c", "{train}", "-o", "data.root={tmp}/shards-only", "--resume-from", "{tmp}/empty"], 1,
         "no training checkpoint at {tmp}/empty"),
        (["cv", "-c", "{train}", "-o", "data.root={tmp}/empty"], 1, "no WebDataset shards under {tmp}/empty/shards"),
        (["eval", "run", "--root", "{tmp}/empty", *TINY], 1, "no WebDataset shards under {tmp}/empty/shards"),
        (["eval", "classes", *TINY], 2, "give --root (dataset folds) or --folder"),
        (["eval", "classes", "--folder", "{tmp}/notes", *TINY], 1, "no usable image in {tmp}/notes"),
        (["eval", "prompts", "--images", "{tmp}/notes", "--prompt", "steel", *TINY], 1, "give at least two prompts"),
    ]],
]


@pytest.mark.parametrize("command, code, message", FIRST_MISTAKES)
def test_first_mistakes_of_each_command_end_in_one_line_before_ray(command, code, message, tmp_path):
    where = mistakes_folder(tmp_path)
    done = ilid(*[a.format(**where) for a in command], cwd=tmp_path)
    assert done.returncode == code, done.stderr
    line = error_line(done)
    assert message.format(**where) in line and "(unexpected;" not in line
    assert "Started a local Ray instance" not in done.stderr


@pytest.mark.slow
def test_serve_with_a_missing_checkpoint_fails_before_starting_ray(tmp_path):
    done = ilid("serve", "--clip-checkpoint", str(tmp_path / "nope"), cwd=tmp_path)
    assert done.returncode == 1
    assert f"CLIP checkpoint not found: {tmp_path / 'nope'}" in error_line(done)
    assert "Started a local Ray instance" not in done.stderr
