"""The mask generator backends (`sam.backend`): SAM, the paper's default, and MobileSAM, chosen in
the Serve config, loaded safely, and run through the serving pipeline the endpoint runs."""

from __future__ import annotations

import asyncio

import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from ilid_ray.cli_errors import one_line
from ilid_ray.serve.config import SamConfig
from ilid_ray.serve.local import LocalBackends
from ilid_ray.serve.masks import decode_rle, mask_boxes
from ilid_ray.serve.pipeline import segment
from ilid_ray.serve.runner import load_serve_config, preflight
from ilid_ray.serve.sam import CheckpointError, build_sam, build_tiny_sam, empty_model

TINY_MOBILE = ["sam.backend=mobilesam", "sam.points_per_side=2"]  # the embedded tiny config, MobileSAM's tiny


def same_weights(model, state) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_backend_is_chosen_in_the_serve_config_and_sam_stays_the_default():
    assert (SamConfig(checkpoint="sam.pth").backend, SamConfig(checkpoint="sam.pth").model_type) == ("sam", "vit_h")
    # a backend alone picks its released model
    assert SamConfig(backend="mobilesam", checkpoint="mobile_sam.pt").model_type == "vit_t"
    sam = load_serve_config(None, ["sam.backend=mobilesam"]).app.sam
    assert (sam.backend, sam.model_type) == ("mobilesam", "tiny")


@pytest.mark.parametrize("overrides, message", [
    (["sam.backend=fastsam"], "invalid ServeAppConfig config: sam.backend: Input should be 'sam' or 'mobilesam'"),
    (["sam.backend=mobilesam", "sam.model_type=vit_b"],
     "sam.model_type 'vit_b' is not a mobilesam model; backend mobilesam has vit_t, tiny"),
    (["sam.model_type=vit_t"], "sam.model_type 'vit_t' is not a sam model; backend sam has vit_h, vit_l, vit_b, tiny"),
])
def test_unknown_backend_or_a_size_it_lacks_is_refused(overrides, message):
    with pytest.raises(ValidationError) as refused:
        load_serve_config(None, overrides)
    assert message in one_line(refused.value)  # the line `ilid serve` prints


def test_mobilesam_checkpoint_loads_with_weights_only_into_the_released_architecture(tmp_path):
    cfg = SamConfig(backend="mobilesam", random_init=True, device="cpu")
    state = empty_model(cfg).state_dict()  # the vit_t layout mobile_sam.pt has (TinyViT + SAM's decoder)
    path = tmp_path / "mobile_sam.pt"
    torch.save(state, path)
    model = build_sam(cfg.model_copy(update={"checkpoint": str(path)}))
    assert same_weights(model, state) and not model.training
    # SAM's weights are not MobileSAM's: refused, naming the file and the backend
    sam_path = tmp_path / "tiny_sam.pth"
    torch.save(build_tiny_sam().state_dict(), sam_path)
    tiny = cfg.model_copy(update={"model_type": "tiny", "checkpoint": str(sam_path)})
    with pytest.raises(CheckpointError, match="tiny_sam.pth does not fit model_type 'tiny' of backend 'mobilesam'"):
        build_sam(tiny)
    # a missing file is an error before anything starts
    missing = load_serve_config(None, ["sam.backend=mobilesam", f"sam.checkpoint={tmp_path / 'none.pt'}"]).app
    with pytest.raises(CheckpointError, match="SAM checkpoint not found: .*none.pt"):
        preflight(missing)


def test_tiny_mobilesam_answers_through_the_serving_pipeline(photo):
    cfg = load_serve_config(None, TINY_MOBILE).app
    upload = Image.open(photo).convert("RGB")
    with pytest.warns(UserWarning, match="RANDOM weights"):  # the tiny CLIP scorer
        backends = LocalBackends(cfg)
    body = asyncio.run(segment(upload, ["levelling foot", "screw"], 0.0, cfg=cfg, backends=backends))
    assert body["num_generated"] >= body["num_candidates"] > 0
    assert len(body["masks"]) == body["num_candidates"]  # threshold 0 keeps every candidate
    for m in body["masks"]:
        mask = decode_rle(m["rle"])
        assert mask.shape == (upload.height, upload.width)  # the upload's frame, not SAM's working size
        assert m["area"] == int(mask.sum()) > 0
        x0, y0, x1, y1 = mask_boxes(mask[None])[0]
        assert m["box"] == [x0, y0, x1 - x0, y1 - y0]
        assert m["prompt"] in ("levelling foot", "screw")
