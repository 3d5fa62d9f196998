"""The serving pipeline's backends in this process, without Serve or HTTP: the same SAM mask
generator, mask filter and CLIP scorer the deployments hold, for offline evaluation."""

from __future__ import annotations

import hashlib
import time

import numpy as np

from ilid_ray.serve import masks as M
from ilid_ray.serve.config import ServeAppConfig
from ilid_ray.serve.scorer import ClipScorer, ScoreRequest


class LocalBackends:
    """`pipeline.Backends` over in-process models. The last image's SAM answer is kept, so asking
    one scene several prompt sets runs SAM once."""

    def __init__(self, cfg: ServeAppConfig):
        from ilid_ray.serve.sam import MaskGenerator

        self.cfg = cfg
        self.generator = MaskGenerator(cfg.sam, cfg.checkpoint_cache, cfg.storage)
        self.scorer = ClipScorer(cfg.clip, cfg.storage)
        self._last: tuple[str, dict] | None = None

    async def generate_masks(self, image: np.ndarray) -> dict:
        digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
        if self._last is None or self._last[0] != digest:
            started = time.perf_counter()
            masks, _ = self.generator(image)
            self._last = (digest, M.candidates_payload(masks, time.perf_counter() - started, self.cfg.masks))
        return self._last[1]

    async def score(self, request: ScoreRequest, model_id: str = "") -> np.ndarray:
        if model_id:
            raise ValueError("in-process evaluation scores with the configured CLIP only (no model_id)")
        return self.scorer.logits([request])[0]
