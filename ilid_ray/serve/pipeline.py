"""The two requests the API answers, composed over the model deployments.

`segment`: image -> shrink to SAM's working size -> SAM masks (filtered in the SAM replica) ->
crops -> one scoring call against [prompts..., ""] -> softmax -> masks over the threshold, returned
in the upload's own pixel frame as COCO RLE. `classify`: the whole image against candidate labels.
The model calls come in through a `Backends` object, so the composition is plain async Python;
in Serve they are deployment handles.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Protocol

import numpy as np
from PIL import Image

from ilid_ray.serve import masks as M
from ilid_ray.serve.config import ServeAppConfig
from ilid_ray.serve.scorer import ScoreRequest

EMPTY_PROMPT = ""  # the paper's second prompt: what a crop is when it is none of the queries
# Where a mask's empty-prompt probability is reported: its own field, never a key among the
# user's prompts (a prompt may be any text, "<empty>" included).
EMPTY_FIELD = "none_of_the_prompts"


class Backends(Protocol):
    async def generate_masks(self, image: np.ndarray) -> dict: ...  # {"packed", "num_generated", "seconds"}
    async def score(self, request: ScoreRequest, model_id: str = "") -> np.ndarray: ...  # [crops, texts] logits


async def segment(image: Image.Image, prompts: list[str], threshold: float, *, cfg: ServeAppConfig,
                  backends: Backends, with_background: bool | None = None, overlay: bool = False,
                  frame: tuple[int, int] | None = None, model_id: str = "") -> dict:
    """`frame`: the upload's (width, height) when `image` was decoded smaller (JPEG draft); masks
    come back in that frame. Pixel work runs in worker threads, never on the event loop.
    `model_id`: the customer adapter that scores the crops (default: the configured CLIP)."""
    started = time.perf_counter()
    width, height = frame or image.size
    work = await asyncio.to_thread(lambda: np.asarray(M.shrink_to_long_side(image, cfg.sam.image_long_side)))
    t0 = time.perf_counter()
    generated = await backends.generate_masks(work)
    t1 = time.perf_counter()
    background = cfg.masks.with_background if with_background is None else with_background
    candidates, crops = await asyncio.to_thread(_candidates_and_crops, work, generated, cfg, background)
    texts = prompts + [EMPTY_PROMPT]
    logits = await backends.score(ScoreRequest(crops, texts), model_id) if crops else np.zeros((0, len(texts)))
    t2 = time.perf_counter()
    body = await asyncio.to_thread(_answer, work, candidates, logits, prompts, threshold, (width, height),
                                   cfg, overlay)
    body.update({"model": model_id or None, "width": width, "height": height, "prompts": prompts, "threshold": threshold,
                 "with_background": background, "num_generated": int(generated["num_generated"]),
                 "num_candidates": len(candidates)})
    body["timing"] = {"sam_s": round(t1 - t0, 4), "sam_compute_s": round(float(generated["seconds"]), 4),
                      "score_s": round(t2 - t1, 4), "total_s": round(time.perf_counter() - started, 4)}
    return body


def _candidates_and_crops(work: np.ndarray, generated: dict, cfg: ServeAppConfig, background: bool):
    candidates = M.unpack_masks(generated["packed"])
    return candidates, M.crop_candidates(work, candidates, cfg.masks.dilation_px, background)


def _answer(work: np.ndarray, candidates: np.ndarray, logits, prompts: list[str], threshold: float,
            frame: tuple[int, int], cfg: ServeAppConfig, overlay: bool) -> dict:
    """The best `masks.max_returned` masks over the threshold, each in the upload's frame as RLE."""
    probs = M.softmax(np.asarray(logits, dtype=np.float64))
    matched = M.select_masks(probs, threshold)
    kept = matched[:cfg.masks.max_returned]
    results = []
    for k, p, score in kept:
        full = M.resize_mask(candidates[k], *frame)
        x0, y0, x1, y1 = (int(v) for v in M.mask_boxes(full[None])[0])
        results.append({
            "prompt": prompts[p], "score": round(score, 6), "area": int(full.sum()),
            "box": [x0, y0, x1 - x0, y1 - y0],  # COCO: x, y, width, height
            "probabilities": {text: round(float(v), 6) for text, v in zip(prompts, probs[k][:-1])},
            EMPTY_FIELD: round(float(probs[k][-1]), 6),
            "rle": M.encode_rle(full),
        })
    body = {"masks": results, "num_matched": len(matched), "truncated": len(matched) > len(kept)}
    if overlay:
        shown = [candidates[k] for k, _, _ in kept]
        labels = [f"{prompts[p]} {score:.2f}" for _, p, score in kept]
        body["overlay_png"] = base64.b64encode(M.render_overlay(work, shown, labels)).decode("ascii")
    return body


async def classify(image: Image.Image, labels: list[str], *, cfg: ServeAppConfig,
                   backends: Backends, model_id: str = "") -> dict:
    started = time.perf_counter()
    work = await asyncio.to_thread(lambda: np.asarray(M.shrink_to_long_side(image, cfg.sam.image_long_side)))
    logits = await backends.score(ScoreRequest([work], labels), model_id)
    probs = M.softmax(np.asarray(logits, dtype=np.float64))[0]
    ranked = sorted(zip(labels, probs), key=lambda item: -item[1])
    return {
        "labels": labels,
        "probabilities": {label: round(float(p), 6) for label, p in zip(labels, probs)},
        "best": ranked[0][0],
        "ranking": [{"label": label, "probability": round(float(p), 6)} for label, p in ranked],
        "timing": {"total_s": round(time.perf_counter() - started, 4)},
    }
