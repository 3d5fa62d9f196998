"""`ilid synth scenes`: a dataset version -> synthetic scenes with exact masks, as Ray Data tasks.

    version's shards --read_webdataset--> cut-out tasks (border mask [+ SAM]) --> driver: cut-outs
    range(scenes) --> render tasks (background + 1-N placed cut-outs) --> images/ on the Store
    driver --> annotations.json (COCO, RLE masks, per-image prompts), cutout_rejects.json, synth.json

Scene `i` draws everything from a generator seeded with (seed, i), so the set is the same however
Ray splits the work. Each image's `prompts` name, per prompt type (label_short, material), what is
in the scene plus `distractors` values that are not, so both recall and precision can be scored.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import numpy as np

from ilid_ray.imaging import ImageError, decode, encode
from ilid_ray.serve.masks import encode_rle, mask_boxes
from ilid_ray.storage import Store
from ilid_ray.synth.backgrounds import from_photo, texture
from ilid_ray.synth.config import PROMPT_TYPES, SynthConfig
from ilid_ray.synth.cutout import CutoutError, checked_mask, cutout_png, foreground_mask, read_cutout
from ilid_ray.synth.place import Jitter, Placement, compose

log = logging.getLogger(__name__)
IMAGE_EXTS = ("jpg", "png")


# --------------------------------------------------------------------------- cut-outs


def cutout_row(image_bytes: bytes, meta: dict[str, Any], cfg: SynthConfig, refine=None) -> dict[str, Any]:
    """One sample -> {id, label_short, material, png, reason}; `png` empty when rejected."""
    out = {"id": meta.get("id"), "label_short": meta.get("label_short"), "material": meta.get("material"),
           "png": b"", "reason": ""}
    try:
        image = np.asarray(decode(image_bytes, 80_000_000).image)
        mask = foreground_mask(image, cfg.tolerance)
        if refine is not None:
            mask = refine(image, mask)
        out["png"] = cutout_png(image, checked_mask(mask, cfg.min_foreground, cfg.max_foreground))
    except (CutoutError, ImageError) as exc:
        out["reason"] = str(exc)
    if not out["reason"] and not out["label_short"]:
        out.update(png=b"", reason="no label_short")
    return out


class Cutouts:
    """Ray Data batch callable: sample rows -> cut-out rows (with SAM refinement when configured)."""

    def __init__(self, cfg: SynthConfig, keys: list[str]):
        self.cfg, self.keys, self.refine = cfg, set(keys), None
        if cfg.sam is not None:
            from ilid_ray.serve.sam import MaskGenerator
            from ilid_ray.synth.cutout import best_matching_mask

            generator = MaskGenerator(cfg.sam, storage=cfg.storage)
            self.refine = lambda image, mask: best_matching_mask(mask, generator(image)[0])

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        rows = []
        for i, key in enumerate(batch["__key__"]):
            if str(key).rsplit("/", 1)[-1] not in self.keys:
                continue  # a shard member of another version
            image = next((batch[e][i] for e in IMAGE_EXTS if e in batch and batch[e][i] is not None), None)
            meta = json.loads(batch["json"][i]) if batch["json"][i] is not None else {}
            if image is None:
                rows.append({"id": meta.get("id"), "label_short": meta.get("label_short"),
                             "material": meta.get("material"), "png": b"", "reason": "missing image"})
                continue
            rows.append(cutout_row(bytes(image), meta, self.cfg, self.refine))
        return {k: [r[k] for r in rows] for k in ("id", "label_short", "material", "png", "reason")}


# --------------------------------------------------------------------------- scenes


def scene_prompts(present: list[dict[str, Any]], pools: dict[str, list[str]], distractors: int,
                  rng: random.Random) -> dict[str, list[str]]:
    """Per prompt type: the values present in the scene, then up to `distractors` absent ones."""
    out = {}
    for kind in PROMPT_TYPES:
        there = sorted({c[kind] for c in present if c.get(kind)})
        absent = [v for v in pools.get(kind, []) if v not in there]
        out[kind] = there + rng.sample(absent, min(distractors, len(absent)))
    return out


def render_scene(index: int, cutouts: list[dict[str, Any]], pools: dict[str, list[str]],
                 backgrounds: list[bytes] | None, cfg: SynthConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Scene `index`: its image and its record {index, prompts, instances: [{rle, area, bbox, ...}]}."""
    rng = random.Random(f"{cfg.seed}:{index}")
    size = cfg.scene_size
    background = (from_photo(rng.choice(backgrounds), size) if backgrounds else texture(size, rng))
    chosen = [rng.randrange(len(cutouts)) for _ in range(rng.randint(cfg.min_objects, cfg.max_objects))]
    jitter = Jitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue_deg)
    placement = Placement(tuple(cfg.scale), cfg.rotation_deg, cfg.max_occlusion)
    image, masks, placed = compose(background, [read_cutout(cutouts[c]["png"]) for c in chosen], placement,
                                   jitter, rng)
    instances = []
    for mask, k in zip(masks, placed):
        product = cutouts[chosen[k]]
        x0, y0, x1, y1 = (int(v) for v in mask_boxes(mask[None])[0])
        instances.append({"rle": encode_rle(mask), "area": int(mask.sum()), "bbox": [x0, y0, x1 - x0, y1 - y0],
                          "sample_id": product["id"], "label_short": product["label_short"],
                          "material": product["material"]})
    prompts = scene_prompts([cutouts[chosen[k]] for k in placed], pools, cfg.distractors, rng)
    return image, {"index": index, "prompts": prompts, "instances": instances}


def scene_file(index: int, cfg: SynthConfig) -> str:
    return f"images/scene_{index:05d}.{cfg.image_format}"


def render_batch(batch: dict[str, np.ndarray], cutouts_ref, pools, backgrounds_ref, cfg: SynthConfig) -> dict:
    """Ray Data task: render the scenes of `batch["id"]`, write their images, return their records."""
    import ray

    cutouts = ray.get(cutouts_ref)
    backgrounds = ray.get(backgrounds_ref) if backgrounds_ref is not None else None
    store = Store(cfg.out, cfg.storage)
    records = []
    for index in batch["id"]:
        image, record = render_scene(int(index), cutouts, pools, backgrounds, cfg)
        from PIL import Image

        store.put_bytes(encode(Image.fromarray(image), cfg.image_format), scene_file(int(index), cfg))
        records.append(json.dumps(record))
    return {"record": records}


# --------------------------------------------------------------------------- COCO


def coco_document(records: list[dict[str, Any]], cfg: SynthConfig) -> dict[str, Any]:
    """COCO instances JSON: one category per label_short, RLE masks, prompts per image."""
    labels = sorted({i["label_short"] for r in records for i in r["instances"]})
    category = {label: n + 1 for n, label in enumerate(labels)}
    images, annotations = [], []
    for record in sorted(records, key=lambda r: r["index"]):
        image_id = record["index"] + 1
        images.append({"id": image_id, "file_name": scene_file(record["index"], cfg), "width": cfg.scene_size,
                       "height": cfg.scene_size, "prompts": record["prompts"]})
        for inst in record["instances"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": category[inst["label_short"]], "segmentation": inst["rle"],
                                "area": inst["area"], "bbox": inst["bbox"], "iscrowd": 0,
                                "label_short": inst["label_short"], "material": inst["material"],
                                "sample_id": inst["sample_id"]})
    return {"info": {"description": "ilid-ray synthetic segmentation scenes", "prompt_types": list(PROMPT_TYPES)},
            "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": label} for label, i in category.items()]}


# --------------------------------------------------------------------------- the job


def make_cutouts(cfg: SynthConfig, versions, number: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(usable cut-outs, rejects {id, reason}, version name) of version `number` of `versions`."""
    import ray

    from ilid_ray.dataset.manifest import version_name

    store = versions.store
    manifest = versions.manifest(number)
    fs, paths = store.arrow_paths(sorted(set(manifest.column("shard").to_pylist())))
    ds = ray.data.read_webdataset(paths, filesystem=fs, decoder=None)
    keys = manifest.column("key").to_pylist()
    if cfg.sam is not None:
        ds = ds.map_batches(Cutouts, fn_constructor_kwargs={"cfg": cfg, "keys": keys}, concurrency=1,
                            batch_format="numpy")
    else:
        ds = ds.map_batches(Cutouts(cfg, keys), batch_format="numpy")
    rows = sorted(ds.take_all(), key=lambda r: r["id"])
    good = [r for r in rows if not r["reason"]]
    rejects = [{"id": r["id"], "stage": "cutout", "reason": r["reason"]} for r in rows if r["reason"]]
    if cfg.max_products is not None:
        good = good[:cfg.max_products]
    return good, rejects, version_name(number)


def run_synth(cfg: SynthConfig) -> dict[str, Any]:
    """Write the evaluation set to `cfg.out`; returns its summary (also written as synth.json)."""
    import ray

    from ilid_ray.dataset.manifest import Versions
    from ilid_ray.runtime import init_ray

    versions = Versions(Store(cfg.root, cfg.storage))  # a missing version or background: say so before Ray
    number = versions.resolve(cfg.version)
    photos = None
    if cfg.backgrounds:
        source = Store(cfg.backgrounds, cfg.storage)
        photos = [source.get_bytes(rel) for rel in source.list("") if not rel.split("/")[-1].startswith(".")]
        if not photos:
            raise FileNotFoundError(f"no background images in {cfg.backgrounds}")
    init_ray(cfg.ray)
    cutouts, rejects, version = make_cutouts(cfg, versions, number)
    if not cutouts:
        raise ValueError(f"{cfg.root} {version}: no usable cut-outs ({len(rejects)} rejected, e.g. "
                         f"{rejects[0]['reason'] if rejects else 'no samples'})")
    cutouts = [{k: c[k] for k in ("id", "label_short", "material", "png")} for c in cutouts]
    pools = {kind: sorted({c[kind] for c in cutouts if c.get(kind)}) for kind in PROMPT_TYPES}
    backgrounds_ref = ray.put(photos) if photos else None
    ds = ray.data.range(cfg.scenes, override_num_blocks=max(1, -(-cfg.scenes // cfg.scenes_per_task)))
    ds = ds.map_batches(render_batch, batch_size=cfg.scenes_per_task, batch_format="numpy", fn_kwargs={
        "cutouts_ref": ray.put(cutouts), "pools": pools, "backgrounds_ref": backgrounds_ref, "cfg": cfg})
    records = [json.loads(r["record"]) for r in ds.take_all()]
    store = Store(cfg.out, cfg.storage)
    document = coco_document(records, cfg)
    store.put_bytes(json.dumps(document).encode(), "annotations.json")
    store.put_bytes(json.dumps(rejects, indent=1).encode(), "cutout_rejects.json")
    summary = {"out": store.root, "dataset": cfg.root, "version": version, "scenes": len(document["images"]),
               "instances": len(document["annotations"]), "cutouts": len(cutouts), "cutouts_rejected": len(rejects),
               "categories": len(document["categories"]), "config": cfg.model_dump(mode="json")}
    store.put_bytes(json.dumps(summary, indent=1).encode(), "synth.json")
    return summary
