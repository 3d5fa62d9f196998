"""From SAM's masks to scored crops and back to answers: pure numpy/PIL functions.

The paper's recipe: drop masks with area <= 700 and masks whose box is nearly the whole image
(background), crop each mask's box grown by 5 px (with background, or with everything outside the
grown mask greyed out), score the crops with CLIP against [query..., ""] and keep the masks whose
query probability after the softmax is over a threshold. Masks travel between replicas bit-packed
and leave the API as COCO RLE.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

GREY = (127, 127, 127)  # fill outside the mask for crops without background: neutral for CLIP
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


# --------------------------------------------------------------------------- image scale

def shrink_to_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """The image with its long side at most `long_side` (aspect kept); never enlarged."""
    width, height = image.size
    scale = long_side / max(width, height)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A boolean mask resampled (nearest) to width x height: masks go back to the upload's frame."""
    if mask.shape == (height, width):
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize((width, height), Image.Resampling.NEAREST)) > 127


# --------------------------------------------------------------------------- filtering

def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """[K,H,W] bool -> [K,4] int boxes (x0, y0, x1, y1), x1/y1 exclusive; empty masks give zeros."""
    boxes = np.zeros((len(masks), 4), dtype=np.int64)
    for k, mask in enumerate(masks):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size:
            boxes[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def candidate_indices(masks: np.ndarray, min_area: int, max_box_fraction: float,
                      max_candidates: int) -> np.ndarray:
    """Indices of the masks worth scoring, largest first: area > min_area and a box that does not
    cover more than `max_box_fraction` of both the image's width and height (that is background).
    At most `max_candidates`, which bounds the scorer's batch."""
    if len(masks) == 0:
        return np.zeros((0,), dtype=np.int64)
    height, width = masks.shape[1:]
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    boxes = mask_boxes(masks)
    box_w, box_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    background = (box_w > max_box_fraction * width) & (box_h > max_box_fraction * height)
    keep = np.flatnonzero((areas > min_area) & ~background)
    order = np.argsort(-areas[keep], kind="stable")
    return keep[order][:max_candidates]


def candidates_payload(masks: np.ndarray, seconds: float, cfg) -> dict:
    """What the SAM side answers: the candidates (`cfg`: a MaskConfig) bit-packed, with counts."""
    keep = candidate_indices(masks, cfg.min_area, cfg.max_box_fraction, cfg.max_candidates)
    return {"packed": pack_masks(masks[keep]), "num_generated": len(masks), "seconds": seconds}


# --------------------------------------------------------------------------- crops

def expand_box(box, px: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The box grown by `px` on every side, clipped to the image."""
    x0, y0, x1, y1 = (int(v) for v in box)
    return max(0, x0 - px), max(0, y0 - px), min(width, x1 + px), min(height, y1 + px)


def dilate_mask(mask: np.ndarray, px: int) -> np.ndarray:
    """Square (chessboard) dilation by `px` pixels, separable: two passes of shifted ORs."""
    rows = mask.copy()
    for s in range(1, px + 1):
        rows[s:, :] |= mask[:-s, :]
        rows[:-s, :] |= mask[s:, :]
    out = rows.copy()
    for s in range(1, px + 1):
        out[:, s:] |= rows[:, :-s]
        out[:, :-s] |= rows[:, s:]
    return out


def crop_candidates(image: np.ndarray, masks: np.ndarray, dilation_px: int,
                    with_background: bool) -> list[np.ndarray]:
    """One RGB crop per mask: its box grown by `dilation_px`; without background, pixels outside
    the mask grown by the same amount are grey."""
    height, width = image.shape[:2]
    crops = []
    for mask, box in zip(masks, mask_boxes(masks)):
        x0, y0, x1, y1 = expand_box(box, dilation_px, width, height)
        crop = image[y0:y1, x0:x1].copy()
        if not with_background:
            inside = dilate_mask(mask[y0:y1, x0:x1], dilation_px)
            crop[~inside] = GREY
        crops.append(crop)
    return crops


# --------------------------------------------------------------------------- scoring

def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def select_masks(probs: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """(mask index, prompt index, probability) of the masks to keep, best first.

    `probs` is [K, P+1], a softmax over the P query prompts and the empty prompt (last column).
    Each mask goes to its most likely query prompt and is kept if that probability >= threshold;
    the empty prompt absorbs crops that match no query."""
    if probs.size == 0:
        return []
    query = probs[:, :-1]
    best = query.argmax(axis=1)
    score = query[np.arange(len(query)), best]
    kept = [(int(k), int(best[k]), float(score[k])) for k in np.flatnonzero(score >= threshold)]
    return sorted(kept, key=lambda item: -item[2])


# --------------------------------------------------------------------------- transport

def pack_masks(masks: np.ndarray) -> dict:
    """[K,H,W] bool as bits (8x smaller between replicas)."""
    return {"bits": np.packbits(masks, axis=-1), "width": int(masks.shape[-1])}


def unpack_masks(packed: dict) -> np.ndarray:
    return np.unpackbits(packed["bits"], axis=-1, count=packed["width"]).astype(bool)


def encode_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE: {"size": [H, W], "counts": str}, as pycocotools reads it."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


# --------------------------------------------------------------------------- overlay

def render_overlay(image: np.ndarray, masks: list[np.ndarray], labels: list[str],
                   alpha: float = 0.45) -> bytes:
    """PNG of the image with each mask tinted, its box outlined and labelled."""
    canvas = image.astype(np.float32)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(masks))]
    for mask, color in zip(masks, colors):
        canvas[mask] = (1 - alpha) * canvas[mask] + alpha * np.asarray(color, dtype=np.float32)
    out = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    for mask, color, label in zip(masks, colors, labels):
        x0, y0, x1, y1 = mask_boxes(mask[None])[0]
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=color, width=2)
        text_y = max(0, y0 - 12)
        draw.rectangle([x0, text_y, x0 + 6 * len(label) + 4, text_y + 11], fill=color)
        draw.text((x0 + 2, text_y), label, fill=(0, 0, 0))
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return buffer.getvalue()
