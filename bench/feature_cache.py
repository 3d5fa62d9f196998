"""Adapter training with vs without the feature cache (same data, model, variant, epochs; local Ray).

    python bench/feature_cache.py [--model ViT-B-32] [--samples 120] [--epochs 3] [--views 2]

Writes a synthetic shapes dataset, then runs the real `fit` twice: images through the frozen image
tower every epoch (the baseline), and from the feature cache (K augmented views per image encoded
once). Reports training samples/s (epochs after the first, so start-up is out), the per-epoch time
including the held-out evaluation, the cache build time and the epochs after which the cache has paid
for itself. One JSON line on stdout, also written to bench/results/feature_cache.json. Random weights
(nothing to download): the encoder's cost is the same as with pretrained ones. Ratios only mean
something within one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(cfg_data: dict, name: str, cache: bool):
    from ilid_ray.train.config import TrainConfig
    from ilid_ray.train.trainer import fit

    data = json.loads(json.dumps(cfg_data))
    data["feature_cache"]["enabled"] = cache
    data["output"]["name"] = name
    started = time.perf_counter()
    outputs = fit(TrainConfig.model_validate(data))
    wall = time.perf_counter() - started
    history = json.loads(Path(outputs.metrics[0]).read_text())["history"]
    return history, wall


def per_epoch(history: list[dict], key: str) -> float:
    values = [h[key] for h in history[1:]] or [history[0][key]]
    return statistics.mean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--variant", default="clipadapter")
    parser.add_argument("--samples", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="building .* with RANDOM weights")

    from ilid_ray.runtime import init_ray
    from ilid_ray.testing.synthetic import SyntheticSpec, write_synthetic_dataset
    from ilid_ray.train.features import MARKER

    tmp = Path(tempfile.mkdtemp(prefix="ilid-bench-cache-"))
    write_synthetic_dataset(tmp / "data", SyntheticSpec(samples=args.samples, image_size=96, shard_size=60))
    init_ray()
    cfg = {
        "model": {"name": args.model, "pretrained": None, "variant": {"name": args.variant}},
        "data": {"root": str(tmp / "data"), "batch_size": 32, "crop_scale": [0.5, 1.0]},
        "optim": {"epochs": args.epochs, "warmup_epochs": 1},
        "scaling": {"num_workers": args.workers, "cpus_per_worker": 0.5},
        "feature_cache": {"enabled": False, "views": args.views, "path": str(tmp / "cache")},
        "eval": {"train_split": False, "tsne_samples": 0},
        "output": {"storage_path": str(tmp / "runs"), "progress": False},
    }
    plain, plain_wall = run(cfg, "images", cache=False)
    cached, cached_wall = run(cfg, "cached", cache=True)
    record = json.loads(next((tmp / "cache").glob(f"*/{MARKER}")).read_text())

    samples = plain[-1]["samples"]
    train_plain, train_cached = per_epoch(plain, "train_time_s"), per_epoch(cached, "train_time_s")
    epoch_plain, epoch_cached = per_epoch(plain, "epoch_time_s"), per_epoch(cached, "epoch_time_s")
    saved_per_epoch = epoch_plain - epoch_cached
    result = {
        "bench": "feature_cache", "model": args.model, "variant": args.variant, "samples": args.samples,
        "train_samples_per_epoch": samples, "epochs": args.epochs, "views": args.views, "workers": args.workers,
        "train_samples_per_s_images": round(samples / train_plain, 2),
        "train_samples_per_s_cached": round(samples / train_cached, 2),
        "train_speedup": round(train_plain / train_cached, 2),
        "epoch_s_images": round(epoch_plain, 3), "epoch_s_cached": round(epoch_cached, 3),
        "epoch_speedup": round(epoch_plain / epoch_cached, 2),
        "cache_build_s": record["build_seconds"],
        "break_even_epochs": round(record["build_seconds"] / saved_per_epoch, 2) if saved_per_epoch > 0 else None,
        "fit_wall_s_images": round(plain_wall, 1), "fit_wall_s_cached_incl_build": round(cached_wall, 1),
        "final_val_top1_images": plain[-1].get("val/top1"), "final_val_top1_cached": cached[-1].get("val/top1"),
    }
    line = json.dumps(result)
    print(line)
    out = REPO / "bench" / "results" / "feature_cache.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line + "\n")


if __name__ == "__main__":
    main()
