"""Building SAM (or MobileSAM) and its automatic mask generator from config, weights loaded safely.

segment-anything's and MobileSAM's own builders call `torch.load` without `weights_only`, which
unpickles arbitrary code; here the model is built empty and the state dict is read with
`weights_only=True`. A missing checkpoint is a startup error that names the path, never a
silently random model. The "tiny" type (image encoder 256 px, width 64, depth 2) exists so
tests and the offline demo can run the real generator in about two seconds per image.
Both backends feed the same `SamAutomaticMaskGenerator`: MobileSAM keeps SAM's prompt encoder and
mask decoder and only swaps the image encoder, so its masks come out in the same records.
"""

from __future__ import annotations

import hashlib
import warnings
from functools import partial
from pathlib import Path

import numpy as np

from ilid_ray.config import StorageConfig
from ilid_ray.serve.config import SamConfig


class CheckpointError(RuntimeError):
    """A model checkpoint is missing or unreadable; the message names it."""


def local_checkpoint_path(uri: str) -> Path | None:
    """Where a non-S3 checkpoint reference points on this machine (None for s3://)."""
    if uri.startswith("s3://"):
        return None
    return Path(uri.removeprefix("file://")).expanduser()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def fetch_checkpoint(uri: str, cache_dir: str, storage: StorageConfig | None = None) -> Path:
    """A local path as is (must exist), an s3:// object downloaded once into `cache_dir`."""
    from ilid_ray.storage import Store

    path = local_checkpoint_path(uri)
    if path is not None:
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        return path
    parent, _, name = uri.rstrip("/").rpartition("/")
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    local = Path(cache_dir).expanduser() / digest / name
    if local.is_file():
        return local
    local.parent.mkdir(parents=True, exist_ok=True)
    store = Store(parent, storage)
    if not store.exists(name):
        raise CheckpointError(f"checkpoint not found: {uri}")
    partial_path = local.with_name(local.name + ".part")
    store.download(name, partial_path)
    partial_path.replace(local)
    return local


def build_tiny_sam():
    """A SAM small enough for tests (a few MB, ~2 s per image on a CPU), same code paths."""
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    image_size, patch, prompt_dim = 256, 16, 32
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=image_size, patch_size=patch, embed_dim=64, depth=2, num_heads=2,
            mlp_ratio=2.0, out_chans=prompt_dim, qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True, window_size=4,
            global_attn_indexes=(1,)),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim, image_embedding_size=(image_size // patch, image_size // patch),
            input_image_size=(image_size, image_size), mask_in_chans=8),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=prompt_dim, mlp_dim=64, num_heads=2),
            transformer_dim=prompt_dim, iou_head_depth=2, iou_head_hidden_dim=32),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


def mobile_sam_modules():
    """The `mobile_sam` package (mobilesam-mirror). Its TinyViT copy re-registers timm's tiny_vit_*
    model names at import (and imports timm's deprecated paths); those warnings are expected."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Overwriting tiny_vit_", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"Importing from timm\.models", category=FutureWarning)
        import mobile_sam
        import mobile_sam.modeling
    return mobile_sam


def build_tiny_mobile_sam():
    """A MobileSAM small enough for tests (TinyViT of depth 1 a stage, a one-layer decoder).

    MobileSAM's TinyViT only runs at 1024 px with a last stage 320 wide (its code fixes the 64x64
    token grid and picks the last stage's stride by that width), and its neck gives 256 channels;
    the rest is as small as it goes."""
    modeling = mobile_sam_modules().modeling
    image_size, grid, prompt_dim = 1024, 64, 256
    return modeling.Sam(
        image_encoder=modeling.TinyViT(
            img_size=image_size, embed_dims=[8, 16, 16, 320], depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 4],
            window_sizes=[7, 7, 14, 7], mlp_ratio=2.0),
        prompt_encoder=modeling.PromptEncoder(
            embed_dim=prompt_dim, image_embedding_size=(grid, grid), input_image_size=(image_size, image_size),
            mask_in_chans=8),
        mask_decoder=modeling.MaskDecoder(
            num_multimask_outputs=3,
            transformer=modeling.TwoWayTransformer(depth=1, embedding_dim=prompt_dim, mlp_dim=64, num_heads=2),
            transformer_dim=prompt_dim, iou_head_depth=2, iou_head_hidden_dim=32),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


def empty_model(cfg: SamConfig):
    """The architecture `cfg` names (backend and model_type), randomly initialised."""
    import torch

    if cfg.model_type == "tiny":
        torch.manual_seed(0)  # the random demo model is the same on every replica
        return build_tiny_mobile_sam() if cfg.backend == "mobilesam" else build_tiny_sam()
    if cfg.backend == "mobilesam":
        return mobile_sam_modules().sam_model_registry[cfg.model_type](checkpoint=None)
    from segment_anything import sam_model_registry

    return sam_model_registry[cfg.model_type](checkpoint=None)


def build_sam(cfg: SamConfig, cache_dir: str = "~/.cache/ilid-ray/checkpoints",
              storage: StorageConfig | None = None):
    """The SAM (or MobileSAM) of `cfg` in eval mode on its device, weights from its checkpoint (or random)."""
    import torch

    model = empty_model(cfg)
    if cfg.checkpoint is not None:
        path = fetch_checkpoint(cfg.checkpoint, cache_dir, storage)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - re-raised naming the file
            raise CheckpointError(f"cannot read SAM checkpoint {path}: {exc}") from exc
        state = state.get("model", state) if isinstance(state, dict) else state
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"SAM checkpoint {path} does not fit model_type {cfg.model_type!r} "
                                  f"of backend {cfg.backend!r}: {exc}") from exc
    return model.eval().to(resolve_device(cfg.device))


class MaskGenerator:
    """SAM's automatic mask generator over an RGB uint8 array, returning stacked boolean masks;
    the model behind it is SAM or MobileSAM (`sam.backend`)."""

    def __init__(self, cfg: SamConfig, cache_dir: str = "~/.cache/ilid-ray/checkpoints",
                 storage: StorageConfig | None = None):
        import torch
        from segment_anything import SamAutomaticMaskGenerator

        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.cfg = cfg
        self.model = build_sam(cfg, cache_dir, storage)
        self.generator = SamAutomaticMaskGenerator(self.model, **cfg.generator_kwargs())

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(masks [K,H,W] bool, SAM's predicted IoU [K]) for an [H,W,3] uint8 image."""
        import torch

        with torch.inference_mode():
            records = self.generator.generate(image)
        height, width = image.shape[:2]
        if not records:
            return np.zeros((0, height, width), dtype=bool), np.zeros((0,), dtype=np.float32)
        masks = np.stack([r["segmentation"] for r in records]).astype(bool, copy=False)
        ious = np.asarray([r["predicted_iou"] for r in records], dtype=np.float32)
        return masks, ious
