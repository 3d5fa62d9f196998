"""A generated inspection folder: `class_name/*.jpg` photos of metal parts with drawn defects.

Stands in for a factory's own labelled photos (scarce, monotonous, one class rare): every image is
the same kind of part (a grey plate or disc with a little lighting gradient, on a light table);
the class is what is drawn on it (bold enough to survive a 32 px model input): `scratch` (thin dark lines), `dent` (a shaded dimple), `stain`
(a brownish blob), `good` (nothing), and a rare `crack` (a dark zig-zag) with few samples.
Used by the import/classification tests and demos:

    python -m ilid_ray.testing.defects ./defect-photos --per-class 40 --rare 8
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("good", "scratch", "dent", "stain", "crack")
RARE = "crack"


def draw_part(size: int, rng: random.Random) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """A grey part with a left-to-right lighting gradient on a light table; returns its box."""
    table = rng.randint(215, 245)
    image = Image.new("RGB", (size, size), (table, table, table - 5))
    margin = rng.uniform(0.08, 0.16) * size
    box = (margin, margin, size - margin, size - margin)
    grey = rng.randint(130, 150)
    gradient = np.linspace(-25, 25, size)[None, :, None]
    plate = np.clip(np.full((size, size, 3), grey, dtype=np.float64) + gradient, 0, 255).astype(np.uint8)
    mask = Image.new("L", (size, size), 0)
    shape = ImageDraw.Draw(mask)
    shape.rounded_rectangle(box, radius=0.15 * size, fill=255)  # one part type: monotonous, as on a line
    image.paste(Image.fromarray(plate), mask=mask)
    return image, box


def _point(box, rng: random.Random, inset: float = 0.2) -> tuple[float, float]:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return rng.uniform(x0 + inset * w, x1 - inset * w), rng.uniform(y0 + inset * h, y1 - inset * h)


def draw_defect(image: Image.Image, box, defect: str, rng: random.Random) -> Image.Image:
    size = image.width
    draw = ImageDraw.Draw(image)
    if defect == "scratch":
        for _ in range(rng.randint(3, 5)):
            (ax, ay), (bx, by) = _point(box, rng, 0.05), _point(box, rng, 0.05)
            draw.line((ax, ay, bx, by), fill=(20, 20, 25), width=max(2, size // 24))
    elif defect == "dent":
        cx, cy = _point(box, rng)
        r = rng.uniform(0.18, 0.24) * size
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(60, 60, 65))
        draw.ellipse((cx - r * 0.7, cy - r * 0.7, cx + r * 0.2, cy + r * 0.2), fill=(235, 235, 240))
    elif defect == "stain":
        cx, cy = _point(box, rng)
        for _ in range(5):
            r = rng.uniform(0.1, 0.16) * size
            dx, dy = rng.uniform(-r, r), rng.uniform(-r, r)
            draw.ellipse((cx + dx - r, cy + dy - r, cx + dx + r, cy + dy + r), fill=(120, 80, 30))
    elif defect == "crack":
        x, y = _point(box, rng, 0.3)
        points = [(x, y)]
        for _ in range(6):
            x += rng.uniform(0.03, 0.07) * size
            y += rng.choice((-1, 1)) * rng.uniform(0.03, 0.06) * size
            points.append((x, y))
        draw.line(points, fill=(10, 10, 10), width=max(3, size // 20))
    elif defect != "good":
        raise ValueError(f"unknown defect {defect!r}; use one of {CLASSES}")
    return image.filter(ImageFilter.GaussianBlur(0.6))


def write_defect_folder(folder: str | Path, per_class: int = 40, rare: int = 8, size: int = 96,
                        seed: int = 0, classes: tuple[str, ...] = CLASSES) -> dict[str, int]:
    """Write `folder/<class>/<class>_<i>.jpg`; the rare class gets `rare` images, others `per_class`.
    Returns images per class."""
    rng = random.Random(seed)
    counts = {}
    for defect in classes:
        target = Path(folder) / defect
        target.mkdir(parents=True, exist_ok=True)
        counts[defect] = rare if defect == RARE else per_class
        for i in range(counts[defect]):
            part, box = draw_part(size, rng)
            draw_defect(part, box, defect, rng).save(target / f"{defect}_{i:04d}.jpg", quality=92)
    return counts


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Write a generated defect-inspection folder (class_name/*.jpg).")
    parser.add_argument("folder")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--rare", type=int, default=8)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(write_defect_folder(args.folder, args.per_class, args.rare, args.size, args.seed)))
