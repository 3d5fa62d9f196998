"""Memory of a large build: 100,000 records through pre-filter -> extract (rules) -> post-filter ->
manifest, streaming on Ray Data vs the reference scripts' whole-JSON-in-memory way.

    python bench/memory_build.py [--records 100000] [--no-scale-check]

Synthetic raw records (fixture products' titles and text blocks, unique page URLs, 5 sources) are
written once as Parquet files in the build's row schema (what a crawl leaves in `raw/`) and as the
reference's per-source crawl JSON. No images: download and shards are skipped on both sides.

ilid-ray side: a private local Ray instance running the build's text half through the pipeline's
public parts, with a build config as a user writes it (5 catalogs with the trade-name regex, the
rules engine): `read_raw` -> `text_stages` (prefilter + URL de-duplication against the key
registry, which does hold every id: O(records) by design; rules extraction, actor pool;
postfilter), consumed by the driver's `Tally`, which counts every row and writes the rejects to
Parquet one batch at a time. Reference side: its
pre-filter, processing, post-filter and assemble steps as separate processes, each loading the
whole JSON (assemble's URL check uses a set here: the reference's linear scan would take hours at
this size). Peak memory of each process tree (bench/common.py), records/s, and, unless
--no-scale-check, the same at a tenth of the records: memory that streams stays flat, memory that
holds everything grows with the records. One JSON line, also written to bench/results/memory_build.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import header, last_json_line, load_avg, run_measured, write_result

from ilid_ray.config import DatasetConfig

NAME = "memory_build"
SOURCES = 5
DISTINCT_PRODUCTS = 2000  # product texts are cycled; URLs (and so ids) are unique per record


# --------------------------------------------------------------------------- input


def write_inputs(records: int, folder: Path) -> tuple[list[Path], list[Path], str]:
    """Raw Parquet files (row schema) and the reference's crawl JSON files, one per source,
    written in chunks. Returns (parquet paths, json paths, the trade-name regex of the brand)."""
    import pyarrow.parquet as pq

    from ilid_ray.records import ROW_SCHEMA, raw_row, to_table
    from ilid_ray.testing.products import brand_for, make_product

    products = [make_product("synthetic", 0, i) for i in range(DISTINCT_PRODUCTS)]
    folder.mkdir(parents=True, exist_ok=True)
    parquet_paths, json_paths = [], []
    for s in range(SOURCES):
        source = f"synthetic-{s}"
        indices = range(s, records, SOURCES)
        pq_path, json_path = folder / f"{source}.parquet", folder / f"{source}.json"
        with pq.ParquetWriter(pq_path, ROW_SCHEMA) as writer, open(json_path, "w") as out:
            out.write("[")
            for start in range(0, len(indices), 5000):
                rows = []
                for i in indices[start:start + 5000]:
                    p = products[i % DISTINCT_PRODUCTS]
                    url = f"https://{source}.example/products/{p.slug}-{i}.html"
                    image = f"https://{source}.example/media/{i}/{p.slug}-0.jpg"
                    rows.append(raw_row(url, source, p.title, p.text_blocks(), [image], "2026-01-01T00:00:00+00:00"))
                writer.write_table(to_table(rows))
                items = [{"url": r["url"], "image_url": r["image_urls"][0],
                          "web": {"label": r["label"], "data": r["data"]}} for r in rows]
                out.write(("," if start else "") + ",".join(json.dumps(item) for item in items))
            out.write("]")
        parquet_paths.append(pq_path)
        json_paths.append(json_path)
    return parquet_paths, json_paths, brand_for("synthetic", 0).regex()


# --------------------------------------------------------------------------- ilid-ray side (child)


def ray_side(raw_dir: str, out_dir: str, trade_names: str, block_rows: int, extract_replicas: int) -> None:
    from common import init_local_ray

    ray = init_local_ray()
    from ilid_ray.config import BuildConfig
    from ilid_ray.dataset import dedupe
    from ilid_ray.dataset.pipeline import Tally, operator_stats, read_raw, text_stages
    from ilid_ray.storage import Store

    started = time.perf_counter()
    store = Store(raw_dir)
    sources = sorted(p.stem for p in Path(raw_dir).glob("*.parquet"))
    cfg = BuildConfig.model_validate({
        "catalogs": [{"name": s, "sitemap_urls": [f"https://{s}.example/sitemap.xml"], "trade_names": trade_names}
                     for s in sources],
        "dataset": {"root": out_dir, "block_rows": block_rows},
        "extract": {"engine": "rules", "batch_size": block_rows, "concurrency": extract_replicas, "num_cpus": 0.25},
    })
    registry = dedupe.start_registry(None, cfg.dataset.registry_shards)
    ds = text_stages(read_raw(store, [f"{s}.parquet" for s in sources], cfg.dataset), cfg, registry.claim)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tally = Tally("bench", out / "rejects.parquet")
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):  # no images: no image workers
        tally.add(batch)
    tally.close()
    seconds = time.perf_counter() - started
    operators = operator_stats(ds)
    registry.kill()
    ray.shutdown()
    print(json.dumps({"pipeline_s": round(seconds, 2), "samples": tally.status["ok"],
                      "rejected": tally.status["rejected"], "block_rows": block_rows, "operators": operators}),
          flush=True)


# --------------------------------------------------------------------------- sides (parent)


def run_ray(raw_dir: Path, work: Path, trade_names: str, records: int, args) -> dict:
    cmd = [sys.executable, __file__, "--ray-side", str(raw_dir), str(work / "ray-out"), trade_names,
           "--block-rows", str(args.block_rows), "--extract-replicas", str(args.extract_replicas)]
    out, wall, memory = run_measured(cmd)
    side = last_json_line(out)
    side.update(wall_s=round(wall, 2), records_per_s=round(records / side["pipeline_s"], 1),
                memory=memory.as_dict(), cpu_s_by_process=memory.top_cpu())
    return side


def run_reference(json_paths: list[Path], work: Path, trade_names: str, records: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).with_name("reference_pipeline.py")), "run", "--work", str(work / "ref"),
           "--no-download", "--url-check", "set", "--regex", trade_names,
           *sum((["--crawled", str(p)] for p in json_paths), [])]
    out, wall, memory = run_measured(cmd)
    side = last_json_line(out)
    steps_s = sum(side["stage_s"].values())
    side.update(wall_s=round(wall, 2), samples=side["assembled"], records_per_s=round(records / steps_s, 1),
                memory=memory.as_dict(), cpu_s_by_process=memory.top_cpu())
    return side


def measure(records: int, work: Path, args) -> dict:
    started = time.perf_counter()
    parquet_paths, json_paths, trade_names = write_inputs(records, work / "input")
    out = {"records": records, "input_written_s": round(time.perf_counter() - started, 1),
           "input_mb": {"parquet": round(sum(p.stat().st_size for p in parquet_paths) / 2**20, 1),
                        "json": round(sum(p.stat().st_size for p in json_paths) / 2**20, 1)}}
    out["reference"] = run_reference(json_paths, work, trade_names, records)
    out["ray"] = run_ray(work / "input", work, trade_names, records, args)
    for p in [*parquet_paths, *json_paths]:
        p.unlink()
    ray_pss, ref_pss = out["ray"]["memory"]["peak_tree_pss_mb"], out["reference"]["memory"]["peak_tree_pss_mb"]
    out["peak_tree_pss_ratio_ray_vs_reference"] = round(ray_pss / ref_pss, 2)
    out["throughput_ratio_ray_vs_reference"] = round(out["ray"]["records_per_s"] / out["reference"]["records_per_s"], 2)
    return out


def growth(big: dict, small: dict, side: str, key: str) -> float:
    return round(big[side]["memory"][key] / small[side]["memory"][key], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--block-rows", type=int, default=DatasetConfig().block_rows,
                        help=f"rows per block (the build's default: {DatasetConfig().block_rows})")
    parser.add_argument("--extract-replicas", type=int, default=1, help="extraction actors (the build's default: 1)")
    parser.add_argument("--no-scale-check", action="store_true", help="skip the run at a tenth of the records")
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--ray-side", nargs=3, metavar=("RAW", "OUT", "TRADE_NAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ray_side:
        return ray_side(*args.ray_side, args.block_rows, args.extract_replicas)

    result = header(NAME)
    result["images"] = "none: download and shards skipped on both sides"
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        result["full"] = measure(args.records, Path(tmp) / "full", args)
        if not args.no_scale_check:
            small = measure(max(1, args.records // 10), Path(tmp) / "tenth", args)
            result["tenth"] = small
            result["growth_10x_records"] = {
                "ray_driver_rss": growth(result["full"], small, "ray", "peak_root_rss_mb"),
                "ray_driver_uss": growth(result["full"], small, "ray", "peak_root_uss_mb"),
                "ray_tree_pss": growth(result["full"], small, "ray", "peak_tree_pss_mb"),
                "reference_tree_pss": growth(result["full"], small, "reference", "peak_tree_pss_mb"),
            }
    result["load_avg_end"] = load_avg()
    write_result(NAME, result, args.results_dir)


if __name__ == "__main__":
    main()
