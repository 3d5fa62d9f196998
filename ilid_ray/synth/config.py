"""Typed configuration of `ilid synth scenes` (configs/synth/*.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ilid_ray.config import RayConfig, StorageConfig, StrictModel, apply_overrides, read_yaml
from ilid_ray.serve.config import SamConfig

PROMPT_TYPES = ("label_short", "material")


class SynthConfig(StrictModel):
    root: str = "./ilid-data"  # dataset root whose version supplies the products
    version: str | None = None  # default: latest
    out: str = "./scenes"  # where the evaluation set goes (local or s3://)
    scenes: int = Field(50, ge=1)
    scene_size: int = Field(512, ge=32)
    min_objects: int = Field(1, ge=1)
    max_objects: int = Field(4, ge=1)
    scale: tuple[float, float] = (0.25, 0.5)  # object long side / scene side
    rotation_deg: float = Field(30.0, ge=0.0, le=180.0)
    max_occlusion: float = Field(0.5, ge=0.0, lt=1.0)  # at most this share of an object is covered
    brightness: float = Field(0.2, ge=0.0, lt=1.0)
    contrast: float = Field(0.2, ge=0.0, lt=1.0)
    saturation: float = Field(0.2, ge=0.0, lt=1.0)
    hue_deg: float = Field(10.0, ge=0.0, le=180.0)
    backgrounds: str | None = None  # folder of background photos (local or s3://); None: generated
    tolerance: float = Field(24.0, ge=0.0)  # colour distance (0-255, per channel) of the border background
    min_foreground: float = Field(0.02, ge=0.0)  # cut-outs smaller than this share of the image are rejects
    max_foreground: float = Field(0.9, le=1.0)  # larger: no known background, reject
    max_products: int | None = 500  # cut-outs kept for placing (first by id); bounds driver memory
    distractors: int = Field(1, ge=0)  # prompts per type per scene that name nothing in it (for precision)
    image_format: Literal["jpg", "png"] = "png"  # png keeps the pixels the masks describe exactly
    scenes_per_task: int = Field(8, ge=1)
    sam: SamConfig | None = None  # SAM with real weights refines each border mask
    seed: int = 0
    storage: StorageConfig = Field(default_factory=StorageConfig)
    ray: RayConfig = Field(default_factory=RayConfig)

    @model_validator(mode="after")
    def _ranges(self) -> SynthConfig:
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects ({self.min_objects}) > max_objects ({self.max_objects})")
        if not 0 < self.scale[0] <= self.scale[1] < 1:
            raise ValueError(f"scale {self.scale}: need 0 < low <= high < 1 (fraction of the scene side)")
        if self.min_foreground >= self.max_foreground:
            raise ValueError("min_foreground must be below max_foreground")
        return self


def load_synth_config(path: str | Path | None, overrides: list[str] = ()) -> SynthConfig:
    return SynthConfig.model_validate(apply_overrides(read_yaml(path) if path else {}, list(overrides)))
