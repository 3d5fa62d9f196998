"""The two requests the API answers, composed over the model deployments.

`segment`: image -> shrink to SAM's working size -> SAM masks (filtered in the SAM replica) ->
crops -> one scoring call against [prompts..., ""] -> softmax -> masks over the threshold, returned
in the upload's own pixel frame as COCO RLE. `classify`: the whole image against candidate labels.
The model calls come in through a `Backends` object, so the composition is plain async Python;
in Serve they are deployment handles.
"""

from __future__ import annotations

import base64
import time
from typing import Protocol

import numpy as np
from PIL import Image

from ilid_ray.serve import masks as M
from ilid_ray.serve.config import ServeAppConfig
from ilid_ray.serve.scorer import ScoreRequest

EMPTY_PROMPT = ""  # the paper's second prompt: what a crop is when it is none of the queries


class Backends(Protocol):
    async def generate_masks(self, image: np.ndarray) -> dict: ...  # {"packed", "num_generated", "seconds"}
    async def score(self, request: ScoreRequest) -> np.ndarray: ...  # [crops, texts] logits


async def segment(image: Image.Image, prompts: list[str], threshold: float, *, cfg: ServeAppConfig,
                  backends: Backends, with_background: bool | None = None, overlay: bool = False) -> dict:
    started = time.perf_counter()
    width, height = image.size
    work = np.asarray(M.shrink_to_long_side(image, cfg.sam.image_long_side))
    t0 = time.perf_counter()
    generated = await backends.generate_masks(work)
    t1 = time.perf_counter()
    candidates = M.unpack_masks(generated["packed"])
    background = cfg.masks.with_background if with_background is None else with_background
    crops = M.crop_candidates(work, candidates, cfg.masks.dilation_px, background)
    texts = prompts + [EMPTY_PROMPT]
    logits = await backends.score(ScoreRequest(crops, texts)) if crops else np.zeros((0, len(texts)))
    t2 = time.perf_counter()
    probs = M.softmax(np.asarray(logits, dtype=np.float64))
    kept = M.select_masks(probs, threshold)
    results = []
    for k, p, score in kept:
        full = M.resize_mask(candidates[k], width, height)
        x0, y0, x1, y1 = (int(v) for v in M.mask_boxes(full[None])[0])
        results.append({
            "prompt": prompts[p], "score": round(score, 6), "area": int(full.sum()),
            "box": [x0, y0, x1 - x0, y1 - y0],  # COCO: x, y, width, height
            "probabilities": {text or "<empty>": round(float(v), 6) for text, v in zip(texts, probs[k])},
            "rle": M.encode_rle(full),
        })
    body = {
        "width": width, "height": height, "prompts": prompts, "threshold": threshold,
        "with_background": background, "num_generated": int(generated["num_generated"]),
        "num_candidates": len(candidates), "masks": results,
    }
    if overlay:
        shown = [candidates[k] for k, _, _ in kept]
        labels = [f"{prompts[p]} {score:.2f}" for _, p, score in kept]
        body["overlay_png"] = base64.b64encode(M.render_overlay(work, shown, labels)).decode("ascii")
    body["timing"] = {"sam_s": round(t1 - t0, 4), "sam_compute_s": round(float(generated["seconds"]), 4),
                      "score_s": round(t2 - t1, 4), "total_s": round(time.perf_counter() - started, 4)}
    return body


async def classify(image: Image.Image, labels: list[str], *, cfg: ServeAppConfig,
                   backends: Backends) -> dict:
    started = time.perf_counter()
    work = np.asarray(M.shrink_to_long_side(image, cfg.sam.image_long_side))
    logits = await backends.score(ScoreRequest([work], labels))
    probs = M.softmax(np.asarray(logits, dtype=np.float64))[0]
    ranked = sorted(zip(labels, probs), key=lambda item: -item[1])
    return {
        "labels": labels,
        "probabilities": {label: round(float(p), 6) for label, p in zip(labels, probs)},
        "best": ranked[0][0],
        "ranking": [{"label": label, "probability": round(float(p), 6)} for label, p in ranked],
        "timing": {"total_s": round(time.perf_counter() - started, 4)},
    }
