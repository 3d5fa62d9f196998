"""Mask generator backends: seconds per image of the serving mask generator over SAM vs MobileSAM.

    python bench/mask_backends.py [--sizes real] [--points-per-side 16] [--repeats 1] [--threads 2]

Both sides are `ilid_ray.serve.sam.MaskGenerator`, what the SAM replica runs, built from one
`SamConfig` that differs only in `backend` and `model_type`; every generator setting is the
config's default (the paper's thresholds) except `--points-per-side` (16: serve/local.yaml's CPU
setting; the default config's 32 is 4x the decoder work). Input: the real test photo (512x512).

Pairs (`--sizes`): `real` = SAM `--sam-model` (vit_b, the smallest released SAM; vit_h is the
paper's) vs MobileSAM vit_t, the released architectures with random weights (no checkpoint can be
had here: the compute is a trained model's, the number of masks that pass the thresholds is not);
`tiny` = the tiny test models (machinery only: tiny SAM's encoder runs at 256 px, tiny MobileSAM's
at 1024 px, so their ratio says nothing about the real ones).

Per side: `build_s`, `encoder_s` (the generator's own `predictor.set_image`: the image encoder alone),
`generate_s` (the whole generator call: encoder, then the point grid through the prompt encoder and
mask decoder, then SAM's filtering), best (least disturbed by other load) and all of `--repeats`
runs, interleaved between the sides. `ratio_generate_sam_vs_mobilesam` > 1: MobileSAM is faster.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, header, load_avg, write_result  # noqa: E402

NAME = "mask_backends"
PHOTO = REPO / "tests" / "data" / "real-photos" / "levelling_foot.png"


def configs(size: str, sam_model: str, points_per_side: int, threads: int) -> dict:
    from ilid_ray.serve.config import SamConfig

    common = dict(random_init=True, device="cpu", points_per_side=points_per_side, torch_threads=threads)
    if size == "tiny":
        return {"sam": SamConfig(backend="sam", model_type="tiny", **common),
                "mobilesam": SamConfig(backend="mobilesam", model_type="tiny", **common)}
    return {"sam": SamConfig(backend="sam", model_type=sam_model, **common),
            "mobilesam": SamConfig(backend="mobilesam", model_type="vit_t", **common)}


def measure(size: str, args, image) -> dict:
    import torch

    from ilid_ray.serve.sam import MaskGenerator

    sides = {}
    for backend, cfg in configs(size, args.sam_model, args.points_per_side, args.threads).items():
        started = time.perf_counter()
        generator = MaskGenerator(cfg)
        sides[backend] = {"model_type": cfg.model_type, "build_s": round(time.perf_counter() - started, 2),
                          "params_m": round(sum(p.numel() for p in generator.model.parameters()) / 1e6, 2),
                          "generator": generator, "encoder_runs_s": [], "generate_runs_s": []}
    for _ in range(args.repeats):
        for side in sides.values():
            with torch.inference_mode():
                started = time.perf_counter()
                side["generator"].generator.predictor.set_image(image)
                side["encoder_runs_s"].append(round(time.perf_counter() - started, 3))
            started = time.perf_counter()
            masks, _ = side["generator"](image)
            side["generate_runs_s"].append(round(time.perf_counter() - started, 3))
            side["masks"] = len(masks)
    for side in sides.values():
        del side["generator"]
        side["encoder_s"], side["generate_s"] = min(side["encoder_runs_s"]), min(side["generate_runs_s"])
    return {**sides, "ratio_generate_sam_vs_mobilesam": round(sides["sam"]["generate_s"] / sides["mobilesam"]["generate_s"], 2),
            "ratio_encoder_sam_vs_mobilesam": round(sides["sam"]["encoder_s"] / sides["mobilesam"]["encoder_s"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=("real", "tiny"), default=["real"])
    parser.add_argument("--sam-model", choices=("vit_b", "vit_l", "vit_h"), default="vit_b")
    parser.add_argument("--points-per-side", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads of each generator")
    parser.add_argument("--results-dir", default=None)
    args = parser.parse_args()

    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(PHOTO).convert("RGB"))
    result = header(NAME)
    result.update(image=f"{PHOTO.name} {image.shape[1]}x{image.shape[0]}", points_per_side=args.points_per_side,
                  prompts_per_image=args.points_per_side ** 2, threads=args.threads, repeats=args.repeats,
                  weights="random (released architectures; no checkpoint can be had here)")
    for size in args.sizes:
        result[size] = measure(size, args, image)
    result["load_avg_end"] = load_avg()
    write_result(NAME, result, args.results_dir)


if __name__ == "__main__":
    main()
