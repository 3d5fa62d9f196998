"""The paper's variants beside the strong baselines, from one `ilid cv` run of the shipped tiny CPU
config (local Ray, CPU).

    python bench/train_variants.py [--variants coop,clipadapter,coopia,coopiata,linearprobe,tipadapter,...]
                                   [--folds 0] [--seeds 0,1,2] [--samples 360] [--set KEY=VALUE ...]

Writes the synthetic textures task (6 texture labels in random colours, 32 px; labels repeat in
every test batch of 32) and cross-validates the listed variants with configs/train/tiny-cpu.yaml as
a user runs it (`ilid cv --config configs/train/tiny-cpu.yaml`): the bench overrides only the data
root, output folder, variants, folds, seeds and the feature cache (on: the baselines need it), plus
any `--set` given (recorded). Random frozen tower: only what the adapters learn counts. Prints the
summary table (mean ± std over seeds, or over folds with one seed), each variant's top-1 against
the linear probe's measured in the same run, and one JSON line, also written to
bench/results/train_variants.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = "coop,clipadapter,coopia,coopiata,linearprobe,tipadapter,tipadapterf,lowrank"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(REPO / "configs" / "train" / "tiny-cpu.yaml"))
    parser.add_argument("--variants", default=VARIANTS)
    parser.add_argument("--folds", default="0")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--samples", type=int, default=360)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a further config override, as `ilid cv --set`")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="building .* with RANDOM weights")
    from bench.common import header, load_avg, write_result
    from ilid_ray.testing.textures import TextureSpec, write_texture_dataset
    from ilid_ray.train.config import load_train_config
    from ilid_ray.train.cv import cross_validate, format_summary

    result = header("train_variants")
    with tempfile.TemporaryDirectory() as tmp:
        write_texture_dataset(f"{tmp}/data", TextureSpec(samples=args.samples, image_size=32, shard_size=90))
        cfg = load_train_config(args.config, [
            f"data.root={tmp}/data", f"output.storage_path={tmp}/runs", "feature_cache.enabled=true",
            f"cv.variants=[{args.variants}]", f"cv.folds=[{args.folds}]", f"cv.seeds=[{args.seeds}]",
            *args.overrides])
        started = time.perf_counter()
        out = cross_validate(cfg)
        seconds = time.perf_counter() - started
    print(format_summary(out.summary))
    probe = out.summary.get("linearprobe", {}).get("top1")
    vs_probe = {v: round(s["top1"] / probe, 3) for v, s in out.summary.items() if probe and "top1" in s}
    print("top-1 / linear probe's top-1:", ", ".join(f"{v} x{r}" for v, r in vs_probe.items()))
    result.update(summary=out.summary, ratio_top1_vs_linearprobe=vs_probe, seconds=round(seconds, 1),
                  load_avg_end=load_avg(),
                  config={"file": os.path.relpath(args.config, REPO), "variants": args.variants,
                          "folds": args.folds, "seeds": args.seeds, "samples": args.samples,
                          "overrides": args.overrides, "optim": cfg.optim.model_dump(), "loss": cfg.loss.model_dump(),
                          "baseline": cfg.baseline.model_dump(), "feature_cache_views": cfg.feature_cache.views})
    write_result("train_variants", result)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(REPO))
    main()
