"""Image fetch + resize + shard: ilid-ray's image half vs img2dataset, same URLs, same output; and
the same code in one plain process.

    python bench/image_fetch.py [--images 1000] [--processes 2] [--threads 16] [--shard-size 250]

All sides get the same list of image URLs (JPEG/PNG/WebP, 300x200 to 2000x1500) from the fixture
server (a separate process, every image rendered into its cache first) and write the same output:
WebDataset tars of 512x512 JPEGs (quality 95), the long side scaled to 512 and the rest padded
("border"), `--shard-size` samples per tar.

- img2dataset 1.47.0: `--processes` processes x `--threads` threads (multiprocessing distributor).
- ilid-ray: the build's image half as users run it, through the pipeline's public parts: the rows
  as a Ray Data dataset in blocks of `--block-rows`, `consume` handing them to
  `start_download_workers`' image workers (`--processes` workers x `--threads` fetch threads, one
  decode slot each, the build's key registry and host gate) and the light rows to the driver's
  `Tally`, then `flush_image_workers`; on a private local Ray instance started before the clock,
  Ray Data's executor too (their start-up is reported apart, `ray_init_s`).
- plain: the same `Downloader` (`download_rows`) and `ShardWriter` in one process without Ray
  (`--processes x --threads` fetch threads, one decode slot per core): the speed of the code itself.

Politeness: img2dataset has none; for the same work the ilid-ray sides run with the per-host
limits off (`per_host_rate: 0`, `per_host_concurrency` = all threads). The build's defaults (8 in
flight and 20 starts/s per image host) would cap these 4 fixture hosts at 80 images/s.

Work time, the same way for all: from the first image's fetch to the last shard written
(img2dataset's own *_stats.json; ilid-ray's image workers' own clocks), each with its process
start-up left out and reported as `images_per_s_incl_startup` (ilid-ray also `images_per_s_pipeline`:
from the dataset's creation, Ray Data's executor start included).

Also the single-core floor: decode + resize + encode alone on the same bytes, without any network,
with the download stage's `process_image` and with OpenCV (img2dataset's decoder and INTER_AREA).
One JSON line, also written to bench/results/image_fetch.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from common import REPO, header, last_json_line, load_avg, run_measured, served_catalogs, write_result

NAME = "image_fetch"
WORK_S_IS = {
    "ours": "the image workers' first call's start to the last shard flushed (pipeline_s: from the dataset's "
            "creation, Ray Data's executor start included)",
    "plain": "the Downloader's creation to the last shard written",
}
IMG2DATASET = REPO / "bench" / ".venv-img2dataset" / "bin" / "img2dataset"
SIZE = 512


# --------------------------------------------------------------------------- ilid-ray sides (children)


def configs(processes: int, threads: int, shard_size: int, block_rows: int):
    from ilid_ray.config import DatasetConfig, DownloadConfig, NetworkConfig

    download = DownloadConfig(threads=threads, concurrency=processes, image_size=SIZE, image_format="jpg",
                              jpeg_quality=95, per_host_rate=0, per_host_concurrency=processes * threads)
    dataset = DatasetConfig(shard_size=shard_size, block_rows=block_rows)
    return download, dataset, NetworkConfig(allow_private=["127.0.0.1/32"])


def url_rows(urls_file: str) -> list[dict]:
    from ilid_ray import records

    urls = Path(urls_file).read_text().split()
    return [records.raw_row(url, "bench", "bench", ["bench"], [url], "2026-01-01T00:00:00+00:00") for url in urls]


def ours(urls_file: str, out_dir: str, processes: int, threads: int, shard_size: int, block_rows: int) -> None:
    from common import init_local_ray

    started = time.perf_counter()
    ray = init_local_ray()
    ray.data.range(1).materialize()  # Ray Data's executor and its helper actors start once per driver
    ray_init_s = time.perf_counter() - started

    from ilid_ray import records
    from ilid_ray.dataset import dedupe
    from ilid_ray.dataset.hostgate import start_gate
    from ilid_ray.dataset.image_workers import flush_image_workers
    from ilid_ray.dataset.pipeline import Tally, consume, operator_stats, start_download_workers
    from ilid_ray.storage import Store

    download, dataset, network = configs(processes, threads, shard_size, block_rows)
    rows = url_rows(urls_file)
    store = Store(out_dir)
    registry = dedupe.start_registry(None, dataset.registry_shards)
    gate = start_gate()
    workers = start_download_workers(download, network, dataset, store, "bench", registry.claim, gate=gate)
    ray.get([w.__ray_ready__.remote() for w in workers])  # started before the clock, like Ray itself

    started, started_at = time.perf_counter(), time.time()
    blocks = [records.to_table(rows[i:i + block_rows]) for i in range(0, len(rows), block_rows)]
    ds = ray.data.from_arrow(blocks)
    tally = Tally("bench", Path(tempfile.mkdtemp(prefix="bench-rejects-")) / "rejects.parquet")
    consume(ds, workers, tally, download)
    tally.close()
    images = flush_image_workers(workers)
    ended_at = time.time()
    pipeline_s = time.perf_counter() - started
    operators = operator_stats(ds)
    ray.shutdown()
    first_call = min(w["span"][0] for w in images if w["span"])
    print(json.dumps({"ray_init_s": round(ray_init_s, 2), "work_s": round(ended_at - first_call, 2),
                      "pipeline_s": round(pipeline_s, 2), "first_call_after_s": round(first_call - started_at, 2),
                      "ok": tally.status[records.OK], "rejected": tally.status[records.REJECTED],
                      "operators": operators, "image_workers": images}), flush=True)


def plain(urls_file: str, out_dir: str, processes: int, threads: int, shard_size: int, block_rows: int) -> None:
    from ilid_ray import records
    from ilid_ray.dataset.download import download_rows
    from ilid_ray.dataset.image_workers import ShardWriter
    from ilid_ray.storage import Store

    download, dataset, network = configs(processes, threads, shard_size, block_rows)
    download = download.model_copy(update={"threads": processes * threads})
    rows = url_rows(urls_file)
    started = time.perf_counter()
    writer = ShardWriter(Store(out_dir), "bench", "jpg", shard_size, dataset.folds, dataset.fold_seed)
    rows = download_rows(rows, download, network)  # one Downloader, a decode slot per core
    writer.add([r for r in rows if records.is_ok(r)])
    writer.flush()
    print(json.dumps({"work_s": round(time.perf_counter() - started, 2),
                      "ok": sum(records.is_ok(r) for r in rows)}), flush=True)


# --------------------------------------------------------------------------- sides (parent)


def count_samples(folder: Path) -> tuple[int, tuple[int, int] | None, int]:
    """(JPEG members in all tars under folder, size of the first one, number of tars)."""
    from PIL import Image

    count, size = 0, None
    tars = sorted(folder.rglob("*.tar"))
    for path in tars:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.name.endswith(".jpg"):
                    count += 1
                    if size is None:
                        size = Image.open(io.BytesIO(tar.extractfile(member).read())).size
    return count, size, len(tars)


def run_side(side: str, urls_file: Path, out: Path, args) -> dict:
    cmd = [sys.executable, __file__, f"--{side}", str(urls_file), str(out), "--processes", str(args.processes),
           "--threads", str(args.threads), "--shard-size", str(args.shard_size), "--block-rows", str(args.block_rows)]
    stdout, wall, memory = run_measured(cmd)
    result = last_json_line(stdout)
    samples, size, tars = count_samples(out)
    result.update(wall_s=round(wall, 2), samples=samples, output_size=size, tars=tars,
                  images_per_s=round(samples / result["work_s"], 2),
                  **({"images_per_s_pipeline": round(samples / result["pipeline_s"], 2)} if "pipeline_s" in result else {}),
                  images_per_s_incl_startup=round(samples / wall, 2), memory=memory.as_dict(),
                  cpu_s_by_process=memory.top_cpu(),
                  work_s_is=WORK_S_IS[side])
    return result


def run_img2dataset(urls_file: Path, out: Path, args) -> dict:
    cmd = [str(IMG2DATASET), "--url_list", str(urls_file), "--input_format", "txt", "--output_folder", str(out),
           "--output_format", "webdataset", "--image_size", str(SIZE), "--resize_mode", "border",
           "--encode_format", "jpg", "--encode_quality", "95", "--processes_count", str(args.processes),
           "--thread_count", str(args.threads), "--number_sample_per_shard", str(args.shard_size),
           "--distributor", "multiprocessing", "--timeout", "15", "--enable_wandb", "False"]
    _, wall, memory = run_measured(cmd)
    stats = [json.loads(p.read_text()) for p in out.glob("*_stats.json")]
    span = max(s["end_time"] for s in stats) - min(s["start_time"] for s in stats)
    samples, size, tars = count_samples(out)
    return {"work_s": round(span, 2), "wall_s": round(wall, 2), "samples": samples, "output_size": size,
            "tars": tars, "failed": sum(s["failed_to_download"] + s["failed_to_resize"] for s in stats),
            "images_per_s": round(samples / span, 2), "images_per_s_incl_startup": round(samples / wall, 2),
            "memory": memory.as_dict(), "cpu_s_by_process": memory.top_cpu(),
            "parallelism": f"{args.processes} processes x {args.threads} threads",
            "work_s_is": "first shard's start to last shard's end, from img2dataset's own *_stats.json"}


def floor(images: list[bytes]) -> dict:
    """Single-core decode + resize + JPEG encode on bytes already in memory: the CPU floor per image
    of ilid-ray's download stage (`process_image`, sha256 included) and of img2dataset's OpenCV path
    (bench/decode_paths.py splits this by decoder, encoder and source format)."""
    import cv2
    import numpy as np

    from ilid_ray.config import DownloadConfig
    from ilid_ray.dataset.download import process_image
    from reference_pipeline import resize_without_distortion

    cv2.setNumThreads(1)
    cfg = DownloadConfig(image_size=SIZE, image_format="jpg", jpeg_quality=95)

    def opencv(data: bytes) -> None:
        img = resize_without_distortion(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), SIZE, SIZE)
        cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])

    out = {}
    for name, fn in (("ilid_ray", lambda data: process_image(data, cfg)), ("opencv_area", opencv)):
        started = time.process_time()
        for data in images:
            fn(data)
        out[f"{name}_per_cpu_s"] = round(len(images) / (time.process_time() - started), 1)
    out["measured_as"] = "images per CPU-second of this one thread (process_time), bytes already in memory"
    return out


def fetch_all(urls: list[str]) -> list[bytes]:
    return [urllib.request.urlopen(url, timeout=30).read() for url in urls]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--block-rows", type=int, default=64)
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--ours", nargs=2, metavar=("URLS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--plain", nargs=2, metavar=("URLS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours or args.plain:
        side = ours if args.ours else plain
        return side(*(args.ours or args.plain), args.processes, args.threads, args.shard_size, args.block_rows)
    if not IMG2DATASET.exists():
        sys.exit(f"{IMG2DATASET} missing: python -m venv bench/.venv-img2dataset && "
                 "bench/.venv-img2dataset/bin/pip install img2dataset==1.47.0")

    result = header(NAME)
    products = math.ceil(args.images / 1.5)  # products have 1 to 3 images
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp, \
            served_catalogs(products, 4, all_images=True) as served:
        work = Path(tmp)
        urls = [u for page in sorted(served.image_urls) for u in served.image_urls[page]][:args.images]
        urls_file = work / "urls.txt"
        urls_file.write_text("\n".join(urls) + "\n")
        formats = {ext: sum(u.endswith(ext) for u in urls) for ext in ("jpg", "png", "webp")}
        result.update(images=len(urls), formats=formats, server_prewarm_s=served.prewarm_s,
                      output=f"webdataset, {SIZE}x{SIZE} jpg q95, border resize, {args.shard_size} per tar")
        result["img2dataset"] = run_img2dataset(urls_file, work / "img2dataset", args)
        result["ilid_ray"] = run_side("ours", urls_file, work / "ours", args)
        result["ilid_ray"]["parallelism"] = (f"{args.processes} image workers x {args.threads} fetch threads, "
                                             f"1 decode slot each; blocks of {args.block_rows}")
        result["plain"] = run_side("plain", urls_file, work / "plain", args)
        result["plain"]["parallelism"] = f"1 process, {args.processes * args.threads} fetch threads, no Ray"
        result["floor_single_core"] = floor(fetch_all(urls))
    ours_, theirs, same_code = result["ilid_ray"], result["img2dataset"], result["plain"]
    result["ratio_images_per_s_ours_vs_img2dataset"] = round(ours_["images_per_s"] / theirs["images_per_s"], 2)
    result["ratio_images_per_s_ours_vs_plain"] = round(ours_["images_per_s"] / same_code["images_per_s"], 2)
    result["ratio_incl_startup"] = round(ours_["images_per_s_incl_startup"] / theirs["images_per_s_incl_startup"], 2)
    result["img2dataset_version"] = "1.47.0"
    result["load_avg_end"] = load_avg()
    write_result(NAME, result, args.results_dir)


if __name__ == "__main__":
    main()
