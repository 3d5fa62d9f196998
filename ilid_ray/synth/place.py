"""Placing cut-outs on a background: affine geometry, colour jitter, occlusion bookkeeping.

Every cut-out is warped with one 2x3 affine matrix (rotate about its centre, scale, move the centre
to a point of the scene). The colour is warped bilinearly, the mask by nearest neighbour, and the
mask is pasted hard (no blending), so the ground-truth mask is exactly the set of pixels the object
painted. Later objects cover earlier ones; an object is only placed where every earlier one keeps
at least `1 - max_occlusion` of its pixels visible, so no annotation is a sliver.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Jitter:
    brightness: float = 0.2  # factor drawn from [1 - b, 1 + b]
    contrast: float = 0.2
    saturation: float = 0.2
    hue_deg: float = 10.0


def placement_matrix(width: int, height: int, scale: float, angle_deg: float, cx: float, cy: float) -> np.ndarray:
    """2x3 affine: a `width` x `height` cut-out rotated by `angle_deg` (counter-clockwise) about
    its centre, scaled by `scale`, with its centre moved to (cx, cy)."""
    import cv2

    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle_deg, scale)
    matrix[:, 2] += (cx - width / 2, cy - height / 2)
    return matrix


def half_extent(width: int, height: int, scale: float, angle_deg: float) -> tuple[float, float]:
    """Half width and half height of the placed cut-out's bounding box."""
    a = np.deg2rad(angle_deg)
    c, s = abs(np.cos(a)), abs(np.sin(a))
    return scale * (width * c + height * s) / 2, scale * (width * s + height * c) / 2


def warp(rgb: np.ndarray, mask: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out in scene coordinates: (RGB [S,S,3] uint8, mask [S,S] bool)."""
    import cv2

    colour = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    placed = cv2.warpAffine(mask.astype(np.uint8), matrix, (size, size), flags=cv2.INTER_NEAREST,
                            borderValue=0)
    return colour, placed.astype(bool)


def jitter_colour(rgb: np.ndarray, jitter: Jitter, rng: random.Random) -> np.ndarray:
    """Brightness, contrast, saturation and hue changed by random amounts within `jitter`."""
    import cv2

    out = rgb.astype(np.float32)
    out *= rng.uniform(1 - jitter.brightness, 1 + jitter.brightness)
    mean = out.mean()
    out = (out - mean) * rng.uniform(1 - jitter.contrast, 1 + jitter.contrast) + mean
    grey = out.mean(axis=-1, keepdims=True)
    out = grey + (out - grey) * rng.uniform(1 - jitter.saturation, 1 + jitter.saturation)
    out = out.clip(0, 255).astype(np.uint8)
    if jitter.hue_deg:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        shift = round(rng.uniform(-jitter.hue_deg, jitter.hue_deg) / 2)  # OpenCV hue is 0..179
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def occlusion_ok(owner: np.ndarray, areas: list[int], max_occlusion: float) -> bool:
    """Every placed object still shows at least `1 - max_occlusion` of its pixels."""
    visible = np.bincount(owner[owner >= 0].ravel(), minlength=len(areas))
    return all(visible[k] >= (1 - max_occlusion) * area for k, area in enumerate(areas))


@dataclass(frozen=True)
class Placement:
    scale: tuple[float, float] = (0.25, 0.5)  # the object's long side, as a fraction of the scene side
    rotation_deg: float = 30.0  # angle drawn from [-r, r]
    max_occlusion: float = 0.5
    tries: int = 10  # placements tried per object before it is left out


def compose(background: np.ndarray, cutouts: list[tuple[np.ndarray, np.ndarray]], placement: Placement,
            jitter: Jitter, rng: random.Random) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """Paste cut-outs in order on the background. Returns the scene, each placed object's visible
    mask, and the indices (into `cutouts`) of the objects placed."""
    size = background.shape[0]
    canvas = background.copy()
    owner = np.full((size, size), -1, dtype=np.int32)
    areas: list[int] = []
    placed: list[int] = []
    for index, (rgb, mask) in enumerate(cutouts):
        h, w = mask.shape
        for _ in range(placement.tries):
            scale = rng.uniform(*placement.scale) * size / max(w, h)
            angle = rng.uniform(-placement.rotation_deg, placement.rotation_deg)
            hx, hy = half_extent(w, h, scale, angle)
            if 2 * hx >= size or 2 * hy >= size:
                continue
            matrix = placement_matrix(w, h, scale, angle, rng.uniform(hx, size - hx), rng.uniform(hy, size - hy))
            colour, where = warp(jitter_colour(rgb, jitter, rng), mask, matrix, size)
            if not where.any():
                continue
            trial = owner.copy()
            trial[where] = len(areas)
            if not occlusion_ok(trial, areas + [int(where.sum())], placement.max_occlusion):
                continue
            owner = trial
            canvas[where] = colour[where]
            areas.append(int(where.sum()))
            placed.append(index)
            break
    return canvas, [owner == k for k in range(len(areas))], placed
