"""Model loading for serving (tiny SAM, tiny CLIP) and the Serve config files, without Serve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from pydantic import ValidationError

from ilid_ray.models import TINY_MODEL
from ilid_ray.serve.config import ClipConfig, SamConfig
from ilid_ray.serve.runner import IMPORT_PATH, embedded_config_path, load_serve_config, preflight
from ilid_ray.serve.sam import CheckpointError, MaskGenerator, build_sam, build_tiny_sam
from ilid_ray.serve.scorer import ClipScorer, ScoreRequest

REPO = Path(__file__).resolve().parents[2]
TINY = dict(model_type="tiny", device="cpu", image_long_side=256, points_per_side=4,
            pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0, min_mask_region_area=0)


def other_tiny_state() -> dict:
    """Tiny SAM weights that differ from the seed-0 model `build_sam` starts from."""
    torch.manual_seed(123)
    return build_tiny_sam().state_dict()


def same_weights(model, state) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_sam_needs_a_checkpoint_unless_random_init_is_explicit():
    with pytest.raises(ValidationError, match="sam.checkpoint is required"):
        SamConfig(model_type="vit_h")
    SamConfig(model_type="vit_h", checkpoint="s3://bucket/sam.pth")
    SamConfig(model_type="tiny", random_init=True)


def test_sam_checkpoint_loads_with_weights_only(tmp_path):
    state = other_tiny_state()
    path = tmp_path / "tiny_sam.pth"
    torch.save({"model": state}, path)  # the "model" wrapper some trainers write is accepted
    model = build_sam(SamConfig(checkpoint=str(path), **TINY))
    assert same_weights(model, state) and not model.training


def test_sam_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found: .*missing.pth"):
        build_sam(SamConfig(checkpoint=str(tmp_path / "missing.pth"), **TINY))
    # a pickle that would run code is refused (weights_only=True), not executed
    evil = tmp_path / "evil.pth"
    torch.save({"model": Path("/etc/passwd")}, evil)
    with pytest.raises(CheckpointError, match="cannot read SAM checkpoint"):
        build_sam(SamConfig(checkpoint=str(evil), **TINY))
    # weights for another architecture
    partial = tmp_path / "partial.pth"
    state = other_tiny_state()
    state.pop(next(iter(state)))
    torch.save(state, partial)
    with pytest.raises(CheckpointError, match="does not fit model_type 'tiny'"):
        build_sam(SamConfig(checkpoint=str(partial), **TINY))


def test_sam_checkpoint_from_s3_is_fetched_once(s3_server, tmp_path):
    state = other_tiny_state()
    local = tmp_path / "upload.pth"
    torch.save(state, local)
    s3_server.client().upload_file(str(local), s3_server.bucket, "models/sam/tiny.pth")
    cfg = SamConfig(checkpoint=f"{s3_server.root('models/sam')}/tiny.pth", **TINY)
    cache = tmp_path / "cache"
    assert same_weights(build_sam(cfg, str(cache)), state)
    cached = list(cache.rglob("tiny.pth"))
    assert len(cached) == 1 and not list(cache.rglob("*.part"))
    with pytest.raises(CheckpointError, match="not found: s3://"):
        build_sam(SamConfig(checkpoint=f"{s3_server.root('models/sam')}/none.pth", **TINY), str(cache))


def test_tiny_mask_generator_gives_image_sized_boolean_masks():
    # min_mask_region_area > 0 runs SAM's small-region clean-up (OpenCV), as the paper's settings do
    cfg = SamConfig(random_init=True, torch_threads=1, **{**TINY, "min_mask_region_area": 30})
    generator = MaskGenerator(cfg)
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    masks, ious = generator(image)
    assert masks.dtype == bool and masks.shape[1:] == (96, 128) and len(masks) == len(ious) > 0


@pytest.fixture(scope="module")
def scorer():
    with pytest.warns(UserWarning, match="RANDOM weights"):
        return ClipScorer(ClipConfig(model_name=TINY_MODEL, pretrained=None, device="cpu",
                                     torch_threads=1, text_cache_size=3))


def test_batched_scoring_equals_scoring_each_request_alone(scorer):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (rng.integers(10, 90), rng.integers(10, 90), 3), dtype=np.uint8)
             for _ in range(5)]
    requests = [ScoreRequest(crops[:3], ["steel clamp", "knob", ""]), ScoreRequest([], ["x"]),
                ScoreRequest(crops[3:], ["hinge", ""])]
    together = scorer.logits(requests)
    assert [t.shape for t in together] == [(3, 3), (0, 1), (2, 2)]
    for request, batched in zip(requests, together):
        alone = scorer.logits([request])[0]
        assert np.allclose(alone, batched, atol=1e-4)
    assert len(scorer._texts) <= 3  # the prompt cache stays bounded


def test_every_serve_config_file_validates():
    files = sorted((REPO / "serve").glob("*.yaml")) + [embedded_config_path()]
    assert len(files) >= 3
    for path in files:
        run = load_serve_config(path)
        assert set(run.deployment_options) == {"SegmentIngress", "SamSegmenter", "ClipScorer"}, path
        for name, opts in run.deployment_options.items():
            assert {"autoscaling_config", "max_ongoing_requests", "max_queued_requests"} <= set(opts), (path, name)


def test_production_config_uses_the_papers_sam_settings():
    sam = load_serve_config(REPO / "serve" / "production.yaml").app.sam
    assert (sam.model_type, sam.image_long_side, sam.pred_iou_thresh, sam.stability_score_thresh,
            sam.box_nms_thresh, sam.min_mask_region_area) == ("vit_h", 1024, 0.9, 0.9, 0.6, 700)


def test_config_refuses_a_scorer_batch_smaller_than_one_image():
    with pytest.raises(ValidationError, match="max_batch_size"):
        load_serve_config(None, ["clip.max_batch_size=8", "masks.max_candidates=9"])


def test_overrides_and_preflight(tmp_path):
    run = load_serve_config(None, ["sam.points_per_side=4", f"clip.checkpoint={tmp_path / 'none'}"])
    assert run.app.sam.points_per_side == 4
    with pytest.raises(CheckpointError, match="CLIP checkpoint not found"):
        preflight(run.app)
    preflight(load_serve_config(REPO / "serve" / "production.yaml").app)  # s3:// is checked by the replica


def test_serve_run_builds_each_config_file_through_serves_own_loader():
    """What `serve run serve/x.yaml` does with `import_path` + `args` (minus starting replicas)."""
    from ray._common.utils import import_attr
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve.deployment import Application

    for path in sorted((REPO / "serve").glob("*.yaml")) + [embedded_config_path()]:
        (spec,) = yaml.safe_load(path.read_text())["applications"]
        app = call_user_app_builder_with_args_if_necessary(import_attr(IMPORT_PATH), spec["args"])
        assert isinstance(app, Application), path
