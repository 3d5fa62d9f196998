"""A synthetic ILID dataset in the shard contract: rendered coloured shapes named by their text.

`red square`, `blue circle`, ... are drawn at random positions and sizes on a light background, so an
image really shows what its label says and a model can learn it. Written as WebDataset shards
(`shards/{build_id}/{name}.tar` with `{key}.jpg` + `{key}.json`, fold included) on any Store, for the
training tests, demos and benchmarks. Optionally plants broken samples (undecodable image, missing
label) to exercise the readers' error paths.

No torch/torchvision here: this module must load in every environment.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
import time
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from ilid_ray.records import assign_fold, record_id, sample_key
from ilid_ray.storage import Store

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (40, 70, 220), "yellow": (235, 200, 20),
           "purple": (140, 50, 170), "orange": (245, 130, 20)}
SHAPES = ("square", "circle", "triangle", "cross")
MATERIALS = {"square": "steel", "circle": "aluminum", "triangle": "brass", "cross": "plastic"}


@dataclass
class SyntheticSpec:
    samples: int = 240
    image_size: int = 64
    shard_size: int = 100
    folds: int = 6
    fold_seed: int = 0
    seed: int = 0
    colours: tuple[str, ...] = tuple(COLOURS)
    shapes: tuple[str, ...] = SHAPES
    build_id: str = "synthetic-0001"
    corrupt_images: int = 0  # samples whose image bytes are truncated garbage
    missing_labels: int = 0  # samples whose label_short/label_long/material are null
    extra: dict = field(default_factory=dict)


def render_shape(colour: str, shape: str, size: int, rng: random.Random) -> Image.Image:
    """One coloured shape on a light, slightly varying background."""
    bg = tuple(rng.randint(225, 255) for _ in range(3))
    image = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(image)
    extent = rng.uniform(0.45, 0.8) * size
    cx, cy = (rng.uniform(extent / 2, size - extent / 2) for _ in range(2))
    box = (cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2)
    fill = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in COLOURS[colour])
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=fill)
    else:  # cross
        bar = extent / 3
        draw.rectangle((box[0], cy - bar / 2, box[2], cy + bar / 2), fill=fill)
        draw.rectangle((cx - bar / 2, box[1], cx + bar / 2, box[3]), fill=fill)
    return image


def sample_json(index: int, colour: str, shape: str, spec: SyntheticSpec, size: int) -> dict:
    url = f"https://synthetic.example/{spec.build_id}/product/{index}"
    sample_id = record_id(url)
    return {
        "id": sample_id, "key": sample_key(sample_id), "url": url,
        "image_url": f"https://synthetic.example/img/{index}.jpg", "source": "synthetic",
        "label_short": f"{colour} {shape}",
        "label_long": f"{colour} {shape} shaped {MATERIALS[shape]} part",
        "description": f"a {colour} {shape} drawn on a light background",
        "material": MATERIALS[shape], "material_finish": colour,
        "fold": assign_fold(sample_id, spec.folds, spec.fold_seed),
        "image_sha256": None, "orig_width": size, "orig_height": size, "width": size, "height": size,
        "model": "synthetic", "prompt_version": "synthetic", "crawled_at": "2026-01-01T00:00:00Z",
        "build_id": spec.build_id, **spec.extra,
    }


def iter_samples(spec: SyntheticSpec):
    """(key, jpeg bytes, sample json) for every sample, deterministic in `spec.seed`."""
    import hashlib

    rng = random.Random(spec.seed)
    for index in range(spec.samples):
        colour = spec.colours[index % len(spec.colours)]
        shape = spec.shapes[(index // len(spec.colours)) % len(spec.shapes)]
        meta = sample_json(index, colour, shape, spec, spec.image_size)
        buf = io.BytesIO()
        render_shape(colour, shape, spec.image_size, rng).save(buf, format="JPEG", quality=92)
        data = buf.getvalue()
        if index < spec.corrupt_images:
            data = data[: len(data) // 8]
        elif index < spec.corrupt_images + spec.missing_labels:
            meta.update(label_short=None, label_long=None, material=None)
        meta["image_sha256"] = hashlib.sha256(data).hexdigest()
        yield meta["key"], data, meta


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(payload), int(time.time())
    tar.addfile(info, io.BytesIO(payload))


def write_synthetic_dataset(root: str | Store, spec: SyntheticSpec | None = None,
                            samples: list[tuple[str, bytes, dict]] | None = None) -> dict:
    """Write the shards under `root` and return {shards: [rel paths], samples, labels}; `samples`
    (key, image bytes, json) default to the spec's shapes (textures.py passes its own)."""
    spec = spec or SyntheticSpec()
    store = root if isinstance(root, Store) else Store(str(root))
    samples = samples if samples is not None else list(iter_samples(spec))
    shards: list[str] = []
    for start in range(0, len(samples), spec.shard_size):
        rel = f"shards/{spec.build_id}/{len(shards):05d}.tar"
        with store.staged(rel) as path, tarfile.open(path, "w") as tar:
            for key, data, meta in samples[start:start + spec.shard_size]:
                _add(tar, f"{key}.jpg", data)
                _add(tar, f"{key}.json", json.dumps(meta).encode())
        shards.append(rel)
    labels = sorted({m["label_short"] for _, _, m in samples if m["label_short"]})
    return {"root": store.root, "shards": shards, "samples": len(samples), "labels": labels}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write the synthetic shapes dataset (WebDataset shards).")
    parser.add_argument("root", help="dataset root: folder or s3://bucket/prefix")
    parser.add_argument("--samples", type=int, default=480)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    print(json.dumps(write_synthetic_dataset(args.root, SyntheticSpec(samples=args.samples,
                                                                      image_size=args.image_size)), indent=1))
