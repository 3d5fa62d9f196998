"""A training run whose shards, checkpoints and outputs all live on a real S3-compatible server."""

from __future__ import annotations

import json

import pytest

from ilid_ray.models import TINY_MODEL, load_clip
from ilid_ray.storage import Store
from ilid_ray.testing.synthetic import SyntheticSpec, write_synthetic_dataset
from ilid_ray.train.config import TrainConfig

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")


@pytest.mark.slow
def test_train_from_s3_shards_to_s3_storage(s3_server, ray_local, monkeypatch):
    from ilid_ray.train.trainer import fit

    # s3rver stores aws-chunked uploads (pyarrow's AWS SDK default) verbatim; `fit` hands this
    # setting on to the Ray Train workers that upload the checkpoints
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    data_root, runs_root = s3_server.root("ilid-data"), s3_server.root("runs")
    write_synthetic_dataset(Store(data_root), SyntheticSpec(samples=48, image_size=32, shard_size=24))
    cfg = TrainConfig.model_validate({
        "model": {"name": TINY_MODEL, "pretrained": None, "variant": {"name": "coop"}},
        "data": {"root": data_root, "batch_size": 16, "crop_scale": [0.6, 1.0]},
        "optim": {"epochs": 2, "warmup_epochs": 1},
        "scaling": {"num_workers": 1, "cpus_per_worker": 0.5},
        "eval": {"train_split": False, "tsne_samples": 0},
        "output": {"storage_path": runs_root, "name": "s3run", "progress": False},
    })
    out = fit(cfg)

    assert out.run_dir == f"{runs_root}/s3run" and out.model.startswith("s3://")
    runs = Store(runs_root)
    listed = runs.list("s3run")
    assert {"s3run/model.safetensors", "s3run/metrics.json", "s3run/curves.png"} <= set(listed)
    assert any(p.startswith("s3run/checkpoint_epoch_0002/") for p in listed)  # Ray Train wrote to S3
    history = json.loads(runs.get_bytes("s3run/metrics.json"))["history"]
    assert [h["epoch"] for h in history] == [1, 2] and history[-1]["samples"] > 0
    model = load_clip(out.model)
    assert model.variant.name == "coop" and model.checkpoint_extra["epoch"] == 2
