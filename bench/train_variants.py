"""The paper's variants beside the strong baselines, from one `ilid cv` run (local Ray, CPU).

    python bench/train_variants.py [--variants clipadapter,linearprobe,tipadapter,tipadapterf]
                                   [--folds 0,1] [--seeds 0] [--epochs 20] [--samples 360]

Writes the synthetic textures task (6 texture labels in random colours, 32 px; labels repeat in
every test batch of 32) and cross-validates the listed variants on the feature cache of the shipped
tiny open_clip config (random frozen tower: only what the adapters learn counts). Prints the
summary table (mean ± std over folds, or over seeds when several) and one JSON line, also written
to bench/results/train_variants.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default="clipadapter,linearprobe,tipadapter,tipadapterf")
    parser.add_argument("--folds", default="0,1")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=360)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="building .* with RANDOM weights")
    from bench.common import header, load_avg, write_result
    from ilid_ray.models import TINY_MODEL
    from ilid_ray.testing.textures import TextureSpec, write_texture_dataset
    from ilid_ray.train.config import TrainConfig
    from ilid_ray.train.cv import cross_validate, format_summary

    result = header("train_variants")
    with tempfile.TemporaryDirectory() as tmp:
        write_texture_dataset(f"{tmp}/data", TextureSpec(samples=args.samples, image_size=32, shard_size=90))
        cfg = TrainConfig.model_validate({
            "model": {"name": TINY_MODEL, "pretrained": None},
            "data": {"root": f"{tmp}/data", "batch_size": 32, "crop_scale": [0.6, 1.0]},
            "optim": {"lr": 0.5, "epochs": args.epochs, "warmup_epochs": 1},
            "scaling": {"num_workers": 1, "cpus_per_worker": 0.5},
            "feature_cache": {"enabled": True, "views": 4},
            "eval": {"train_split": False, "tsne_samples": 0, "every_epochs": args.epochs},
            "output": {"storage_path": f"{tmp}/runs", "name": "cv", "progress": False},
            "cv": {"variants": args.variants.split(","), "folds": [int(f) for f in args.folds.split(",")],
                   "seeds": [int(s) for s in args.seeds.split(",")], "max_parallel": 1},
            "ray": {"num_cpus": 2},
        })
        started = time.perf_counter()
        out = cross_validate(cfg)
    print(format_summary(out.summary))
    result.update(summary=out.summary, seconds=round(time.perf_counter() - started, 1), load_avg_end=load_avg(),
                  config={"variants": args.variants, "folds": args.folds, "seeds": args.seeds,
                          "epochs": args.epochs, "samples": args.samples})
    write_result("train_variants", result)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
