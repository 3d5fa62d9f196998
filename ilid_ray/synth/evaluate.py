"""`ilid eval segment`: the serving pipeline (`serve/pipeline.segment`, the code the endpoint runs)
over a synthetic scene set, in this process and without HTTP; mIoU and prompt precision/recall per
prompt type (see `synth/metrics.py`), and overlay PNGs of a few scenes (answers tinted and
labelled, true instance outlines in white)."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import numpy as np
from PIL import Image

from ilid_ray.imaging import decode
from ilid_ray.serve.config import ServeAppConfig
from ilid_ray.serve.masks import decode_rle, render_overlay
from ilid_ray.storage import Store
from ilid_ray.synth.config import PROMPT_TYPES
from ilid_ray.synth.metrics import PromptOutcome, score_prompt, summarise


def truth_mask(annotations: list[dict[str, Any]], kind: str, prompt: str, height: int, width: int) -> np.ndarray:
    """Union of the instances whose `kind` field equals `prompt`."""
    out = np.zeros((height, width), dtype=bool)
    for ann in annotations:
        if ann.get(kind) == prompt:
            out |= decode_rle(ann["segmentation"])
    return out


def outline(mask: np.ndarray) -> np.ndarray:
    """The mask's one-pixel inner boundary."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def overlay_png(image: np.ndarray, answers: list[dict[str, Any]], annotations: list[dict[str, Any]]) -> bytes:
    masks = [decode_rle(a["rle"]) for a in answers]
    canvas = np.asarray(Image.open(io.BytesIO(
        render_overlay(image, masks, [f"{a['prompt']} {a['score']:.2f}" for a in answers]))).convert("RGB")).copy()
    for ann in annotations:
        canvas[outline(decode_rle(ann["segmentation"]))] = (255, 255, 255)
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


async def _evaluate(scene_store: Store, coco: dict[str, Any], cfg: ServeAppConfig, backends, threshold: float,
                    overlays: int, out: Store | None, max_scenes: int | None) -> dict[str, Any]:
    from ilid_ray.serve.pipeline import segment

    per_image: dict[int, list[dict[str, Any]]] = {}
    for ann in coco["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann)
    outcomes: dict[str, list[PromptOutcome]] = {kind: [] for kind in PROMPT_TYPES}
    scenes, written = [], []
    for n, info in enumerate(coco["images"][:max_scenes]):
        image = decode(scene_store.get_bytes(info["file_name"]), cfg.limits.max_pixels).image
        annotations = per_image.get(info["id"], [])
        scene = {"file_name": info["file_name"]}
        for kind in PROMPT_TYPES:
            prompts = info.get("prompts", {}).get(kind) or []
            if not prompts:
                continue
            body = await segment(image, prompts, threshold, cfg=cfg, backends=backends)
            scored = [score_prompt(p, truth_mask(annotations, kind, p, image.height, image.width),
                                   [decode_rle(m["rle"]) for m in body["masks"] if m["prompt"] == p])
                      for p in prompts]
            outcomes[kind].extend(scored)
            scene[kind] = [vars(o) for o in scored]
            if kind == PROMPT_TYPES[0] and out is not None and n < overlays:
                rel = f"overlays/{info['file_name'].rsplit('/', 1)[-1].rsplit('.', 1)[0]}.png"
                out.put_bytes(overlay_png(np.asarray(image), body["masks"], annotations), rel)
                written.append(out.uri(rel))
        scenes.append(scene)
    return {"threshold": threshold, "scenes": len(scenes),
            "per_type": {kind: summarise(o) for kind, o in outcomes.items()},
            "per_scene": scenes, "overlays": written}


def evaluate_scenes(scene_root: str, cfg: ServeAppConfig, threshold: float | None = None, *, overlays: int = 4,
                    out: str | None = None, max_scenes: int | None = None, backends=None) -> dict[str, Any]:
    """Score the pipeline on the set at `scene_root`; writes metrics.json (+ overlays) under `out`."""
    from ilid_ray.serve.local import LocalBackends

    scene_store = Store(scene_root, cfg.storage)
    coco = json.loads(scene_store.get_bytes("annotations.json"))
    out_store = Store(out, cfg.storage) if out else None
    threshold = cfg.masks.default_threshold if threshold is None else threshold
    result = asyncio.run(_evaluate(scene_store, coco, cfg, backends or LocalBackends(cfg), threshold, overlays,
                                   out_store, max_scenes))
    if out_store is not None:
        out_store.put_bytes(json.dumps(result, indent=1).encode(), "metrics.json")
        result["metrics"] = out_store.uri("metrics.json")
    return result


def format_result(result: dict[str, Any]) -> str:
    def cell(v):
        return "-" if v is None else f"{v:.3f}"

    lines = [f"{result['scenes']} scenes, threshold {result['threshold']}",
             f"{'prompt type':<14}{'mIoU':>8}{'precision':>11}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}"]
    for kind, s in result["per_type"].items():
        lines.append(f"{kind:<14}{cell(s['miou']):>8}{cell(s['precision']):>11}{cell(s['recall']):>8}"
                     f"{s['tp']:>5}{s['fp']:>5}{s['fn']:>5}")
    return "\n".join(lines)
