"""Two Ray Train workers (gloo) with gathered features = one process on the concatenated batch.

The workers hold 5 and 3 samples (unequal on purpose), labels repeat within and across workers; both
loss forms are checked: the summed loss shares and the summed trainable gradients must equal the
single-process loss and gradients.
"""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
import torch

from ilid_ray.models import TINY_MODEL, AdaptedCLIP, VariantConfig, create_frozen_clip
from ilid_ray.testing.synthetic import render_shape

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")
TEXTS = ["red square", "blue circle", "red square", "green cross", "blue circle", "red square",
         "yellow triangle", "green cross"]
SPLITS = [(0, 5), (5, 8)]


def build_model() -> AdaptedCLIP:
    torch.manual_seed(7)  # adapters and prompt context start the same in every process
    model = AdaptedCLIP(create_frozen_clip(TINY_MODEL, None, init_seed=0), VariantConfig(name="coopiata"))
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def batch_pixels(model: AdaptedCLIP) -> np.ndarray:
    rng = random.Random(0)
    return np.stack([model.preprocess(render_shape(t.split()[0], t.split()[1], 32, rng)).numpy() for t in TEXTS])


def losses_and_grads(model: AdaptedCLIP, pixels: np.ndarray, texts: list[str]) -> dict:
    """Both loss forms on this process's rows; gradients summed over workers as in training."""
    from ilid_ray.train.loop import step_loss
    from ilid_ray.train.loss import sum_gradients, sum_scalar

    out = {}
    for multi in (False, True):
        for p in model.trainable_parameters():
            p.grad = None
        loss = step_loss(model, texts, images=torch.from_numpy(pixels), multi_positive=multi)
        loss.backward()
        sum_gradients(model.trainable_parameters())
        out[multi] = {"loss": sum_scalar(float(loss.detach()), torch.device("cpu")),
                      "grads": {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}}
    return out


def worker(config: dict) -> None:
    import ray.train

    rank = ray.train.get_context().get_world_rank()
    model = build_model()
    lo, hi = config["splits"][rank]
    result = losses_and_grads(model, config["pixels"][lo:hi], config["texts"][lo:hi])
    if rank == 0:
        torch.save(result, config["out"])
    ray.train.report({"loss": result[False]["loss"]})


@pytest.mark.slow
def test_two_workers_equal_one_process(ray_local, tmp_path):
    import ray.cloudpickle
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers don't import tests/
    model = build_model()
    pixels = batch_pixels(model)
    single = losses_and_grads(model, pixels, TEXTS)

    out = tmp_path / "rank0.pt"
    trainer = TorchTrainer(worker, train_loop_config={"pixels": pixels, "texts": TEXTS, "splits": SPLITS,
                                                      "out": str(out)},
                           scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.5}),
                           run_config=RunConfig(name="gather", storage_path=str(tmp_path / "runs")))
    trainer.fit()
    gathered = torch.load(out, weights_only=True)

    for multi in (False, True):
        assert gathered[multi]["loss"] == pytest.approx(single[multi]["loss"], rel=1e-5)
        assert set(gathered[multi]["grads"]) == set(single[multi]["grads"]) and len(single[multi]["grads"]) == 5
        for name, grad in single[multi]["grads"].items():
            assert grad.abs().sum() > 0
            assert torch.allclose(gathered[multi]["grads"][name], grad, rtol=1e-4, atol=1e-6), name
    assert single[False]["loss"] != pytest.approx(single[True]["loss"])  # duplicates: the forms differ
