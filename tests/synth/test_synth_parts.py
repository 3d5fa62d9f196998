"""The pure parts of `ilid synth scenes` and `ilid eval segment`: cut-out masks from the padded
border, placement geometry, occlusion, COCO RLE round trip, and the metrics on known answers."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ilid_ray.imaging import resize_pad
from ilid_ray.serve.masks import decode_rle, encode_rle
from ilid_ray.synth.backgrounds import texture
from ilid_ray.synth.config import SynthConfig
from ilid_ray.synth.cutout import (CutoutError, best_matching_mask, checked_mask, cutout_png, foreground_mask,
                                   read_cutout)
from ilid_ray.synth.metrics import mask_iou, score_prompt, summarise
from ilid_ray.synth.place import Jitter, Placement, compose, half_extent, occlusion_ok, placement_matrix, warp
from ilid_ray.synth.scenes import coco_document, cutout_row, render_scene, scene_prompts


def product_image() -> tuple[np.ndarray, np.ndarray]:
    """A red disc with a white hole on white, made square by the build's replicated-border pad;
    and the disc's true mask (hole included: enclosed background counts as product)."""
    img = Image.new("RGB", (120, 80), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.ellipse((30, 10, 90, 70), fill=(200, 30, 30))
    draw.ellipse((55, 35, 65, 45), fill=(250, 250, 250))
    padded = resize_pad(img, 120)  # 20 px of replicated border above and below
    truth = Image.new("L", (120, 120), 0)
    ImageDraw.Draw(truth).ellipse((30, 30, 90, 90), fill=255)
    return np.asarray(padded), np.asarray(truth) > 0


def test_cutout_mask_from_the_padded_border_finds_the_product():
    image, truth = product_image()
    mask = foreground_mask(image, tolerance=24)
    assert mask_iou(mask, truth) > 0.97
    assert not mask[:20].any() and not mask[-20:].any()  # the padded border is background


def test_image_without_known_background_is_rejected_with_the_reason():
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    with pytest.raises(CutoutError, match="foreground"):
        checked_mask(foreground_mask(noise, 24), 0.02, 0.9)
    blank = np.full((64, 64, 3), 240, dtype=np.uint8)
    with pytest.raises(CutoutError, match="no product found"):
        checked_mask(foreground_mask(blank, 24), 0.02, 0.9)
    row = cutout_row(b"not an image", {"id": "x", "label_short": "bolt"}, SynthConfig())
    assert row["png"] == b"" and row["reason"].startswith("not an image")


def test_cutout_png_round_trip_keeps_mask_and_colour():
    image, _ = product_image()
    mask = foreground_mask(image, 24)
    rgb, alpha = read_cutout(cutout_png(image, mask))
    assert alpha.sum() == mask.sum() and alpha.shape == (61, 61)
    assert tuple(rgb[30, 5]) == (200, 30, 30)


def test_sam_mask_replaces_the_border_mask_only_when_they_agree():
    ref = np.zeros((10, 10), bool)
    ref[2:8, 2:8] = True
    close, far = ref.copy(), np.zeros_like(ref)
    close[2:8, 2:9] = True
    far[0:2, 0:2] = True
    assert (best_matching_mask(ref, np.stack([far, close])) == close).all()
    assert (best_matching_mask(ref, far[None]) == ref).all()
    assert (best_matching_mask(ref, np.zeros((0, 10, 10), bool)) == ref).all()


def test_placement_puts_the_centre_where_asked_and_scales_the_area():
    mask = np.zeros((40, 20), bool)
    mask[:, :] = True
    rgb = np.full((40, 20, 3), 100, np.uint8)
    matrix = placement_matrix(20, 40, 1.5, 90.0, 100.0, 60.0)
    _, placed = warp(rgb, mask, matrix, 200)
    ys, xs = np.nonzero(placed)
    assert abs(xs.mean() - 100) < 1.0 and abs(ys.mean() - 60) < 1.0
    assert abs(placed.sum() - 40 * 20 * 1.5 ** 2) / (40 * 20 * 1.5 ** 2) < 0.05
    assert xs.max() - xs.min() + 1 == pytest.approx(60, abs=1)  # rotated 90 degrees: the long side is horizontal
    hx, hy = half_extent(20, 40, 1.5, 90.0)
    assert (hx, hy) == pytest.approx((30, 15))


def test_occlusion_rule_and_compose_keep_every_object_mostly_visible():
    owner = np.full((10, 10), -1)
    owner[:, :5] = 0
    owner[:, 5:] = 1
    assert occlusion_ok(owner, [50, 50], 0.5)
    assert not occlusion_ok(owner, [100, 50], 0.4)  # object 0 shows half of its 100 pixels
    disc, _ = product_image()
    cut = read_cutout(cutout_png(disc, foreground_mask(disc, 24)))
    rng = random.Random(3)
    background = texture(128, random.Random(9))
    scene, masks, placed = compose(background, [cut] * 4, Placement((0.3, 0.6), 45, 0.3), Jitter(0, 0, 0, 0), rng)
    assert scene.shape == (128, 128, 3) and len(placed) == len(masks) >= 2
    assert (np.sum(masks, axis=0) <= 1).all()  # visible masks never overlap
    painted = np.any(masks, axis=0)
    assert (scene[~painted] == background[~painted]).all()  # outside the masks: the background, untouched
    for mask in masks:
        assert mask.any()
        assert (scene[mask][:, 0] >= 150).mean() > 0.9  # a red disc (no colour jitter) shows there


def test_scene_is_deterministic_and_its_coco_masks_round_trip():
    disc, _ = product_image()
    png = cutout_png(disc, foreground_mask(disc, 24))
    cutouts = [{"id": "a", "label_short": "red disc", "material": "steel", "png": png},
               {"id": "b", "label_short": "red ring", "material": None, "png": png}]
    cfg = SynthConfig(scene_size=96, min_objects=2, max_objects=3, distractors=1)
    pools = {"label_short": ["blue bolt", "red disc", "red ring"], "material": ["brass", "steel"]}
    image, record = render_scene(7, cutouts, pools, None, cfg)
    again, record2 = render_scene(7, cutouts, pools, None, cfg)
    assert (image == again).all() and record == record2
    for inst in record["instances"]:
        mask = decode_rle(inst["rle"])
        assert mask.sum() == inst["area"] and encode_rle(mask) == inst["rle"]
    present = {i["label_short"] for i in record["instances"]}
    assert set(record["prompts"]["label_short"]) - present <= {"blue bolt", "red disc", "red ring"}
    assert len(record["prompts"]["label_short"]) == len(present) + 1  # one distractor
    doc = coco_document([record], cfg)
    assert {c["name"] for c in doc["categories"]} == present
    assert [a["image_id"] for a in doc["annotations"]] == [8] * len(record["instances"])


def test_scene_prompts_list_present_values_then_distractors():
    prompts = scene_prompts([{"label_short": "bolt", "material": "brass"}],
                            {"label_short": ["bolt", "nut"], "material": ["brass"]}, 2, random.Random(0))
    assert prompts == {"label_short": ["bolt", "nut"], "material": ["brass"]}


def test_metrics_on_known_answers():
    truth = np.zeros((8, 8), bool)
    truth[2:6, 2:6] = True
    assert mask_iou(truth, truth) == 1.0
    assert mask_iou(np.zeros_like(truth), truth) == 0.0
    half = truth.copy()
    half[2:6, 4:6] = False
    assert mask_iou(half, truth) == 0.5
    perfect = score_prompt("bolt", truth, [truth])
    empty = score_prompt("bolt", truth, [])
    false_alarm = score_prompt("nut", np.zeros_like(truth), [half])
    quiet = score_prompt("nut", np.zeros_like(truth), [])
    assert (perfect.iou, empty.iou, false_alarm.iou) == (1.0, 0.0, None)
    assert summarise([perfect])["miou"] == 1.0 and summarise([empty])["miou"] == 0.0
    summary = summarise([perfect, empty, false_alarm, quiet])
    assert summary["miou"] == 0.5
    assert (summary["tp"], summary["fp"], summary["fn"]) == (1, 1, 1)
    assert summary["precision"] == 0.5 and summary["recall"] == 0.5
    split = score_prompt("bolt", truth, [half, truth & ~half])  # two masks for one prompt: their union counts
    assert split.iou == 1.0


def test_synth_config_errors_say_what_to_fix():
    with pytest.raises(ValueError, match="min_objects"):
        SynthConfig(min_objects=3, max_objects=2)
    with pytest.raises(ValueError, match="scale"):
        SynthConfig(scale=(0.5, 1.2))


def test_shipped_synth_config_loads():
    from pathlib import Path

    from ilid_ray.synth.config import load_synth_config

    cfg = load_synth_config(Path(__file__).resolve().parents[2] / "configs" / "synth" / "tiny.yaml", ["scenes=3"])
    assert cfg.scenes == 3 and cfg.scene_size == 256 and cfg.sam is None
