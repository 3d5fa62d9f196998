"""Dataset build end to end: ilid-ray's Ray Data build vs the ILID reference scripts' method, on the
same locally served fixture catalogs, with the same `rules` engine on both sides.

    python bench/dataset_build.py [--products 2000] [--catalogs 4] [--sides reference,ray] [--tag 10k]

The fixture catalogs (four markup styles, no planted faults) are served by a separate process with
every product's first image rendered into its cache beforehand, so during the runs it only sends
bytes. Each side then runs as its own process tree, one after the other, sampled for memory
(bench/common.py): `run_build` on a private local Ray instance with the build's defaults (crawl as
parallel Ray tasks, then the streaming text half on Ray Data feeding the image workers; its own
profile comes from the version record), and bench/reference_pipeline.py (each step its own process, whole
JSON file in and out, one catalog after another, one image download at a time). Both crawl with the
same Scrapy spider and settings (autothrottle off), so the crawl stage is measured per side.
Reports records/s end to end, per-stage seconds, peak memory of each tree and the ratios. One JSON
line on stdout, also written to bench/results/dataset_build.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import header, last_json_line, load_avg, run_measured, served_catalogs, write_result

NAME = "dataset_build"


# --------------------------------------------------------------------------- ilid-ray side (child)


def ray_side(config_path: str) -> None:
    """Run `run_build` and print its stats, with the build's own profile (Ray Data operators, image
    workers), as one JSON line."""
    import ray

    from ilid_ray.config import BuildConfig
    from ilid_ray.dataset.pipeline import run_build

    cfg = BuildConfig.model_validate(json.loads(Path(config_path).read_text()))
    started = time.perf_counter()
    result = run_build(cfg)
    build_s = time.perf_counter() - started
    stats = result.record["stats"]
    out = {"build_s": round(build_s, 2), "crawled": stats["crawled"], "samples": stats["accepted"],
           "rejected": stats["rejected"], "rejected_per_stage": stats["rejected_per_stage"],
           "crawl_s": stats["crawl_s"], "run_build_duration_s": stats["duration_s"],
           "operators": stats["profile"]["operators"], "image_workers": stats["profile"]["image_workers"]}
    ray.shutdown()
    print(json.dumps(out), flush=True)


# --------------------------------------------------------------------------- orchestration


def build_config(specs: list[dict], allow: list[str], root: str, cpus: int) -> dict:
    return {
        "catalogs": specs, "dataset": {"root": root}, "network": {"allow_private": allow},
        "extract": {"engine": "rules"},  # everything else at the build's defaults
        "crawl": {"autothrottle": False, "max_pages": 10**9},
        "ray": {"address": "local", "num_cpus": cpus},
    }


def per_s(count: int, seconds: float) -> float:
    return round(count / seconds, 2) if seconds else 0.0


def run_ray(work: Path, specs: list[dict], allow: list[str], cpus: int, overrides: list[str]) -> dict:
    from ilid_ray.config import apply_overrides

    config = work / "ray-build.json"
    data = apply_overrides(build_config(specs, allow, str(work / "ray-dataset"), cpus), overrides)
    config.write_text(json.dumps(data))
    out, wall, memory = run_measured([sys.executable, __file__, "--ray-side", str(config)])
    side = last_json_line(out)
    pipeline_s = side["run_build_duration_s"] - side["crawl_s"]
    side.update(wall_s=round(wall, 2), records_per_s=per_s(side["crawled"], wall),
                samples_per_s=per_s(side["samples"], wall), pipeline_after_crawl_s=round(pipeline_s, 2),
                memory=memory.as_dict(), cpu_s_by_process=memory.top_cpu())
    return side


def run_reference(work: Path, specs: list[dict], allow: list[str]) -> dict:
    specs_file = work / "specs.json"
    specs_file.write_text(json.dumps(specs))
    cmd = [sys.executable, str(Path(__file__).with_name("reference_pipeline.py")), "run",
           "--specs", str(specs_file), "--work", str(work / "reference"), *sum((["--allow", a] for a in allow), [])]
    out, wall, memory = run_measured(cmd)
    side = last_json_line(out)
    side.update(wall_s=round(wall, 2), records_per_s=per_s(side["input_records"], wall),
                samples_per_s=per_s(side["samples"], wall), memory=memory.as_dict(),
                cpu_s_by_process=memory.top_cpu(),
                stage_records_per_s={k: per_s(side["input_records"], v) for k, v in side["stage_s"].items()})
    return side


def ratios(ray: dict, ref: dict) -> dict:
    ref_after_crawl = sum(v for k, v in ref["stage_s"].items() if k != "crawl")
    return {
        "end_to_end_speedup": round(ref["wall_s"] / ray["wall_s"], 2),
        "crawl_speedup": round(ref["stage_s"]["crawl"] / ray["crawl_s"], 2),
        "after_crawl_speedup": round(ref_after_crawl / ray["pipeline_after_crawl_s"], 2),
        "peak_tree_pss_ratio_ray_vs_reference": round(ray["memory"]["peak_tree_pss_mb"]
                                                      / ref["memory"]["peak_tree_pss_mb"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2000, help="products in all catalogs together")
    parser.add_argument("--catalogs", type=int, default=4)
    parser.add_argument("--sides", default="reference,ray", help="which sides, in this order")
    parser.add_argument("--cpus", type=int, default=None, help="Ray's num_cpus (default: all usable)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="build config override for the ilid-ray side, e.g. download.concurrency=4")
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--tag", default=None, help="results file suffix: dataset_build-TAG.json")
    parser.add_argument("--ray-side", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ray_side:
        return ray_side(args.ray_side)

    import os

    result = header(NAME)
    cpus = args.cpus or len(os.sched_getaffinity(0))
    sides = args.sides.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp, \
            served_catalogs(args.products, args.catalogs) as served:
        work = Path(tmp)
        result.update(products=args.products, catalogs=args.catalogs, server_prewarm_s=served.prewarm_s,
                      engine="rules on both sides (same engine and answer parser): only the pipeline differs",
                      crawl="per side, same Scrapy spider and settings; ilid-ray crawls catalogs in parallel "
                            "as Ray tasks, the reference one after another",
                      ray_num_cpus=cpus, ray_overrides=args.override)
        for side in sides:
            if side == "ray":
                result["ray"] = run_ray(work, served.specs, served.allow_private, cpus, args.override)
            elif side == "reference":
                result["reference"] = run_reference(work, served.specs, served.allow_private)
            else:
                parser.error(f"unknown side {side!r}")
    if "ray" in result and "reference" in result:
        result["ratios"] = ratios(result["ray"], result["reference"])
    result["load_avg_end"] = load_avg()
    write_result(NAME + (f"-{args.tag}" if args.tag else ""), result, args.results_dir)


if __name__ == "__main__":
    main()
