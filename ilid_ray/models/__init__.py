"""CLIP adapted to ILID: the library (no Ray, no data loading). Stable interface:

    from ilid_ray.models import load_clip, AdaptedCLIP
    model = load_clip(checkpoint=None, *, model_name="ViT-B-16", pretrained="openai",
                      variant="zeroshot", device="cpu")
        # checkpoint (local file/folder or s3://, read through ilid_ray.storage.Store): base model
        #   name/tag/variant/config come from the checkpoint; the other arguments are ignored.
        # checkpoint None: `variant` (default zero-shot) on (model_name, pretrained), untrained.
        #   pretrained: an open_clip tag, a local weights file, or None (random init, tests only; warns).
        #   Offline, missing weights raise PretrainedWeightsMissing naming what to download and where.
    model.preprocess              # eval transform: PIL.Image -> tensor [3,H,W] (the model's own normalisation)
    model.encode_images(x)        # [N,3,H,W] -> [N,D] L2-normalised (image adapter applied if any)
    model.encode_texts(texts)     # list[str] -> [M,D] L2-normalised (learned prompt / zero-shot template
                                  #   + text adapter); each distinct text is encoded once
    model.logit_scale             # float: exp of CLIP's learned scale; logits = scale * img @ txt.T
    model.logits(x, texts)        # [N,M] scaled similarities (no grad)

Variants (`VariantConfig.name`): zeroshot, coop, clipadapter, coopia, coopiata (aliases like "CoOpIATA"
accepted). Training-side extras: `encode_raw_images` (frozen features, cacheable), `adapt_image_features`,
`train_transform(crop_scale, flip)`, `trainable_state_dict`, `save_trainable` / `write_checkpoint_to`.
The tiny test model `TINY_MODEL` ("ilid-tiny-clip") ships as a JSON config and is registered with
open_clip on import.
"""

from ilid_ray.models.adapted import AdaptedCLIP
from ilid_ray.models.base import (
                                  TINY_MODEL,
                                  PretrainedWeightsMissing,
                                  create_frozen_clip,
                                  preprocess_config,
                                  register_model_configs,
                                  resolve_pretrained,
)
from ilid_ray.models.checkpoint import (
                                  WEIGHTS_FILE,
                                  checkpoint_info,
                                  load_clip,
                                  save_trainable,
                                  write_checkpoint_to,
)
from ilid_ray.models.variants import (
                                  DISPLAY_NAMES,
                                  VARIANTS,
                                  VariantConfig,
                                  canonical_variant,
)

register_model_configs()

__all__ = [
    "AdaptedCLIP", "DISPLAY_NAMES", "PretrainedWeightsMissing", "TINY_MODEL", "VARIANTS", "VariantConfig",
    "WEIGHTS_FILE", "canonical_variant", "checkpoint_info", "create_frozen_clip", "load_clip",
    "preprocess_config", "register_model_configs", "resolve_pretrained", "save_trainable",
    "write_checkpoint_to",
]
