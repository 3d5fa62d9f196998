"""Cross-validation: resources -> parallel runs, the summary table, and a real 2-fold run on the
feature cache (built once, shared by the fold runs)."""

from __future__ import annotations

import json

import pytest

from ilid_ray.models import TINY_MODEL
from ilid_ray.testing.synthetic import SyntheticSpec, write_synthetic_dataset
from ilid_ray.train.config import TrainConfig
from ilid_ray.train.cv import format_summary, parallel_runs, summarise

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")


def rows_top1(rows, variant, fold):
    return next(r["top1"] for r in rows if r["variant"] == variant and r["fold"] == fold and r["split"] == "val")


def test_parallel_runs_follow_the_cluster():
    cpu = TrainConfig.model_validate({"scaling": {"num_workers": 2, "cpus_per_worker": 1}})
    assert parallel_runs(cpu, {"CPU": 2}) == 1
    assert parallel_runs(cpu, {"CPU": 16}) == 5  # each run: 2 worker CPUs + 1 for its data
    gpu = TrainConfig.model_validate({"scaling": {"num_workers": 2, "use_gpu": True, "cpus_per_worker": 2}})
    assert parallel_runs(gpu, {"CPU": 64, "GPU": 8}) == 4
    fixed = TrainConfig.model_validate({"cv": {"max_parallel": 3}})
    assert parallel_runs(fixed, {"CPU": 1}) == 3


def test_summary_takes_each_folds_last_epoch():
    rows = [
        {"variant": "coop", "fold": "0", "epoch": 1, "split": "val", "top1": 0.1, "top3": 0.3, "f1": 0.1},
        {"variant": "coop", "fold": "0", "epoch": 2, "split": "val", "top1": 0.5, "top3": 0.7, "f1": 0.4},
        {"variant": "coop", "fold": "1", "epoch": 2, "split": "val", "top1": 0.3, "top3": 0.5, "f1": 0.2},
        {"variant": "coop", "fold": "1", "epoch": 2, "split": "train", "top1": 0.9, "top3": 1.0, "f1": 0.9},
        {"variant": "zeroshot", "fold": "0", "epoch": 0, "split": "val", "top1": 0.05, "top3": 0.1, "f1": 0.0},
    ]
    summary = summarise(rows)
    assert summary["coop"]["folds"] == 2
    assert summary["coop"]["top1"] == pytest.approx(0.4) and summary["coop"]["top1_std"] == pytest.approx(0.1)
    assert summary["zeroshot"]["top1"] == pytest.approx(0.05)
    table = format_summary(summary)
    assert table.splitlines()[1].startswith("CoOp") and "zero-shot CLIP" in table


def test_fold_configs():
    cfg = TrainConfig.model_validate({"output": {"storage_path": "s3://b/runs"}, "data": {"label_field": "material"}})
    run = cfg.for_fold("coopia", 4)
    assert run.data.val_folds == [4] and 4 not in run.data.effective_train_folds
    assert run.output.storage_path == "s3://b/runs/cv-material" and run.run_name == "coopia-fold4"
    assert run.feature_cache_root == cfg.feature_cache_root == "s3://b/runs/feature-cache"
    with pytest.raises(ValueError, match="baseline"):
        TrainConfig.model_validate({"cv": {"variants": ["zeroshot"]}})


@pytest.mark.slow
def test_two_fold_cv_on_the_feature_cache(ray_local, tmp_path):
    from ilid_ray.train.cv import cross_validate
    from ilid_ray.train.features import ensure_feature_cache

    write_synthetic_dataset(tmp_path / "data", SyntheticSpec(samples=120, image_size=32, shard_size=60,
                                                             folds=3, missing_labels=1))
    cfg = TrainConfig.model_validate({
        "model": {"name": TINY_MODEL, "pretrained": None},
        "data": {"root": str(tmp_path / "data"), "folds": 3, "batch_size": 32, "crop_scale": [0.6, 1.0]},
        "optim": {"lr": 0.5, "epochs": 1, "warmup_epochs": 0},
        "scaling": {"num_workers": 1, "cpus_per_worker": 0.5},
        "feature_cache": {"enabled": True, "views": 2},
        "eval": {"train_split": False, "tsne_samples": 0},
        "output": {"storage_path": str(tmp_path / "runs"), "name": "cv", "progress": False},
        "cv": {"variants": ["clipadapter", "linearprobe"], "folds": [0, 1]},  # 2 CPUs: one run at a time
    })
    out = cross_validate(cfg)

    assert {r["final"]["variant"] for r in out.runs} == {"clipadapter", "linearprobe"} and len(out.runs) == 4
    assert out.summary["clipadapter"]["folds"] == 2 and out.summary["zeroshot"]["folds"] == 2
    assert out.summary["linearprobe"]["folds"] == 2
    rows = json.loads((tmp_path / "runs/cv/metrics.json").read_text())["rows"]
    assert {(r["variant"], r["fold"]) for r in rows} == {(v, f) for v in ("clipadapter", "linearprobe", "zeroshot")
                                                         for f in ("0", "1")}
    # the baseline and the trained variant are scored on the same batches: equal zero-shot rows
    zero = [(r["fold"], r["top1"], r["top3"], r["n"]) for r in rows if r["variant"] == "zeroshot"]
    assert len(set(zero)) == 2, zero
    # the same config again gives the same numbers (seeded init, views, shuffles, eval batches)
    again = cross_validate(cfg.model_copy(update={"output": cfg.output.model_copy(update={"name": "cv-again"}),
                                                  "cv": cfg.cv.model_copy(update={"folds": [0],
                                                                                  "variants": ["clipadapter"]})}))
    first = {(r["variant"], r["epoch"]): (r["top1"], r["top3"], r["f1"], r["loss"]) for r in rows
             if r["fold"] == "0" and r["variant"] != "linearprobe"}
    rerun = json.loads((tmp_path / "runs/cv-again/metrics.json").read_text())["rows"]
    assert {(r["variant"], r["epoch"]): (r["top1"], r["top3"], r["f1"], r["loss"]) for r in rerun} == first
    assert again.summary["clipadapter"]["top1"] == pytest.approx(rows_top1(rows, "clipadapter", "0"))
    for name in ("summary.json", "curves.png", "metrics.csv", "clipadapter-fold0/model.safetensors",
                 "clipadapter-fold1/curves.png"):
        assert (tmp_path / "runs/cv" / name).stat().st_size > 0
    # one cache, built before the runs and reused by both (its record is unchanged)
    caches = list((tmp_path / "runs/feature-cache").iterdir())
    assert len(caches) == 1 and not list(tmp_path.glob("runs/cv/**/_cache.json"))
    record = json.loads((caches[0] / "_cache.json").read_text())
    assert record["rows"] == 120 and record["views"] == 2
    from ilid_ray.models import preprocess_config

    _, again = ensure_feature_cache(cfg, preprocess_config(TINY_MODEL, None))
    assert again == record


def test_summary_over_seeds_reports_the_spread_of_seed_means():
    rows = [{"variant": "lp", "fold": f, "seed": s, "epoch": 1, "split": "val", "top1": v, "top3": v, "f1": v}
            for (f, s, v) in [("0", 0, 0.4), ("1", 0, 0.6), ("0", 1, 0.6), ("1", 1, 0.8)]]
    stats = summarise(rows)["lp"]
    assert (stats["folds"], stats["seeds"], stats["std_over"]) == (2, 2, "seeds")
    assert stats["top1"] == pytest.approx(0.6) and stats["top1_std"] == pytest.approx(0.1)  # means 0.5 and 0.7


def test_class_mode_summary_and_switch():
    """eval.classes: each run's last held-out row carries class_f1; the table adds it and orders by it."""
    rows = [{"variant": v, "fold": f, "epoch": e, "split": "val", "top1": t, "top3": t, "f1": t, "class_f1": c}
            for v, f, e, t, c in [("coop", "0", 1, 0.9, None), ("coop", "0", 5, 0.9, 0.5), ("coop", "1", 5, 0.9, 0.7),
                                  ("linearprobe", "0", 50, 0.2, 0.8), ("linearprobe", "1", 50, 0.2, 0.9),
                                  ("zeroshot", "0", 0, 0.1, 0.2), ("zeroshot", "1", 0, 0.1, 0.2)]]
    summary = summarise(rows)
    assert summary["coop"]["class_f1"] == pytest.approx(0.6) and summary["coop"]["class_f1_std"] == pytest.approx(0.1)
    assert summary["zeroshot"]["class_f1"] == pytest.approx(0.2)
    table = format_summary(summary).splitlines()
    assert table[0].endswith("class macro F1") and table[1].startswith("linear probe") and "0.8500±0.050" in table[1]
    assert "class macro F1" not in format_summary(summarise([r | {"class_f1": None} for r in rows]))
    assert TrainConfig.model_validate({"eval": {"classes": ["dent", " good"]}}).eval.classes == ["dent", "good"]
    assert TrainConfig().eval.classes is False
    for bad, message in [(["dent"], "at least two distinct"), (["dent", "dent"], "at least two distinct")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig.model_validate({"eval": {"classes": bad}})
    with pytest.raises(ValueError, match="unset data.max_words"):
        TrainConfig.model_validate({"eval": {"classes": True}, "data": {"max_words": 2}})
