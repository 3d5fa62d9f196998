"""k-fold cross-validation: every listed variant trained once per held-out fold, runs in parallel as
far as the cluster's free resources allow, then one table and one figure over all of them.

Each (variant, fold) run is an ordinary `fit` launched from a Ray task, so Ray schedules the runs'
worker groups as resources free up; `cv.max_parallel` (or the cluster size) bounds how many wait at
once. The feature cache, if enabled, is built once before the runs and shared by all of them.
Outputs under `{output.storage_path}/{output.name or cv-<label field>}/`: one folder per run,
`metrics.json|csv` (all runs, zero-shot baseline per fold), `summary.json` (final held-out accuracy
per variant, mean and std over folds) and `curves.png`.
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
    """Final-epoch held-out top-1/top-3/F1 per variant: mean and std over folds (zero-shot too)."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["split"] != "val":
            continue
        key = (row["variant"], row["fold"])
        if key not in last or int(row["epoch"]) >= int(last[key]["epoch"]):
            last[key] = row
    out: dict[str, Any] = {}
    for variant in sorted({v for v, _ in last}):
        picked = [r for (v, _), r in last.items() if v == variant]
        out[variant] = {"folds": len(picked)}
        for metric in ("top1", "top3", "f1"):
            values = [float(r[metric]) for r in picked if r.get(metric) is not None]
            if values:
                out[variant][metric] = float(np.mean(values))
                out[variant][f"{metric}_std"] = float(np.std(values))
    return out


def cross_validate(cfg: TrainConfig) -> CVOutputs:
    import ray

    from ilid_ray.train.trainer import fit

    from ilid_ray.train.data import dataset_source

    resolve_pretrained(cfg.model.name, cfg.model.pretrained, cfg.model.cache_dir)
    dataset_source(cfg.data.root, cfg.storage, cfg.data.max_shards)  # no shards: say so before launching
    init_ray(cfg.ray)
    folds = cfg.cv.folds if cfg.cv.folds is not None else list(range(cfg.data.folds))
    if cfg.feature_cache.enabled:
        from ilid_ray.train.features import ensure_feature_cache

        ensure_feature_cache(cfg, preprocess_config(cfg.model.name, cfg.model.pretrained, cfg.model.cache_dir))
    runs = [cfg.for_fold(variant, fold) for variant in cfg.cv.variants for fold in folds]
    limit = parallel_runs(cfg, ray.cluster_resources())
    print(f"[cv] {len(runs)} runs ({len(cfg.cv.variants)} variants x {len(folds)} folds), "
          f"up to {limit} at once", flush=True)

    @ray.remote(num_cpus=0)
    def run_one(run_cfg: dict[str, Any]) -> dict[str, Any]:
        outputs = fit(TrainConfig.model_validate(run_cfg))
        return {"summary": outputs.summary(), "rows": outputs.rows}

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
    """The summary as an aligned text table (variant, top-1, top-3, F1 with std over folds)."""
    from ilid_ray.models.variants import DISPLAY_NAMES

    lines = [f"{'variant':<16}{'folds':>6}{'top-1':>16}{'top-3':>16}{'macro F1':>16}"]
    for variant, stats in sorted(summary.items(), key=lambda kv: -kv[1].get("top1", -math.inf)):
        cells = [f"{stats.get(m, float('nan')):.4f}±{stats.get(m + '_std', float('nan')):.3f}"
                 for m in ("top1", "top3", "f1")]
        name = DISPLAY_NAMES.get(variant, variant)
        lines.append(f"{name:<16}{stats['folds']:>6}" + "".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)
