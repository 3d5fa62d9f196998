"""The frozen open_clip model every variant builds on: name + pretrained weights -> model, tokenizer,
preprocessing.

Offline-first on purpose: a training worker or a serving replica must never hang for a minute in
hub retries to learn that weights are absent. Known tags are looked up in the local caches
(open_clip's URL cache and the HF hub cache) before any download is tried; with `HF_HUB_OFFLINE=1`
or `ILID_OFFLINE=1` nothing is downloaded, and a missing file is a `PretrainedWeightsMissing` that
says what to fetch and where to put it.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "configs"
TINY_MODEL = "ilid-tiny-clip"  # shipped JSON config for tests and CPU demos (random weights)
DEFAULT_INIT_SEED = 0
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")
_registered = False


class PretrainedWeightsMissing(FileNotFoundError):
    """The pretrained CLIP weights asked for are not on this machine (and could not be fetched)."""


def register_model_configs() -> None:
    """Make the JSON configs shipped in `ilid_ray/models/configs` known to open_clip by name."""
    global _registered
    if not _registered:
        import open_clip

        open_clip.add_model_config(CONFIG_DIR)
        _registered = True


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "ILID_OFFLINE"))


def _split_schema(model_name: str) -> tuple[str | None, str]:
    for schema in ("hf-hub:", "local-dir:"):
        if model_name.startswith(schema):
            return schema[:-1], model_name[len(schema):]
    return None, model_name


def _cached_tag_file(tag_cfg: dict, cache_dir: str | None) -> str | None:
    """A pretrained tag's weights file if it already sits in the HF hub cache or open_clip's URL cache."""
    hf_hub = tag_cfg.get("hf_hub") or ""
    if hf_hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hf_hub)
        filename = filename or "open_clip_pytorch_model.bin"
        stem = filename.rsplit(".", 1)[0]
        for candidate in (f"{stem}.safetensors", "open_clip_model.safetensors", filename):
            hit = try_to_load_from_cache(repo_id, candidate, cache_dir=cache_dir)
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit
    url = tag_cfg.get("url") or ""
    if url:
        target = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if target.is_file():
            return str(target)
    return None


def _missing_message(model_name: str, tag: str, tag_cfg: dict, cache_dir: str | None) -> str:
    lines = [f"pretrained weights for open_clip model {model_name!r} with tag {tag!r} are not on this machine."]
    hf_hub = tag_cfg.get("hf_hub") or ""
    if hf_hub:
        repo_id, filename = os.path.split(hf_hub)
        from huggingface_hub.constants import HF_HUB_CACHE

        lines.append(f"  - either download {filename or 'open_clip_pytorch_model.bin'} of the HF hub repo {repo_id} "
                     f"into the HF cache ({cache_dir or HF_HUB_CACHE}), e.g. "
                     f"`huggingface-cli download {repo_id}` on a machine with internet, then copy the cache;")
    if tag_cfg.get("url"):
        target = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(tag_cfg["url"])
        lines.append(f"  - or download {tag_cfg['url']} to {target};")
    lines.append("  - or pass the weights file itself as pretrained=/path/to/weights(.bin|.pt|.safetensors).")
    return "\n".join(lines)


def resolve_pretrained(model_name: str, pretrained: str | None,
                       cache_dir: str | None = None) -> tuple[str | None, dict[str, Any]]:
    """(local weights file or None, the tag's settings) for `pretrained` = None, a file or a known tag.

    Raises `PretrainedWeightsMissing` naming what to download and where, without hub retries when
    offline. Schema model names (`hf-hub:`, `local-dir:`) carry their own weights: (None, {}).
    """
    register_model_configs()
    schema, _ = _split_schema(model_name)
    if pretrained is None or schema is not None:
        return None, {}
    if os.path.isfile(os.path.expanduser(pretrained)):
        return os.path.expanduser(pretrained), {}
    import open_clip
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    tag_cfg = get_pretrained_cfg(model_name, pretrained)
    if not tag_cfg:
        known = open_clip.list_pretrained_tags_by_model(model_name)
        raise PretrainedWeightsMissing(
            f"pretrained={pretrained!r} is neither a file nor a known tag of {model_name!r} "
            f"(known tags: {known or 'none'}).")
    path = _cached_tag_file(tag_cfg, cache_dir)
    if path:
        return path, tag_cfg
    if _offline():
        raise PretrainedWeightsMissing(_missing_message(model_name, pretrained, tag_cfg, cache_dir))
    try:
        return download_pretrained(tag_cfg, cache_dir=cache_dir), tag_cfg
    except Exception as exc:  # noqa: BLE001 - any fetch failure means the same thing to the caller
        raise PretrainedWeightsMissing(_missing_message(model_name, pretrained, tag_cfg, cache_dir)) from exc


def preprocess_config(model_name: str, pretrained: str | None, cache_dir: str | None = None) -> dict[str, Any]:
    """The model's own input size and normalisation without building it (for data workers)."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    register_model_configs()
    schema, ident = _split_schema(model_name)
    if schema == "local-dir":
        data = json.loads((Path(ident) / "open_clip_config.json").read_text())
        cfg = merge_preprocess_dict(PreprocessCfg(), data.get("preprocess_cfg", {}))
        cfg["size"] = data["model_cfg"]["vision_cfg"].get("image_size", cfg["size"])
        return cfg
    if schema == "hf-hub":
        from open_clip.factory import _get_hf_config

        data = _get_hf_config(ident, cache_dir=cache_dir)
        cfg = merge_preprocess_dict(PreprocessCfg(), data.get("preprocess_cfg", {}))
        cfg["size"] = data["model_cfg"]["vision_cfg"].get("image_size", cfg["size"])
        return cfg
    model_cfg = open_clip.get_model_config(model_name)
    if model_cfg is None:
        raise ValueError(f"unknown open_clip model {model_name!r} (see open_clip.list_models())")
    tag_cfg = get_pretrained_cfg(model_name, pretrained) if pretrained else {}
    cfg = merge_preprocess_dict(PreprocessCfg(), tag_cfg or {})
    cfg["size"] = model_cfg["vision_cfg"].get("image_size", cfg["size"])
    return cfg


def _is_torchscript(path: str) -> bool:
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in zf.namelist())


def _load_torchscript_weights(clip: nn.Module, path: str) -> None:
    """OpenAI's original `.pt` files are TorchScript archives, which `torch.load(weights_only=True)`
    refuses; read only their tensors through `torch.jit.load` (no pickled Python runs)."""
    from open_clip.factory import resize_pos_embed

    state = torch.jit.load(path, map_location="cpu").state_dict()
    for key in ("input_resolution", "context_length", "vocab_size"):
        state.pop(key, None)
    resize_pos_embed(state, clip)
    expected = clip.state_dict().keys()  # traced archives also carry non-persistent buffers
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(f"{path}: TorchScript weights lack {missing[:5]} (not a CLIP of this architecture?)")
    clip.load_state_dict({k: state[k] for k in expected}, strict=True)


@dataclass
class FrozenCLIP:
    """An open_clip model with every parameter frozen, plus what is needed to feed it."""

    clip: nn.Module
    tokenizer: Callable
    preprocess_cfg: dict[str, Any]
    model_name: str
    pretrained: str | None
    init_seed: int


def create_frozen_clip(model_name: str = "ViT-B-16", pretrained: str | None = "openai", *,
                       cache_dir: str | None = None, init_seed: int = DEFAULT_INIT_SEED,
                       device: str | torch.device = "cpu") -> FrozenCLIP:
    """Build the base model. `pretrained=None` gives random weights from `init_seed` (tests only):
    the same seed gives the same weights in every process, so a checkpoint on a random base reloads
    to identical logits."""
    import open_clip

    register_model_configs()
    weights, tag_cfg = resolve_pretrained(model_name, pretrained, cache_dir)
    kwargs: dict[str, Any] = {"force_quick_gelu": bool(tag_cfg.get("quick_gelu", False))}
    if tag_cfg:
        kwargs["force_preprocess_cfg"] = {k: tag_cfg[k] for k in _PREPROCESS_KEYS if k in tag_cfg}
    schema, _ = _split_schema(model_name)
    if pretrained is None and schema is None:
        warnings.warn(f"building {model_name!r} with RANDOM weights (pretrained=None, seed {init_seed}): "
                      "fine for tests, useless for real predictions", stacklevel=2)
    scripted = weights is not None and _is_torchscript(weights)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            clip = open_clip.create_model(model_name, pretrained=None if scripted else weights,
                                          cache_dir=cache_dir, **kwargs)
        if scripted:
            _load_torchscript_weights(clip, weights)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        if schema is not None:
            raise PretrainedWeightsMissing(
                f"could not load {model_name!r} (config and weights come from that source; offline it "
                f"must be in the HF cache or the folder): {exc}") from exc
        raise
    clip.eval().requires_grad_(False).to(device)
    return FrozenCLIP(clip=clip, tokenizer=open_clip.get_tokenizer(model_name, cache_dir=cache_dir),
                      preprocess_cfg=open_clip.get_model_preprocess_cfg(clip), model_name=model_name,
                      pretrained=pretrained, init_seed=init_seed)


def eval_transform(preprocess_cfg: dict[str, Any]) -> Callable:
    """PIL image -> normalised tensor, exactly as the model was trained to see images."""
    from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict

    return image_transform_v2(PreprocessCfg(**merge_preprocess_dict(PreprocessCfg(), preprocess_cfg)),
                              is_train=False)


def train_transform(preprocess_cfg: dict[str, Any], crop_scale: tuple[float, float] = (0.08, 1.0),
                    flip: bool = True) -> Callable:
    """The paper's augmentation: random resized crop + horizontal flip, then the model's own
    normalisation (open_clip's train transform has no flip, hence our own)."""
    from torchvision import transforms as T

    size = preprocess_cfg.get("size", 224)
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    interp = (T.InterpolationMode.BILINEAR if preprocess_cfg.get("interpolation") == "bilinear"
              else T.InterpolationMode.BICUBIC)
    steps: list = [T.RandomResizedCrop(size, scale=tuple(crop_scale), interpolation=interp)]
    if flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.Lambda(lambda im: im.convert("RGB")), T.ToTensor(),
              T.Normalize(mean=preprocess_cfg["mean"], std=preprocess_cfg["std"])]
    return T.Compose(steps)
