"""A product's mask from its own sample image: the padded border is the known background.

Build samples are resized and padded with a replicated border, and catalog photos are mostly shot
on a plain backdrop, so the outermost ring of pixels shows the background. The background is
everything connected to that ring whose colour is within a tolerance of the ring's median colour;
the product is the rest (enclosed regions of background colour count as product: holes are filled).
An image where that leaves almost nothing, or almost everything, has no usable known background and
is rejected with the reason. Where SAM weights exist, the SAM mask that best agrees with the border
mask replaces it (SAM follows edges better than a colour threshold).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


class CutoutError(ValueError):
    """The image has no usable known background; the message is the reject reason."""


def border_colour(image: np.ndarray) -> np.ndarray:
    """Median RGB of the outermost one-pixel ring."""
    ring = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return np.median(ring.reshape(-1, image.shape[-1]), axis=0)


def foreground_mask(image: np.ndarray, tolerance: float) -> np.ndarray:
    """[H,W] bool: pixels not connected to the border through background-coloured pixels."""
    from scipy import ndimage

    distance = np.abs(image.astype(np.int16) - border_colour(image).astype(np.int16)).max(axis=-1)
    near = distance <= tolerance
    labels, _ = ndimage.label(near)
    ring = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, ring[ring > 0])
    return ~background


def checked_mask(mask: np.ndarray, min_fraction: float, max_fraction: float) -> np.ndarray:
    fraction = float(mask.mean())
    if fraction < min_fraction:
        raise CutoutError(f"no product found: foreground {fraction:.1%} of the image (< {min_fraction:.0%})")
    if fraction > max_fraction:
        raise CutoutError(f"no known background: foreground {fraction:.1%} of the image (> {max_fraction:.0%})")
    return mask


def best_matching_mask(reference: np.ndarray, candidates: np.ndarray, min_iou: float = 0.5) -> np.ndarray:
    """The candidate mask with the highest IoU against `reference`, if it reaches `min_iou`; else
    the reference itself."""
    if len(candidates) == 0:
        return reference
    inter = (candidates & reference).reshape(len(candidates), -1).sum(axis=1)
    union = (candidates | reference).reshape(len(candidates), -1).sum(axis=1)
    iou = inter / np.maximum(union, 1)
    best = int(iou.argmax())
    return candidates[best] if iou[best] >= min_iou else reference


def cutout_png(image: np.ndarray, mask: np.ndarray) -> bytes:
    """The product's box as an RGBA PNG whose alpha is the mask (0 or 255)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    rgba = np.dstack([image[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.uint8) * 255])
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG")
    return out.getvalue()


def read_cutout(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(RGB [h,w,3] uint8, mask [h,w] bool) of a cut-out PNG."""
    rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    return rgba[..., :3], rgba[..., 3] > 127
