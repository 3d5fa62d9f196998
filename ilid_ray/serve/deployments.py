"""The Serve application: SAM and the CLIP scorer as their own deployments (each can hold a GPU
and scale on its own), composed by a FastAPI ingress through deployment handles.

Replicas, autoscaling and back-pressure come from the Serve config file (`serve/*.yaml`,
`deployments:` block); the decorator values below are only fallbacks. Every deployment takes the
same `ServeAppConfig` (as a dict, so it travels as plain data) and reads its own part.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from ray import serve
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle

from ilid_ray.serve import masks as M
from ilid_ray.serve.config import ServeAppConfig
from ilid_ray.serve.scorer import ClipScorer, ScoreRequest, crops_in

SAM_NAME, SCORER_NAME, INGRESS_NAME = "SamSegmenter", "ClipScorer", "SegmentIngress"


@serve.deployment(name=SAM_NAME, max_ongoing_requests=2, max_queued_requests=32,
                  autoscaling_config={"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 1})
class SamSegmenter:
    """SAM's automatic mask generator (over SAM or MobileSAM, `sam.backend`), plus the mask filter
    (so only candidates travel back)."""

    def __init__(self, config: dict):
        from ilid_ray.serve.sam import MaskGenerator

        self.cfg = ServeAppConfig.model_validate(config)
        self.generator = MaskGenerator(self.cfg.sam, self.cfg.checkpoint_cache, self.cfg.storage)
        self._lock = asyncio.Lock()  # one image at a time per model; the rest wait as "ongoing"

    async def generate(self, image: np.ndarray) -> dict:
        async with self._lock:
            started = time.perf_counter()
            masks, _ = await asyncio.to_thread(self.generator, image)
            seconds = time.perf_counter() - started
        return M.candidates_payload(masks, seconds, self.cfg.masks)


@serve.deployment(name=SCORER_NAME, max_ongoing_requests=32, max_queued_requests=128,
                  autoscaling_config={"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8})
class ClipScorerDeployment:
    """The adapted CLIP; crops of concurrent requests share one forward pass (`@serve.batch`,
    batch size counted in crops so one big image cannot blow the batch)."""

    def __init__(self, config: dict):
        from ilid_ray.serve.adapters import AdapterRegistry, SharedBases
        from ilid_ray.serve.sam import resolve_device

        self.cfg = ServeAppConfig.model_validate(config)
        self.scorer = ClipScorer(self.cfg.clip, self.cfg.storage)
        self.score_batch.set_max_batch_size(self.cfg.clip.max_batch_size)
        self.score_batch.set_batch_wait_timeout_s(self.cfg.clip.batch_wait_timeout_s)
        self.registry = AdapterRegistry(self.cfg.clip.adapters, self.cfg.storage) if self.cfg.clip.adapters else None
        self.bases = SharedBases(resolve_device(self.cfg.clip.device))

        async def load_adapter(model_id: str) -> ClipScorer:
            checkpoint = self.registry.checkpoint(model_id)
            model = await asyncio.to_thread(self.bases.load_adapter, checkpoint, self.cfg.storage)
            return ClipScorer(self.cfg.clip, self.cfg.storage, model=model)

        # Serve's LRU of loaded adapters, bounded by the config (hence wired here, not as a decorator).
        self.adapter = serve.multiplexed(load_adapter,
                                         max_num_models_per_replica=self.cfg.clip.max_adapters_per_replica)

    def describe(self) -> dict:
        return self.scorer.describe()

    @serve.batch(max_batch_size=128, batch_wait_timeout_s=0.02, batch_size_fn=crops_in)
    async def score_batch(self, requests: list[ScoreRequest]) -> list[np.ndarray]:
        model_id = serve.get_multiplexed_model_id()  # Serve splits batches by model id
        scorer = await self.adapter(model_id) if model_id and self.registry else self.scorer
        return await asyncio.to_thread(scorer.logits, requests)

    async def score(self, request: ScoreRequest) -> np.ndarray:
        return await self.score_batch(request)


class HandleBackends:
    """`pipeline.Backends` over deployment handles; a saturated deployment becomes a 503."""

    def __init__(self, sam: DeploymentHandle, scorer: DeploymentHandle):
        self.sam, self.scorer = sam, scorer

    @staticmethod
    async def _call(response):
        from ilid_ray.serve.api import Overloaded

        try:
            return await response
        except (BackPressureError, DeploymentUnavailableError) as exc:
            raise Overloaded(f"the service is at capacity, retry later ({exc})") from None

    async def generate_masks(self, image: np.ndarray) -> dict:
        return await self._call(self.sam.generate.remote(image))

    async def score(self, request: ScoreRequest, model_id: str = "") -> np.ndarray:
        scorer = self.scorer.options(multiplexed_model_id=model_id) if model_id else self.scorer
        return await self._call(scorer.score.remote(request))


@serve.deployment(name=INGRESS_NAME, max_ongoing_requests=16, max_queued_requests=64,
                  autoscaling_config={"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8})
@serve.ingress()
class SegmentIngress:
    """HTTP in, JSON out; holds no model."""

    def __init__(self, sam: DeploymentHandle, scorer: DeploymentHandle, config: dict):
        self.cfg = ServeAppConfig.model_validate(config)
        self.backends = HandleBackends(sam, scorer)

    def __serve_build_asgi_app__(self):
        from ilid_ray.serve.api import create_api

        clip = self.cfg.clip
        info = {"sam": {"backend": self.cfg.sam.backend, "model_type": self.cfg.sam.model_type,
                        "checkpoint": self.cfg.sam.checkpoint,
                        "points_per_side": self.cfg.sam.points_per_side},
                "clip": {"checkpoint": clip.checkpoint, "model_name": clip.model_name,
                         "pretrained": clip.pretrained, "variant": clip.variant}}
        return create_api(self.cfg, self.backends, info)


def build_app(cfg: ServeAppConfig, deployment_options: dict[str, dict] | None = None):
    """The bound application; `deployment_options` (by deployment name) override the decorators,
    as a Serve config file's `deployments:` block does for `serve run`."""
    options = deployment_options or {}
    config = cfg.model_dump(mode="json")
    sam = SamSegmenter.options(**options.get(SAM_NAME, {})).bind(config)
    scorer = ClipScorerDeployment.options(**options.get(SCORER_NAME, {})).bind(config)
    return SegmentIngress.options(**options.get(INGRESS_NAME, {})).bind(sam, scorer, config)


def app_builder(args: dict[str, Any]):
    """`import_path` of the Serve config files: `args` is a `ServeAppConfig`."""
    return build_app(ServeAppConfig.model_validate(args or {}))
