"""Per-customer adapters on one CLIP replica (Ray Serve model multiplexing).

A registry is a folder or `s3://` prefix of training checkpoints named by id:
`<registry>/<id>/model.safetensors` (a run folder) or `<registry>/<id>.safetensors`. A request names
its adapter with Serve's `serve_multiplexed_model_id` header; the scorer replica loads it on first
use and keeps the most recently used few (LRU, `clip.max_adapters_per_replica`). An adapter is the
prompt context and adapters of one checkpoint (kilobytes) over a frozen base model that every
adapter of the same base shares, so twenty customers cost one CLIP, not twenty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ilid_ray.config import StorageConfig
from ilid_ray.serve.inputs import InputError
from ilid_ray.storage import Store

MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
WEIGHTS = "model.safetensors"


@dataclass
class AdapterRegistry:
    """Checkpoints by id under one root (local folder or s3:// prefix)."""

    root: str
    storage: StorageConfig | None = None
    store: Store = field(init=False)

    def __post_init__(self):
        self.store = Store(self.root, self.storage)

    def ids(self) -> list[str]:
        found = set()
        for rel in self.store.list():
            parts = rel.split("/")
            if len(parts) == 2 and parts[1] == WEIGHTS:
                found.add(parts[0])
            elif len(parts) == 1 and rel.endswith(".safetensors"):
                found.add(rel[: -len(".safetensors")])
        return sorted(i for i in found if MODEL_ID.fullmatch(i))

    def checkpoint(self, model_id: str) -> str:
        """The checkpoint reference of `model_id`; a 404 InputError when there is none."""
        if not MODEL_ID.fullmatch(model_id or ""):
            raise InputError(400, "invalid_model_id", f"model id {model_id!r}: use letters, digits, '.', '_' "
                             "or '-' (at most 64), as listed by /v1/models")
        for rel in (f"{model_id}/{WEIGHTS}", f"{model_id}.safetensors"):
            if self.store.exists(rel):
                return self.store.uri(rel)
        raise InputError(404, "unknown_model", f"no model {model_id!r} in the registry; see /v1/models")


class SharedBases:
    """Frozen base models of one replica, one per (model, weights, seed), shared by its adapters."""

    def __init__(self, device: str, cache_dir: str | None = None):
        self.device, self.cache_dir, self._bases = device, cache_dir, {}

    def load_adapter(self, checkpoint: str, storage: StorageConfig | None = None):
        """An AdaptedCLIP of `checkpoint` on the shared base it names (built once per replica)."""
        from ilid_ray.models import AdaptedCLIP, create_frozen_clip
        from ilid_ray.models.checkpoint import parse_checkpoint, read_checkpoint_bytes

        state, info = parse_checkpoint(read_checkpoint_bytes(checkpoint, storage))
        key = (info["model_name"], str(info["pretrained"]), info["init_seed"])
        if key not in self._bases:
            self._bases[key] = create_frozen_clip(info["model_name"], info["pretrained"], cache_dir=self.cache_dir,
                                                  init_seed=info["init_seed"], device=self.device)
        model = AdaptedCLIP(self._bases[key], info["variant"])
        model.load_trainable_state_dict(state)
        model.checkpoint_extra = info["extra"]
        return model.eval()
