"""Synthetic texture datasets: "striped", "checkered", "dotted", ... patterns in random colours.

A harder, more realistic task than the shapes of `synthetic.py` for comparing adaptation methods:
the label is a texture (optionally with its colour), colours, scale, phase and orientation vary at
random, and with few labels every test batch of 32 holds each label several times (so top-k differs
from top-1). Written in the same shard contract by `synthetic.write_synthetic_dataset`.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from ilid_ray.testing.synthetic import COLOURS, SyntheticSpec, sample_json

TEXTURES = ("striped", "checkered", "dotted", "grid", "zigzag", "speckled")


@dataclass
class TextureSpec(SyntheticSpec):
    textures: tuple[str, ...] = TEXTURES
    colour_in_label: bool = False  # "red striped" instead of "striped"
    build_id: str = "textures-0001"


def _random_colour(rng: random.Random, dark: bool) -> tuple[int, int, int]:
    lo, hi = (0, 120) if dark else (150, 255)
    return tuple(rng.randint(lo, hi) for _ in range(3))


def render_texture(texture: str, size: int, rng: random.Random, colour: str | None = None) -> Image.Image:
    """One texture filling the image: random period, phase and orientation, foreground on background."""
    fg = COLOURS[colour] if colour else _random_colour(rng, dark=True)
    bg = _random_colour(rng, dark=False)
    big = size * 2  # draw larger, then rotate and crop the centre (no empty corners)
    image = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(image)
    period = rng.uniform(0.12, 0.3) * size
    phase = rng.uniform(0, period)
    width = max(1.0, period * rng.uniform(0.3, 0.5))
    steps = range(-1, int(big / period) + 2)
    if texture in ("striped", "grid"):
        for i in steps:
            x = i * period + phase
            draw.rectangle((x, 0, x + width, big), fill=fg)
            if texture == "grid":
                draw.rectangle((0, x, big, x + width / 2), fill=fg)
                draw.rectangle((x, 0, x + width / 2, big), fill=fg)
    elif texture == "checkered":
        for i in steps:
            for j in steps:
                if (i + j) % 2 == 0:
                    x, y = i * period + phase, j * period + phase
                    draw.rectangle((x, y, x + period, y + period), fill=fg)
    elif texture == "dotted":
        r = width / 1.5
        for i in steps:
            for j in steps:
                x, y = i * period + phase, j * period + phase
                draw.ellipse((x - r, y - r, x + r, y + r), fill=fg)
    elif texture == "zigzag":
        for i in steps:
            y0 = i * period + phase
            points = [(k * period / 2, y0 + (period / 3 if k % 2 else 0)) for k in range(int(2 * big / period) + 3)]
            draw.line(points, fill=fg, width=max(1, int(width / 1.5)))
    elif texture == "speckled":
        for _ in range(int(big * big / (period * period) * 12)):
            x, y, r = rng.uniform(0, big), rng.uniform(0, big), rng.uniform(0.5, 1.5)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fg)
    else:
        raise ValueError(f"unknown texture {texture!r}; choose from {TEXTURES}")
    image = image.rotate(rng.uniform(0, 180) if texture not in ("speckled",) else 0, resample=Image.BILINEAR)
    left = (big - size) // 2
    return image.crop((left, left, left + size, left + size))


def iter_texture_samples(spec: TextureSpec):
    """(key, jpeg bytes, sample json) per sample, deterministic in `spec.seed`; label_short is the
    texture (or "colour texture"), label_long adds the colour, material is the texture."""
    rng = random.Random(spec.seed)
    for index in range(spec.samples):
        texture = spec.textures[index % len(spec.textures)]
        colour = spec.colours[(index // len(spec.textures)) % len(spec.colours)] if spec.colour_in_label else None
        meta = sample_json(index, colour or "plain", "square", spec, spec.image_size)
        label = f"{colour} {texture}" if colour else texture
        meta.update(label_short=label, label_long=f"{label} textured surface", material=texture,
                    description=f"a {label} pattern")
        buf = io.BytesIO()
        render_texture(texture, spec.image_size, rng, colour).save(buf, format="JPEG", quality=92)
        data = buf.getvalue()
        meta["image_sha256"] = hashlib.sha256(data).hexdigest()
        yield meta["key"], data, meta


def write_texture_dataset(root, spec: TextureSpec | None = None) -> dict:
    """Write the texture shards under `root` (folder, s3:// or Store); returns {shards, samples, labels}."""
    from ilid_ray.testing.synthetic import write_synthetic_dataset

    spec = spec or TextureSpec()
    return write_synthetic_dataset(root, spec, samples=list(iter_texture_samples(spec)))


__all__ = ["TEXTURES", "TextureSpec", "iter_texture_samples", "render_texture", "write_texture_dataset"]
