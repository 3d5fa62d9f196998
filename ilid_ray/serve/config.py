"""Typed configuration of the segmentation app: the models, the mask pipeline and the API limits.

It is the `args` block of a Serve config file (`serve/*.yaml`); Serve's own `deployments` block
next to it sets replicas, autoscaling and back-pressure, so this model holds only what the code
needs. Unknown keys are errors so a typo never silently falls back to a default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ilid_ray.config import StorageConfig, StrictModel

# Mask generator backends and the model sizes each has (the first is its default). Both run SAM's
# own automatic mask generator, so every setting below applies to either:
#   sam:       Meta's Segment Anything (the paper's; vit_h is its reference model)
#   mobilesam: MobileSAM, a 6M-parameter TinyViT image encoder distilled from vit_h in front of
#              SAM's prompt encoder and mask decoder (package mobilesam-mirror; checkpoint mobile_sam.pt)
# "tiny" is a small random model of that architecture for tests and the offline demo.
MASK_BACKENDS = {"sam": ("vit_h", "vit_l", "vit_b", "tiny"), "mobilesam": ("vit_t", "tiny")}


class SamConfig(StrictModel):
    """SAM automatic mask generator. Defaults are the paper's reference settings except
    points_per_side (160 there: 25,600 prompts per image, minutes even on a GPU)."""

    backend: Literal["sam", "mobilesam"] = "sam"  # which model feeds the generator (MASK_BACKENDS)
    model_type: Literal["vit_h", "vit_l", "vit_b", "vit_t", "tiny"] = "vit_h"  # default: the backend's first
    checkpoint: str | None = None  # local path or s3://; required unless random_init
    random_init: bool = False  # tests and the offline demo only: untrained weights
    device: str = "auto"  # auto = cuda if available
    image_long_side: int = Field(1024, ge=64)  # the image is shrunk to this before SAM (paper: 1024)
    points_per_side: int = Field(32, ge=1)
    points_per_batch: int = Field(64, ge=1)
    pred_iou_thresh: float = Field(0.90, ge=0.0, le=1.0)
    stability_score_thresh: float = Field(0.90, ge=0.0, le=1.0)
    stability_score_offset: float = 1.0
    box_nms_thresh: float = Field(0.6, ge=0.0, le=1.0)
    crop_n_layers: int = Field(0, ge=0)
    crop_nms_thresh: float = Field(0.7, ge=0.0, le=1.0)
    crop_overlap_ratio: float = Field(512 / 1500, ge=0.0, lt=1.0)
    crop_n_points_downscale_factor: int = Field(1, ge=1)
    min_mask_region_area: int = Field(700, ge=0)  # SAM's own hole/island clean-up (needs OpenCV)
    torch_threads: int | None = None  # CPU replicas: cap intra-op threads (None = torch default)

    @model_validator(mode="before")
    @classmethod
    def _backend_default_size(cls, data):
        if isinstance(data, dict) and "model_type" not in data and data.get("backend") in MASK_BACKENDS:
            data = {**data, "model_type": MASK_BACKENDS[data["backend"]][0]}
        return data

    @model_validator(mode="after")
    def _size_of_backend(self) -> SamConfig:
        sizes = MASK_BACKENDS[self.backend]
        if self.model_type not in sizes:
            raise ValueError(f"sam.model_type {self.model_type!r} is not a {self.backend} model; "
                             f"backend {self.backend} has {', '.join(sizes)}")
        return self

    @model_validator(mode="after")
    def _weights_named(self) -> SamConfig:
        if self.checkpoint is None and not self.random_init:
            raise ValueError("sam.checkpoint is required (a local path or s3:// URL); "
                             "random_init: true is for tests and the offline demo only")
        return self

    def generator_kwargs(self) -> dict:
        """Keyword arguments of `SamAutomaticMaskGenerator`."""
        return self.model_dump(include={
            "points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh",
            "stability_score_offset", "box_nms_thresh", "crop_n_layers", "crop_nms_thresh",
            "crop_overlap_ratio", "crop_n_points_downscale_factor", "min_mask_region_area"})


class ClipConfig(StrictModel):
    """The scorer's CLIP, as `ilid_ray.models.load_clip` takes it."""

    checkpoint: str | None = None  # a training checkpoint (local or s3://); sets model/variant
    model_name: str = "ViT-B-16"
    pretrained: str | None = "openai"  # None = random init (tests and the offline demo only)
    variant: str = "zeroshot"
    device: str = "auto"
    torch_threads: int | None = None
    max_batch_size: int = Field(128, ge=1)  # crops per forward, summed over batched requests
    batch_wait_timeout_s: float = Field(0.02, ge=0.0)
    text_cache_size: int = Field(1024, ge=0)  # prompt embeddings kept between requests
    adapters: str | None = None  # registry of per-customer checkpoints by id (folder or s3://), see adapters.py
    max_adapters_per_replica: int = Field(8, ge=1)  # LRU bound of loaded adapters per scorer replica


class MaskConfig(StrictModel):
    """From SAM's masks to scored crops (paper: area > 700, box not the whole image, 5 px)."""

    min_area: int = Field(700, ge=0)  # masks with area <= this are dropped
    max_box_fraction: float = Field(0.95, gt=0.0, le=1.0)  # box this close to the image: background
    dilation_px: int = Field(5, ge=0)
    with_background: bool = True  # False: pixels outside the (dilated) mask are filled grey
    max_candidates: int = Field(128, ge=1)  # largest masks scored per image; bounds the batch
    max_returned: int = Field(16, ge=1)  # best matching masks per response (each is full-resolution RLE)
    default_threshold: float = Field(0.90, ge=0.0, le=1.0)


class LimitsConfig(StrictModel):
    """What a request may carry; anything beyond is a 4xx, never work for a replica."""

    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(40_000_000, ge=64 * 64)
    max_decode_bytes: int = Field(512 << 20, ge=1 << 20)  # memory one upload's decode may need (else 413)
    min_side: int = Field(8, ge=1)
    max_prompts: int = Field(8, ge=1)
    max_labels: int = Field(64, ge=1)
    max_prompt_chars: int = Field(200, ge=1)


class ServeAppConfig(StrictModel):
    """The whole app: one of these is the `args` of the Serve application."""

    sam: SamConfig = Field(default_factory=SamConfig)
    clip: ClipConfig = Field(default_factory=ClipConfig)
    masks: MaskConfig = Field(default_factory=MaskConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    api_key_env: str = "ILID_API_KEY"  # if this env var is set on the ingress, requests need the key
    retry_after_s: int = Field(2, ge=0)  # hint sent with 503s when a model deployment is saturated
    checkpoint_cache: str = "~/.cache/ilid-ray/checkpoints"  # where s3:// checkpoints are fetched
    title: str = "ilid-ray language-guided segmentation"

    @model_validator(mode="after")
    def _one_image_fits_a_batch(self) -> ServeAppConfig:
        if self.clip.max_batch_size < self.masks.max_candidates:
            raise ValueError(f"clip.max_batch_size ({self.clip.max_batch_size}) must be >= "
                             f"masks.max_candidates ({self.masks.max_candidates}): one image's crops "
                             "always go through the scorer in one batch")
        return self
