"""k-fold cross-validation: every listed variant (and baseline) trained once per held-out fold and
seed, runs in parallel as far as the cluster's free resources allow, then one table and one figure.

Each (variant, fold) run is an ordinary `fit` launched from a Ray task, so Ray schedules the runs'
worker groups as resources free up; `cv.max_parallel` (or the cluster size) bounds how many wait at
once. The feature cache, if enabled, is built once before the runs and shared by all of them.
Outputs under `{output.storage_path}/{output.name or cv-<label field>}/`: one folder per run,
`metrics.json|csv` (all runs, zero-shot baseline per fold), `summary.json` (final held-out accuracy
per variant: mean over folds and seeds, std over seeds when there are several, else over folds) and
`curves.png`. Baselines (train/baselines.py) run as Ray tasks on the same cache, folds and batches.
With `eval.classes`, every run also writes its classes.json and confusion PNGs (train/classes.py),
and the summary adds `class_f1`: macro F1 over the class set, mean ± std over folds (or seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ilid_ray.models import preprocess_config, resolve_pretrained
from ilid_ray.runtime import init_ray
from ilid_ray.storage import Store
from ilid_ray.train.config import TrainConfig
from ilid_ray.train.evaluate import write_metric_files
from ilid_ray.train.plots import accuracy_curves_png


@dataclass
class CVOutputs:
    root: str
    runs: list[dict[str, Any]]
    metrics: list[str]
    summary: dict[str, Any]
    plots: list[str]


def parallel_runs(cfg: TrainConfig, cluster: dict[str, float]) -> int:
    """How many runs fit on the cluster at once (each: its workers plus one CPU for its data)."""
    if cfg.cv.max_parallel:
        return cfg.cv.max_parallel
    s = cfg.scaling
    fits = [cluster.get("CPU", 1) // (s.num_workers * s.cpus_per_worker + 1)]
    if s.use_gpu:
        fits.append(cluster.get("GPU", 0) // max(1e-9, s.num_workers * s.gpus_per_worker))
    return max(1, int(min(fits)))


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Final-epoch held-out top-1/top-3/F1 per variant (zero-shot too), and macro F1 over the class
    set in class mode (eval.classes): the mean over every
    (fold, seed) run; the std over seeds of the per-seed means when several seeds ran, else over folds."""
    last: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for row in rows:
        if row["split"] != "val":
            continue
        key = (row["variant"], row["fold"], row.get("seed"))
        if key not in last or int(row["epoch"]) >= int(last[key]["epoch"]):
            last[key] = row
    out: dict[str, Any] = {}
    for variant in sorted({v for v, _, _ in last}):
        picked = {(f, s): r for (v, f, s), r in last.items() if v == variant}
        seeds = sorted({s for _, s in picked}, key=str)
        out[variant] = {"folds": len({f for f, _ in picked}), "seeds": len(seeds),
                        "std_over": "seeds" if len(seeds) > 1 else "folds"}
        for metric in ("top1", "top3", "f1", "class_f1"):
            values = {k: float(r[metric]) for k, r in picked.items() if r.get(metric) is not None}
            if not values:
                continue
            out[variant][metric] = float(np.mean(list(values.values())))
            if len(seeds) > 1:
                per_seed = [np.mean([v for (_, s), v in values.items() if s == seed]) for seed in seeds
                            if any(s == seed for _, s in values)]
                out[variant][f"{metric}_std"] = float(np.std(per_seed))
            else:
                out[variant][f"{metric}_std"] = float(np.std(list(values.values())))
    return out


def run_configs(cfg: TrainConfig, folds: list[int]) -> list[TrainConfig]:
    """One config per (variant or baseline, fold, seed)."""
    seeds = cfg.cv.seeds
    return [cfg.for_fold(variant, fold, seed) for seed in (seeds or [None]) for variant in cfg.cv.variants
            for fold in folds]


def cross_validate(cfg: TrainConfig) -> CVOutputs:
    import ray

    from ilid_ray.prompts.files import with_descriptions
    from ilid_ray.train.classes import run_classes
    from ilid_ray.train.data import dataset_source
    from ilid_ray.train.trainer import fit

    cfg = with_descriptions(cfg)  # read once: every run gets the texts, not the file reference
    resolve_pretrained(cfg.model.name, cfg.model.pretrained, cfg.model.cache_dir)
    dataset_source(cfg.data.root, cfg.storage, cfg.data.max_shards)  # no shards: say so before launching
    run_classes(cfg)  # a bad class list: say so before launching
    init_ray(cfg.ray)
    folds = cfg.cv.folds if cfg.cv.folds is not None else list(range(cfg.data.folds))
    runs = run_configs(cfg, folds)
    if cfg.feature_cache.enabled:  # one cache per seed (the seed drives the augmented views)
        from ilid_ray.train.features import ensure_feature_cache

        pre = preprocess_config(cfg.model.name, cfg.model.pretrained, cfg.model.cache_dir)
        for seed in cfg.cv.seeds or [cfg.seed]:
            ensure_feature_cache(cfg.model_copy(update={"seed": seed}), pre)
    limit = parallel_runs(cfg, ray.cluster_resources())
    print(f"[cv] {len(runs)} runs ({len(cfg.cv.variants)} variants x {len(folds)} folds"
          f" x {len(cfg.cv.seeds or [cfg.seed])} seeds), up to {limit} at once", flush=True)

    @ray.remote(num_cpus=0)
    def run_one(run_cfg: dict[str, Any]) -> dict[str, Any]:
        from ilid_ray.train.baselines import fit_baseline

        run = TrainConfig.model_validate(run_cfg)
        if run.baseline.name:
            result = ray.get(ray.remote(num_cpus=1)(fit_baseline).remote(run))
        else:
            outputs = fit(run)
            result = {"summary": outputs.summary(), "rows": outputs.rows}
        for row in result["rows"]:
            row["seed"] = run.seed
        return result

    pending, results = {}, []
    queue = list(runs)
    while queue or pending:
        while queue and len(pending) < limit:
            run = queue.pop(0)
            pending[run_one.remote(run.model_dump(mode="json"))] = run
        done, _ = ray.wait(list(pending), num_returns=1)
        run = pending.pop(done[0])
        result = ray.get(done[0])
        print(f"[cv] finished {run.run_name}: val top1 {result['summary']['final'].get('val/top1')}", flush=True)
        results.append(result)
    return _write_cv_outputs(cfg, results)


def _write_cv_outputs(cfg: TrainConfig, results: list[dict[str, Any]]) -> CVOutputs:
    import json

    store = Store(cfg.cv_root, cfg.storage)
    rows = [row for result in results for row in result["rows"]]
    summary = summarise(rows)
    metrics = write_metric_files(store, rows, extra={"summary": summary})
    store.put_bytes(json.dumps(summary, indent=1).encode(), "summary.json")
    store.put_bytes(accuracy_curves_png(rows, f"{len(results)} runs, {cfg.data.label_field}: mean over folds"),
                    "curves.png")
    return CVOutputs(root=store.root, runs=[r["summary"] for r in results], metrics=metrics, summary=summary,
                     plots=[store.uri("curves.png")])


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as an aligned text table (variant, top-1, top-3, F1, ± std over seeds, or over folds
    with one seed; in class mode also macro F1 over the class set, which then orders the rows)."""
    from ilid_ray.models.variants import DISPLAY_NAMES
    from ilid_ray.train.baselines import BASELINES

    names = {**DISPLAY_NAMES, **BASELINES}
    metrics = ("top1", "top3", "f1") + (("class_f1",) if any("class_f1" in s for s in summary.values()) else ())
    head = {"top1": "top-1", "top3": "top-3", "f1": "macro F1", "class_f1": "class macro F1"}
    lines = [f"{'variant':<24}{'folds':>6}{'seeds':>6}" + "".join(f"{head[m]:>16}" for m in metrics)]
    for variant, stats in sorted(summary.items(), key=lambda kv: -kv[1].get(metrics[-1], -math.inf)):
        cells = [f"{stats.get(m, float('nan')):.4f}±{stats.get(m + '_std', float('nan')):.3f}" for m in metrics]
        name = names.get(variant, variant)
        lines.append(f"{name:<24}{stats['folds']:>6}{stats.get('seeds', 1):>6}" + "".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)
