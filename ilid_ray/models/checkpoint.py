"""Saving and loading an adapted CLIP: only the trainable tensors, with the base model's identity.

One `model.safetensors` file holds the trainable tensors (safetensors: loading runs no code) and, in
its header metadata, the open_clip model name, the pretrained tag or file, the random-init seed and
the variant config; whatever the caller adds (label field, epoch, ...) goes under "extra". A
checkpoint is that file, or a folder holding it (a Ray Train checkpoint), locally or on S3.
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path
from typing import Any

import torch

from ilid_ray.models.adapted import AdaptedCLIP
from ilid_ray.models.base import DEFAULT_INIT_SEED, create_frozen_clip
from ilid_ray.models.variants import VariantConfig

WEIGHTS_FILE = "model.safetensors"
FORMAT = "ilid-adapted-clip/1"


def save_trainable(model: AdaptedCLIP, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the trainable tensors + identity to `path` (a `.safetensors` file or a folder)."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        path.mkdir(parents=True, exist_ok=True)
        path = path / WEIGHTS_FILE
    metadata = {
        "format": FORMAT,
        "model_name": model.model_name,
        "pretrained": json.dumps(model.pretrained),
        "init_seed": str(model.init_seed),
        "variant": model.variant.model_dump_json(),
        "extra": json.dumps(extra or {}),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(model.trainable_state_dict(), str(tmp), metadata=metadata)
    tmp.replace(path)
    return path


def _split_location(checkpoint: str) -> tuple[str, str]:
    """(folder, file name) of the weights file a checkpoint reference points at."""
    ref = checkpoint.rstrip("/")
    if ref.endswith(".safetensors"):
        folder, _, name = ref.rpartition("/")
        return folder or ".", name
    return ref, WEIGHTS_FILE


def read_checkpoint_bytes(checkpoint: str | Path, storage=None) -> bytes:
    """The weights file's bytes from a local path or an s3:// URL (through `ilid_ray.storage.Store`)."""
    from ilid_ray.storage import Store

    folder, name = _split_location(str(checkpoint))
    try:
        return Store(folder, storage).get_bytes(name)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no adapted-CLIP checkpoint at {checkpoint} (expected {name} there)") from exc


def parse_checkpoint(data: bytes) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(trainable tensors, metadata) of a weights file's bytes; refuses files of another format."""
    from safetensors.torch import load

    if len(data) < 8:
        raise ValueError("not a safetensors file (too short)")
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"not an ilid adapted-CLIP checkpoint (format {meta.get('format')!r}, want {FORMAT!r})")
    info = {
        "model_name": meta["model_name"],
        "pretrained": json.loads(meta["pretrained"]),
        "init_seed": int(meta.get("init_seed", DEFAULT_INIT_SEED)),
        "variant": VariantConfig.model_validate_json(meta["variant"]),
        "extra": json.loads(meta.get("extra", "{}")),
    }
    return load(data), info


def load_clip(checkpoint: str | Path | None = None, *, model_name: str = "ViT-B-16",
              pretrained: str | None = "openai", variant: str | VariantConfig = "zeroshot",
              device: str | torch.device = "cpu", cache_dir: str | None = None, storage=None) -> AdaptedCLIP:
    """A ready-to-use adapted CLIP in eval mode.

    checkpoint given: the base model, its weights and the variant come from the checkpoint (local
    path, folder or s3://); `model_name`/`pretrained`/`variant` are ignored. checkpoint None: the
    variant (default zero-shot) of (model_name, pretrained), untrained.
    """
    if checkpoint is not None:
        state, info = parse_checkpoint(read_checkpoint_bytes(checkpoint, storage))
        base = create_frozen_clip(info["model_name"], info["pretrained"], cache_dir=cache_dir,
                                  init_seed=info["init_seed"], device=device)
        model = AdaptedCLIP(base, info["variant"])
        model.load_trainable_state_dict(state)
        model.checkpoint_extra = info["extra"]
        return model.eval()
    variant_cfg = variant if isinstance(variant, VariantConfig) else VariantConfig(name=variant)
    base = create_frozen_clip(model_name, pretrained, cache_dir=cache_dir, device=device)
    return AdaptedCLIP(base, variant_cfg).eval()


def checkpoint_info(checkpoint: str | Path, storage=None) -> dict[str, Any]:
    """The metadata of a checkpoint without building the model."""
    _, info = parse_checkpoint(read_checkpoint_bytes(checkpoint, storage))
    return info


def write_checkpoint_to(model: AdaptedCLIP, dest: str, extra: dict[str, Any] | None = None, storage=None) -> str:
    """Save to a local path or s3:// folder/file (atomic via the Store); returns where it went."""
    from ilid_ray.storage import Store

    folder, name = _split_location(dest)
    with tempfile.TemporaryDirectory() as tmp:
        local = save_trainable(model, Path(tmp) / name, extra)
        store = Store(folder, storage)
        store.put_file(local, name)
    return store.uri(name)
