"""The feature-cache baselines as plain functions (no cluster): they learn a separable task, use
their zero-shot column for labels training never showed, and are a function of their seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ilid_ray.models import TINY_MODEL, load_clip
from ilid_ray.train.baselines import (BASELINES, TrainingFeatures, build_baseline, canonical_baseline,
                                      internal_split)
from ilid_ray.train.config import BaselineSection, TrainConfig
from ilid_ray.train.evaluate import EvalAccumulator

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")
LABELS = ["striped", "dotted", "checkered"]


def clustered(n: int, seed: int, views: int = 3) -> tuple[np.ndarray, list[str]]:
    """Features around one random centre per label (32-d, as the tiny model's)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(len(LABELS), 32))
    labels = [LABELS[i % len(LABELS)] for i in range(n)]
    feats = np.stack([centres[LABELS.index(t)] + 0.6 * rng.normal(size=(views, 32)) for t in labels])
    return feats.astype(np.float32), labels


def accuracy(scorer, feats: np.ndarray, texts: list[str]) -> dict:
    acc = EvalAccumulator([1, 3])
    for s in range(0, len(texts), 32):
        acc.add(scorer.logits(torch.from_numpy(feats[s:s + 32]), texts[s:s + 32]), texts[s:s + 32])
    return acc.metrics()


@pytest.fixture(scope="module")
def zero_shot():
    return load_clip(model_name=TINY_MODEL, pretrained=None)


@pytest.mark.parametrize("name", list(BASELINES))
def test_baselines_learn_and_are_seeded(zero_shot, name):
    views, texts = clustered(90, seed=0)
    train = TrainingFeatures(views, texts, [f"k{i}" for i in range(90)])
    section = BaselineSection(epochs=10, lr=2e-2)
    scorer = build_baseline(name, zero_shot, train, section, seed=0)
    test_views, test_texts = clustered(64, seed=1, views=1)
    test = test_views[:, 0]
    learned = accuracy(scorer, test, test_texts)
    zs = accuracy(build_baseline("tipadapter", zero_shot, train, section.model_copy(update={"tip_alpha": 0.0,
                                                                                           "tip_beta": 1.0}), 0),
                  test, test_texts)
    assert learned["top1"] >= 0.9 > zs["top1"] + 0.2, (learned, zs)
    again = build_baseline(name, zero_shot, train, section, seed=0)
    batch = torch.from_numpy(test[:8])
    assert torch.equal(scorer.logits(batch, LABELS), again.logits(batch, LABELS))
    unseen = scorer.logits(batch, LABELS + ["speckled"])[:, -1]
    if name == "lowrank":  # any text goes through the learned text residual: open vocabulary, not zero-shot
        assert torch.allclose(unseen, scorer.logits(batch, ["speckled"])[:, 0])
        assert not torch.allclose(unseen, scorer.zero_shot_logits(torch.nn.functional.normalize(batch, dim=-1),
                                                                  ["speckled"])[:, 0])
        return
    # a label the training folds never held is scored by its zero-shot column
    expected = zero_shot.adapt_image_features(batch) @ zero_shot.encode_texts(["speckled"]).T
    ratio = unseen / expected[:, 0]
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-4)  # same column up to the scale


def test_names_config_and_internal_split():
    assert canonical_baseline("Tip-Adapter-F") == "tipadapterf" and canonical_baseline("LP") == "linearprobe"
    assert canonical_baseline("LoRA") == "lowrank"
    assert canonical_baseline("coopiata") is None
    fit_idx, check_idx = internal_split([f"k{i}" for i in range(50)], seed=0)
    assert len(check_idx) == 10 and not set(fit_idx) & set(check_idx)
    assert np.array_equal(internal_split([f"k{i}" for i in range(50)], seed=0)[1], check_idx)
    with pytest.raises(ValueError, match="feature_cache.enabled"):
        TrainConfig.model_validate({"cv": {"variants": ["coop", "tipadapter"]}})
    with pytest.raises(ValueError, match="baselines from"):
        TrainConfig.model_validate({"cv": {"variants": ["nonsense"]}})
    cfg = TrainConfig.model_validate({"feature_cache": {"enabled": True},
                                      "cv": {"variants": ["coop", "Tip-Adapter"], "seeds": [0, 1]}})
    run = cfg.for_fold("tipadapter", 2, seed=1)
    assert (run.baseline.name, run.seed, run.run_name, run.method) == ("tipadapter", 1, "tipadapter-fold2-seed1",
                                                                       "tipadapter")
    assert cfg.for_fold("coop", 2).baseline.name is None


@pytest.mark.parametrize("name", list(BASELINES))
def test_class_mode_classifier_covers_every_class(zero_shot, name):
    """eval.classes: the classifier is over the class texts, also a class the training folds lack."""
    views, texts = clustered(30, seed=0)
    classes = LABELS + ["speckled"]
    scorer = build_baseline(name, zero_shot, TrainingFeatures(views, texts, [f"k{i}" for i in range(30)]),
                            BaselineSection(epochs=2, lr=2e-2), seed=0, classes=classes)
    batch = torch.from_numpy(views[:8, 0])
    assert scorer.labels == classes
    with torch.no_grad():
        expected = scorer.class_logits(torch.nn.functional.normalize(batch, dim=-1))
    assert expected.shape == (8, 4) and torch.allclose(scorer.logits(batch, classes), expected, atol=1e-5)
