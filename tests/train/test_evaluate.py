"""Batch-32 accuracy, macro F1, metric tables and figures; the schedule and the configs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ilid_ray.storage import Store
from ilid_ray.train.config import OptimSection, TrainConfig, load_train_config
from ilid_ray.train.evaluate import (EvalAccumulator, batch_hits, eval_order, history_to_table,
                                    write_metric_files)
from ilid_ray.train.loop import lr_at
from ilid_ray.train.plots import accuracy_curves_png, tsne_png

REPO = Path(__file__).resolve().parents[2]


def test_hits_count_a_duplicate_label_as_right():
    texts = ["red square", "blue circle", "red square"]
    logits = torch.tensor([[0.1, 0.0, 0.1],    # best: "red square" (either copy) -> right
                           [0.9, 0.2, 0.9],    # picks "red square": wrong, own text 2nd
                           [0.0, 0.1, 0.0]])   # picks "blue circle": wrong
    hits, preds = batch_hits(logits, texts, [1, 2])
    assert hits[1].tolist() == [True, False, False]
    assert hits[2].tolist() == [True, True, True]
    assert preds == ["red square", "red square", "blue circle"]


def test_topk_ranks_distinct_texts_so_repeats_do_not_fill_the_top_k():
    # 6 images, 3 labels, each twice; every image ranks "a" first, its own label second or third
    texts = ["a", "a", "b", "b", "c", "c"]
    scores = {"a": 0.9, "b": 0.5, "c": 0.4}
    logits = torch.tensor([[scores[t] for t in texts]] * 6)
    logits[4, [4, 5]] = 0.6  # image 4 ranks its own "c" second
    hits, _ = batch_hits(logits, texts, [1, 2, 3])
    assert hits[1].tolist() == [True, True, False, False, False, False]
    # ranking the 6 columns, the 2 best would be two copies of "a": b would never be in the top 2
    assert hits[2].tolist() == [True, True, True, True, True, False]
    assert hits[3].all()
    acc = EvalAccumulator([1, 3])
    acc.add(logits, texts)
    assert acc.metrics()["top3"] > acc.metrics()["top1"]


def test_eval_order_is_seeded_and_not_the_shard_order():
    keys = [f"k{i}" for i in range(50)]
    order = eval_order(keys, seed=0)
    assert np.array_equal(order, eval_order(keys, seed=0)) and not np.array_equal(order, eval_order(keys, seed=1))
    assert np.argsort(order).tolist() != list(range(50))  # not the given (shard) order


def test_accumulator_metrics_and_merge():
    a, b = EvalAccumulator([1, 3]), EvalAccumulator([1, 3])
    a.add(torch.eye(4), ["a", "b", "c", "d"])
    b.add(torch.ones(2, 2) - torch.eye(2), ["a", "b"])  # both wrong
    merged = a.merge(b).metrics()
    assert merged["n"] == 6 and merged["top1"] == pytest.approx(4 / 6) and merged["top3"] == 1.0
    assert 0 < merged["f1"] < 1
    assert EvalAccumulator([1]).metrics() == {"n": 0}


def history() -> list[dict]:
    return [
        {"epoch": 1, "variant": "coop", "loss": 3.0, "lr": 0.01, "val/top1": 0.2, "val/top3": 0.4, "val/f1": 0.1,
         "val/n": 64, "zeroshot/val/top1": 0.1, "zeroshot/val/top3": 0.3, "zeroshot/val/f1": 0.05,
         "zeroshot/val/n": 64},
        {"epoch": 2, "variant": "coop", "loss": 2.0, "lr": 0.15, "val/top1": 0.4, "val/top3": 0.6, "val/f1": 0.3,
         "val/n": 64, "train/top1": 0.7, "train/top3": 0.9, "train/f1": 0.6, "train/n": 128},
    ]


def test_history_table_and_files(tmp_path):
    rows = history_to_table(history(), "run-a", "0")
    assert [(r["variant"], r["epoch"], r["split"]) for r in rows] == [
        ("coop", 1, "val"), ("zeroshot", 0, "val"), ("coop", 2, "val"), ("coop", 2, "train")]
    assert rows[1]["top1"] == 0.1 and rows[1]["loss"] is None
    files = write_metric_files(Store(str(tmp_path)), rows, extra={"note": "x"})
    assert json.loads((tmp_path / "metrics.json").read_text())["note"] == "x"
    parsed = list(csv.DictReader(io.StringIO((tmp_path / "metrics.csv").read_text())))
    assert len(parsed) == 4 and parsed[0]["top1"] == "0.2" and files[1].endswith("metrics.csv")


def test_figures_are_pngs():
    rows = history_to_table(history(), "run-a", "0")
    assert accuracy_curves_png(rows, "t")[:4] == b"\x89PNG"
    rng = np.random.default_rng(0)
    labels = np.array([f"label {i % 5}" for i in range(20)])
    png = tsne_png(rng.normal(size=(20, 8)), rng.normal(size=(20, 8)), labels)
    assert png[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="at least 3"):
        tsne_png(np.zeros((2, 8)), np.zeros((2, 8)), np.array(["a", "b"]))


def test_schedule_warmup_then_cosine():
    optim = OptimSection(lr=0.15, epochs=10, warmup_epochs=3, warmup_lr=0.01)
    assert [lr_at(e, optim) for e in range(3)] == [0.01] * 3
    assert lr_at(3, optim) == pytest.approx(0.15)
    assert lr_at(6, optim) < lr_at(4, optim) < 0.15
    assert lr_at(9, optim) < 0.01
    assert lr_at(5, OptimSection(schedule="constant", warmup_epochs=0)) == 0.15


def test_shipped_configs_load():
    paper = load_train_config(REPO / "configs/train/paper.yaml")
    assert paper.model.name == "ViT-B-16" and paper.model.pretrained == "openai"
    assert (paper.optim.name, paper.optim.lr, paper.optim.weight_decay) == ("adadelta", 0.15, 0.001)
    assert (paper.optim.warmup_epochs, paper.optim.warmup_lr) == (3, 0.01)
    assert paper.data.batch_size == 64 and paper.eval.batch_size == 32 and paper.data.folds == 6
    reference = load_train_config(REPO / "configs/train/reference.yaml")
    assert reference.loss.direction == "image_to_text" and paper.loss.direction == "both"
    assert reference.model.variant.text_ratio == reference.model.variant.image_ratio == 0.6
    tiny = load_train_config(REPO / "configs/train/tiny-cpu.yaml", ["optim.epochs=2", "model.variant.name=CoOp"])
    assert tiny.optim.epochs == 2 and tiny.model.variant.name == "coop"
    with pytest.raises(ValueError):
        TrainConfig.model_validate({"optim": {"lr": 0.1, "typo_field": 1}})
    with pytest.raises(ValueError, match="outside"):
        TrainConfig.model_validate({"data": {"folds": 3, "val_folds": [5]}})
