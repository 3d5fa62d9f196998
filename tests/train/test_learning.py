"""End to end on a synthetic shapes dataset: `fit` (Ray Data + TorchTrainer) teaches CoOpIATA what
"red square" or "blue circle" look like, well beyond zero-shot on held-out folds; the run writes its
model, metrics and plots; broken samples are counted; a re-run under the same name resumes."""

from __future__ import annotations

import json

import pytest

from ilid_ray.models import TINY_MODEL, load_clip
from ilid_ray.testing.synthetic import SyntheticSpec, write_synthetic_dataset
from ilid_ray.train.config import TrainConfig

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")
EPOCHS = 16


def config(root, runs, epochs: int) -> TrainConfig:
    return TrainConfig.model_validate({
        "model": {"name": TINY_MODEL, "pretrained": None, "variant": {"name": "coopiata"}},
        "data": {"root": str(root), "batch_size": 32, "crop_scale": [0.6, 1.0], "val_folds": [0, 1]},
        "optim": {"lr": 0.5, "epochs": epochs, "warmup_epochs": 1},
        "scaling": {"num_workers": 1, "cpus_per_worker": 0.5},
        "eval": {"every_epochs": 8, "train_split": False},
        "output": {"storage_path": str(runs), "name": "learn", "progress": False},
    })


@pytest.mark.slow
def test_coopiata_learns_shapes_and_resumes(ray_local, tmp_path):
    from ilid_ray.train.trainer import fit

    spec = SyntheticSpec(samples=360, image_size=32, shard_size=90, colours=("red", "green", "blue", "yellow"),
                         shapes=("square", "circle", "cross"), corrupt_images=2, missing_labels=2)
    write_synthetic_dataset(tmp_path / "data", spec)
    out = fit(config(tmp_path / "data", tmp_path / "runs", EPOCHS))

    final = out.final
    zero_shot = out.rows[0] if out.rows[0]["variant"] == "zeroshot" else next(
        r for r in out.rows if r["variant"] == "zeroshot" and r["split"] == "val")
    assert final["epoch"] == EPOCHS and final["val/n"] >= 80
    assert final["val/top1"] >= zero_shot["top1"] + 0.15, (final, zero_shot)
    assert final["val/top3"] > zero_shot["top3"]
    # the planted broken samples were counted, not lost: each epoch skips those of the training folds
    table = json.loads((tmp_path / "runs/learn/metrics.json").read_text())
    assert all(h["skipped"] >= 1 for h in table["history"])
    for name in ("model.safetensors", "metrics.csv", "curves.png", "tsne.png"):
        assert (tmp_path / "runs/learn" / name).stat().st_size > 0
    assert (tmp_path / "runs/learn/curves.png").read_bytes()[:4] == b"\x89PNG"

    model = load_clip(out.model)  # the final model, as serving loads it
    assert model.variant.name == "coopiata" and model.checkpoint_extra["epoch"] == EPOCHS

    # same run name, more epochs: continues after the last checkpoint instead of starting over
    resumed = fit(config(tmp_path / "data", tmp_path / "runs", EPOCHS + 2))
    history = json.loads((tmp_path / "runs/learn/metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 3))
    assert history[EPOCHS - 1]["loss"] == table["history"][-1]["loss"]  # the first run's epochs kept
    assert resumed.final["epoch"] == EPOCHS + 2
