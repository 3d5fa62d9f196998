"""Scene backgrounds: the user's own photos (a folder), or generated textures by default.

Generated textures are smooth value noise, wood-like stripes or floor tiles in random muted colours:
varied enough that a model cannot tell objects by a constant backdrop, and free of licences.
"""

from __future__ import annotations

import random

import numpy as np

from ilid_ray.imaging import decode, resize_pad

TEXTURES = ("noise", "stripes", "tiles")


def _smooth_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    grid = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def texture(size: int, rng: random.Random) -> np.ndarray:
    """One generated [size, size, 3] uint8 background."""
    gen = np.random.default_rng(rng.getrandbits(32))
    base = np.array([rng.uniform(60, 200) for _ in range(3)], dtype=np.float32)
    kind = rng.choice(TEXTURES)
    if kind == "noise":
        value = _smooth_noise(size, rng.randint(3, 9), gen) * 0.7 + _smooth_noise(size, 32, gen) * 0.3
    elif kind == "stripes":
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        along = x * np.cos(angle) + y * np.sin(angle)
        value = 0.5 + 0.5 * np.sin(along / rng.uniform(4, 16) + 3 * _smooth_noise(size, 6, gen))
    else:
        tile = rng.randint(size // 10, size // 4)
        y, x = np.mgrid[0:size, 0:size]
        value = (((x // tile) + (y // tile)) % 2).astype(np.float32) * 0.6 + 0.2
        value[(x % tile < 2) | (y % tile < 2)] = 0.0  # grout
    value = value[..., None] - 0.5
    noise = gen.normal(0, 4, (size, size, 3))
    return np.clip(base + value * rng.uniform(40, 90) + noise, 0, 255).astype(np.uint8)


def from_photo(data: bytes, size: int, max_pixels: int = 80_000_000) -> np.ndarray:
    """A user background photo as a [size, size, 3] uint8 array (the build's decode and resize)."""
    return np.asarray(resize_pad(decode(data, max_pixels, draft_size=size).image, size))
