"""Each benchmark runs end to end at a tiny size and writes one JSON line with its figures.

No timing is asserted (the machine is shared): only that every bench produced the keys the
BENCHMARKS table reads, with positive figures, and that both sides of each comparison did the work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"


def run_bench(script: str, results: Path, *args: str, timeout: int = 600) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_DATA_DISABLE_PROGRESS_BARS="1")
    done = subprocess.run([sys.executable, str(BENCH / script), *args, "--results-dir", str(results)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    name = script.removesuffix(".py")
    written = json.loads((results / f"{name}.json").read_text())
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed == written
    assert written["bench"] == name and written["command"].startswith(f"python bench/{script}")
    assert written["machine"]["cpus"] >= 1 and len(written["load_avg_start"]) == 3 == len(written["load_avg_end"])
    return written


def positive_memory(memory: dict) -> None:
    assert memory["samples"] > 0
    assert 0 < memory["peak_root_rss_mb"] <= memory["peak_tree_rss_mb"]
    assert 0 < memory["peak_tree_pss_mb"] <= memory["peak_tree_rss_mb"]


def test_dataset_build_bench(tmp_path):
    result = run_bench("dataset_build.py", tmp_path, "--products", "30", "--catalogs", "2")
    ray, ref = result["ray"], result["reference"]
    assert ray["samples"] == ref["samples"] == 30  # fault-free catalogs: every product becomes a sample
    assert ray["crawled"] >= 30 and ref["input_records"] == 30
    assert set(ref["stage_s"]) == {"crawl", "prefilter", "processing", "postfilter", "assemble", "download"}
    assert all(v > 0 for v in ref["stage_s"].values())
    assert any("prefilter_rows" in op for op in ray["operators"])
    assert sum(w["counts"].get("accepted", 0) for w in ray["image_workers"]) == ray["samples"]
    for side in (ray, ref):
        assert side["wall_s"] > 0 and side["records_per_s"] > 0
        positive_memory(side["memory"])
    assert all(v > 0 for v in result["ratios"].values())


def test_image_fetch_bench(tmp_path):
    if not (BENCH / ".venv-img2dataset" / "bin" / "img2dataset").exists():
        pytest.skip("img2dataset's venv is missing (see BENCHMARKS.md: bench/.venv-img2dataset)")
    result = run_bench("image_fetch.py", tmp_path, "--images", "30", "--shard-size", "10")
    ours, theirs = result["ilid_ray"], result["img2dataset"]
    assert result["images"] == 30
    for side in (ours, theirs):
        assert side["samples"] == 30 and side["output_size"] == [512, 512] and side["tars"] >= 3
        assert side["images_per_s"] > 0
        positive_memory(side["memory"])
    assert result["ratio_images_per_s_ours_vs_img2dataset"] > 0
    assert result["plain"]["samples"] == 30 and result["ratio_images_per_s_ours_vs_plain"] > 0
    workers = ours["image_workers"]
    assert sum(w["counts"].get("rows", 0) for w in workers) == 30 and any(w["span"] for w in workers)
    floor = result["floor_single_core"]
    assert floor["ilid_ray_per_cpu_s"] > 0 and floor["opencv_area_per_cpu_s"] > 0


def test_memory_build_bench(tmp_path):
    result = run_bench("memory_build.py", tmp_path, "--records", "2000", "--no-scale-check")
    full = result["full"]
    assert full["records"] == 2000
    ray, ref = full["ray"], full["reference"]
    assert ray["samples"] + ray["rejected"] == 2000
    assert ray["samples"] == ref["samples"] > 0  # same engine, same filters: same survivors
    for side in (ray, ref):
        assert side["records_per_s"] > 0
        positive_memory(side["memory"])
    assert full["peak_tree_pss_ratio_ray_vs_reference"] > 0


def table_benches() -> int:
    """How many benches bench/table.py declares (each gets one row)."""
    sys.path.insert(0, str(BENCH))
    try:
        import table
    finally:
        sys.path.remove(str(BENCH))
    return len(table.BENCHES)


def test_table_lists_every_bench_and_the_results_present(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "serve_latency.json").write_text((BENCH / "results" / "serve_latency.json").read_text())
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nintro\n\n<!-- table:start -->\nstale table row\n<!-- table:end -->\n\nnotes\n")
    done = subprocess.run([sys.executable, str(BENCH / "table.py"), "--results-dir", str(results),
                           "--output", str(doc)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n") and text.endswith("\n\nnotes\n") and "stale table row" not in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    names = ("dataset_build", "image_fetch", "memory_build", "extract_engines", "feature_cache", "serve_latency")
    assert len(table) == 2 + table_benches()
    for name in names:
        row = next(line for line in table if f"bench/{name}.py" in line)
        assert ("no result yet" in row) == (name != "serve_latency")
    serve = json.loads((results / "serve_latency.json").read_text())
    serve_row = next(line for line in table if "bench/serve_latency.py" in line)
    assert f"x{serve['throughput_ratio_2_vs_1']:.2f}" in serve_row


def test_decode_paths_bench(tmp_path):
    result = run_bench("decode_paths.py", tmp_path, "--images", "12", "--repeats", "1")
    candidates = result["candidates"]
    assert {"ilid_make_sample", "opencv_full_area"} <= set(candidates)
    for candidate in candidates.values():
        assert candidate["full_per_cpu_s"]["all"]["best"] > 0
    assert candidates["ilid_make_sample"]["jpeg_bytes_identical_to_pil_draft"] == "12/12"


def test_registry_claims_bench(tmp_path):
    result = run_bench("registry_claims.py", tmp_path, "--known", "2000", "--shards", "1", "2", "--batch", "64",
                       "--clients", "2", "--seconds", "0.5")
    assert [run["shards"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert sum(run["known_per_shard"]) == 2000
        assert run["batch_64"]["sequential"]["keys_per_s"] > 0 and run["batch_64"]["concurrent"]["keys_per_s"] > 0


def test_mask_backends_bench(tmp_path):
    result = run_bench("mask_backends.py", tmp_path, "--sizes", "tiny", "--points-per-side", "2", "--threads", "1")
    assert "real" not in result and result["prompts_per_image"] == 4
    tiny = result["tiny"]
    for backend in ("sam", "mobilesam"):
        side = tiny[backend]
        assert side["model_type"] == "tiny" and side["params_m"] > 0 and len(side["generate_runs_s"]) == 1
        assert side["encoder_s"] > 0 and side["generate_s"] > 0
    assert tiny["ratio_generate_sam_vs_mobilesam"] == round(tiny["sam"]["generate_s"] / tiny["mobilesam"]["generate_s"], 2)
