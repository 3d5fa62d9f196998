"""LLM-written class descriptions (CuPL) against the single template, on the same folds.

    python bench/prompt_descriptions.py [--folds 0,1] [--seeds 0] [--samples 360] [--count 3]
                                        [--set KEY=VALUE ...]

Writes the synthetic textures task (6 texture labels in random colours, 32 px), has the embedded
SmolLM2-135M (transformers engine, `ilid prompts describe`'s code) write `count` descriptions per
label, then runs the same `ilid cv` twice with configs/train/tiny-cpu.yaml (CLIP-Adapter on the
feature cache; every run also scores zero-shot CLIP): once with the template, once with
`model.variant.descriptions` set to the file. Same folds, seeds and feature cache. Prints both
summaries and the descriptions/template ratio of top-1 for zero-shot and CLIP-Adapter; one JSON line
also goes to bench/results/prompt_descriptions.json.

The tiny tower has random weights: its text encoder knows no words, so these numbers show the
machinery, not whether descriptions help CLIP (that needs pretrained weights).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(REPO / "configs" / "train" / "tiny-cpu.yaml"))
    parser.add_argument("--folds", default="0,1")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--samples", type=int, default=360)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a further training config override, as `ilid cv --set`")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="building .* with RANDOM weights")
    from bench.common import header, load_avg, write_result
    from ilid_ray.prompts.describe import DescribeConfig, describe_labels
    from ilid_ray.prompts.files import write_descriptions
    from ilid_ray.testing.textures import TextureSpec, write_texture_dataset
    from ilid_ray.train.config import load_train_config
    from ilid_ray.train.cv import cross_validate, format_summary

    result = header("prompt_descriptions")
    with tempfile.TemporaryDirectory() as tmp:
        info = write_texture_dataset(f"{tmp}/data", TextureSpec(samples=args.samples, image_size=32, shard_size=90))
        started = time.perf_counter()
        doc = describe_labels(info["labels"], DescribeConfig(count=args.count))
        describe_s = time.perf_counter() - started
        path = write_descriptions(doc, f"{tmp}/descriptions.json")
        common = [f"data.root={tmp}/data", f"output.storage_path={tmp}/runs", "feature_cache.enabled=true",
                  "cv.variants=[clipadapter]", f"cv.folds=[{args.folds}]", f"cv.seeds=[{args.seeds}]",
                  *args.overrides]
        summaries, seconds = {}, {}
        for side, extra in (("template", []), ("descriptions", [f"model.variant.descriptions={path}"])):
            cfg = load_train_config(args.config, [*common, f"output.name=cv-{side}", *extra])
            started = time.perf_counter()
            summaries[side] = cross_validate(cfg).summary
            seconds[side] = round(time.perf_counter() - started, 1)
    for side, summary in summaries.items():
        print(f"--- {side}\n{format_summary(summary)}")
    ratios = {}
    for variant in ("zeroshot", "clipadapter"):
        template, described = (summaries[s].get(variant, {}).get("top1") for s in ("template", "descriptions"))
        ratios[variant] = described / template if template else None
        print(f"{variant}: top-1 {described} with descriptions vs {template} with the template "
              f"(x{ratios[variant]})")
    result.update(summaries=summaries, ratio_top1_descriptions_vs_template=ratios, seconds=seconds,
                  describe={"seconds": round(describe_s, 1), "model": doc["model"], "labels": doc["labels"],
                            "described": len(doc["descriptions"]), "rejected": len(doc["rejects"]),
                            "descriptions": doc["descriptions"], "prompt_version": doc["prompt_version"]},
                  load_avg_end=load_avg(),
                  config={"config": str(Path(args.config).relative_to(REPO)) if args.config.startswith(str(REPO))
                          else args.config, "folds": args.folds, "seeds": args.seeds, "samples": args.samples,
                          "count": args.count, "overrides": args.overrides})
    write_result("prompt_descriptions", result)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(REPO))
    main()
