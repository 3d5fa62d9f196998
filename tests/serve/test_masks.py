"""The mask pipeline's pure functions: filters, crops, dilation, selection, RLE, overlay."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ilid_ray.serve import masks as M


def rect_mask(h, w, x0, y0, x1, y1):
    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_shrink_to_long_side_keeps_aspect_and_never_enlarges():
    big = Image.new("RGB", (2000, 1000))
    assert M.shrink_to_long_side(big, 1024).size == (1024, 512)
    small = Image.new("RGB", (300, 200))
    assert M.shrink_to_long_side(small, 1024) is small


def test_mask_boxes_are_exclusive_and_empty_masks_give_zeros():
    masks = np.stack([rect_mask(20, 30, 3, 4, 10, 12), np.zeros((20, 30), bool)])
    masks[0, 15, 25] = True  # a stray pixel widens the box
    assert M.mask_boxes(masks).tolist() == [[3, 4, 26, 16], [0, 0, 0, 0]]


def test_candidates_drop_small_and_background_masks_and_sort_by_area():
    h, w = 100, 200
    masks = np.stack([
        rect_mask(h, w, 0, 0, 10, 10),      # area 100: dropped at min_area 100 (<=)
        rect_mask(h, w, 0, 0, 101, 1),      # area 101: kept
        rect_mask(h, w, 0, 0, 200, 100),    # whole image: background
        rect_mask(h, w, 0, 0, 200, 50),     # full width but half height: kept
        rect_mask(h, w, 5, 5, 195, 97),     # box 95% x 92%: background at 0.9
        rect_mask(h, w, 50, 20, 80, 60),    # area 1200: kept
    ])
    kept = M.candidate_indices(masks, min_area=100, max_box_fraction=0.9, max_candidates=10)
    assert kept.tolist() == [3, 5, 1]  # largest first
    assert M.candidate_indices(masks, 100, 0.9, max_candidates=2).tolist() == [3, 5]
    # 1.0 switches the background filter off: no box covers more than the whole image
    assert 2 in M.candidate_indices(masks, 100, 1.0, 10).tolist()
    assert M.candidate_indices(np.zeros((0, 5, 5), bool), 0, 0.9, 3).tolist() == []


def test_expand_box_clips_to_the_image():
    assert M.expand_box((2, 3, 50, 40), 5, 52, 42) == (0, 0, 52, 42)
    assert M.expand_box((10, 10, 20, 20), 5, 100, 100) == (5, 5, 25, 25)


def brute_dilate(mask, px):
    out = np.zeros_like(mask)
    for y, x in zip(*np.nonzero(mask)):
        out[max(0, y - px):y + px + 1, max(0, x - px):x + px + 1] = True
    return out


@pytest.mark.parametrize("px", [0, 1, 3, 5])
def test_dilate_mask_matches_a_square_kernel(px):
    rng = np.random.default_rng(px)
    mask = rng.random((40, 33)) > 0.97
    mask[0, 0] = mask[-1, -1] = True  # touches the borders
    assert np.array_equal(M.dilate_mask(mask, px), brute_dilate(mask, px))


def test_crops_with_and_without_background():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    mask = rect_mask(60, 80, 20, 10, 30, 25)
    mask[10, 20] = False  # a notch: inside the box but outside the mask
    with_bg = M.crop_candidates(image, mask[None], dilation_px=5, with_background=True)[0]
    assert np.array_equal(with_bg, image[5:30, 15:35])
    without = M.crop_candidates(image, mask[None], dilation_px=2, with_background=False)[0]
    assert without.shape == (15 + 4, 10 + 4, 3)
    inside = M.dilate_mask(mask, 2)[8:27, 18:32]
    assert np.array_equal(without[inside], image[8:27, 18:32][inside])
    assert (without[~inside] == M.GREY).all() and (~inside).any()
    assert without[2, 2].tolist() == image[10, 20].tolist()  # the notch is within the dilation


def test_softmax_is_stable_and_normalised():
    probs = M.softmax(np.array([[1000.0, 1000.0, 0.0], [1.0, 2.0, 3.0]]))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert np.allclose(probs[0], [0.5, 0.5, 0.0])


def test_select_masks_uses_the_empty_prompt_as_the_alternative():
    # columns: "clamp", "knob", "" (empty prompt last)
    logits = np.array([[5.0, 0.0, 0.0],    # clamp, confident
                       [0.0, 0.0, 5.0],    # the empty prompt wins: nothing
                       [0.0, 4.0, 1.0],    # knob
                       [2.0, 2.0, 0.0]])   # split between queries: below a high threshold
    probs = M.softmax(logits)
    kept = M.select_masks(probs, threshold=0.9)
    assert [(k, p) for k, p, _ in kept] == [(0, 0), (2, 1)]
    assert all(score >= 0.9 for _, _, score in kept)
    assert kept[0][2] >= kept[1][2]  # best first
    # the threshold is inclusive and 0 keeps every mask with its best query prompt
    exact = M.select_masks(probs, threshold=float(probs[2, 1]))
    assert 2 in [k for k, _, _ in exact]
    assert [k for k, _, _ in sorted(M.select_masks(probs, 0.0))] == [0, 1, 2, 3]
    assert M.select_masks(np.zeros((0, 3)), 0.5) == []


def test_rle_round_trips_and_is_coco_compressed():
    rng = np.random.default_rng(1)
    masks = [rng.random((37, 53)) > 0.6, np.zeros((8, 9), bool), np.ones((8, 9), bool),
             rect_mask(30, 40, 5, 6, 25, 20)]
    for mask in masks:
        rle = M.encode_rle(mask)
        assert rle["size"] == list(mask.shape) and isinstance(rle["counts"], str)
        assert np.array_equal(M.decode_rle(rle), mask)
    # pycocotools reads it back as the same object
    from pycocotools import mask as mask_utils

    rle = M.encode_rle(masks[3])
    assert mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode()}) == masks[3].sum()


def test_pack_unpack_round_trip_with_odd_width():
    masks = np.random.default_rng(2).random((3, 11, 13)) > 0.5
    packed = M.pack_masks(masks)
    assert packed["bits"].nbytes < masks.nbytes
    assert np.array_equal(M.unpack_masks(packed), masks)


def test_resize_mask_nearest():
    mask = rect_mask(4, 4, 0, 0, 2, 2)
    big = M.resize_mask(mask, 8, 8)
    assert big.shape == (8, 8) and big[:4, :4].all() and not big[4:, :].any()


def test_overlay_is_a_png_with_tinted_masks():
    image = np.full((40, 50, 3), 200, dtype=np.uint8)
    mask = rect_mask(40, 50, 10, 20, 30, 35)
    png = M.render_overlay(image, [mask], ["clamp 0.95"])
    out = np.asarray(Image.open(io.BytesIO(png)))
    assert out.shape == (40, 50, 3)
    assert not np.array_equal(out[28, 20], image[28, 20])  # inside the mask: tinted
    assert np.array_equal(out[2, 45], image[2, 45])  # far outside: untouched
