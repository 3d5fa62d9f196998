"""`AdaptedCLIP`: a frozen open_clip model plus the trainable parts of one variant.

Only the prompt context and the adapters are parameters that train; the CLIP towers stay frozen
and in eval mode. Image features are split into `encode_raw_images` (frozen encoder, cacheable) and
`adapt_image_features` (the trainable part), so training can run from a feature cache.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ilid_ray.models.adapters import Adapter, residual_mix
from ilid_ray.models.base import FrozenCLIP, eval_transform, train_transform
from ilid_ray.models.prompt import PromptLearner, encode_token_embeddings, text_encoder_supports_prompts
from ilid_ray.models.variants import VariantConfig

_FROZEN_TEXT_CACHE_MAX = 100_000


def unique_inverse(texts: list[str]) -> tuple[list[str], torch.Tensor]:
    """Unique texts in first-seen order and, per input, the index of its unique text."""
    first: dict[str, int] = {}
    inverse = [first.setdefault(t, len(first)) for t in texts]
    return list(first), torch.tensor(inverse, dtype=torch.long)


class AdaptedCLIP(nn.Module):
    """See the API note in `ilid_ray.models`."""

    def __init__(self, base: FrozenCLIP, variant: VariantConfig):
        super().__init__()
        if isinstance(variant.descriptions, str):
            raise ValueError(f"descriptions={variant.descriptions!r} names a file: read it into the variant first "
                             "(ilid_ray.prompts.files.with_descriptions; training does this)")
        self.clip = base.clip.eval().requires_grad_(False)
        self.tokenizer = base.tokenizer
        self.variant = variant
        self.model_name, self.pretrained, self.init_seed = base.model_name, base.pretrained, base.init_seed
        self.preprocess_cfg = dict(base.preprocess_cfg)
        self.preprocess: Callable = eval_transform(self.preprocess_cfg)
        self._frozen_text_cache: dict[str, torch.Tensor] = {}
        self.checkpoint_extra: dict = {}  # what the checkpoint recorded (label field, epoch, ...)
        self.prompt: PromptLearner | None = None
        if variant.uses_prompt_learner:
            if not text_encoder_supports_prompts(self.clip, self.tokenizer):
                raise ValueError(f"{variant.display_name} needs an open_clip model with the built-in CLIP text "
                                 f"transformer and BPE tokenizer; {base.model_name!r} has neither")
            self.prompt = PromptLearner(self.clip.token_embedding, self.tokenizer,
                                        self.clip.positional_embedding.shape[0], ctx_init=variant.ctx_init,
                                        n_ctx=variant.n_ctx, position=variant.class_token_position)
        with torch.no_grad():
            dim = self.clip.encode_text(self.tokenizer(["x"]).to(self.device)).shape[-1]
        self.embed_dim = dim
        self.image_adapter = Adapter(dim, variant.reduction) if variant.uses_image_adapter else None
        self.text_adapter = Adapter(dim, variant.reduction) if variant.uses_text_adapter else None
        self.to(self.device)

    # ------------------------------------------------------------------ bookkeeping
    @property
    def device(self) -> torch.device:
        return next(self.clip.parameters()).device

    @property
    def logit_scale(self) -> float:
        return float(self.clip.logit_scale.exp().item())

    def train(self, mode: bool = True) -> AdaptedCLIP:
        super().train(mode)
        self.clip.eval()  # the frozen towers never switch to training behaviour (dropout etc.)
        return self

    def _apply(self, fn, recurse: bool = True):
        self._frozen_text_cache = {}
        return super()._apply(fn, recurse)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only what training changes: prompt context and adapters (the base comes from its tag)."""
        names = {name for name, p in self.named_parameters() if p.requires_grad}
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if k in names}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = set(self.trainable_state_dict())
        if set(state) != expected:
            raise ValueError(f"trainable parameters do not match variant {self.variant.name!r}: "
                             f"missing {sorted(expected - set(state))}, unexpected {sorted(set(state) - expected)}")
        self.load_state_dict(state, strict=False)

    def train_transform(self, crop_scale: tuple[float, float] = (0.08, 1.0), flip: bool = True) -> Callable:
        return train_transform(self.preprocess_cfg, crop_scale, flip)

    # ------------------------------------------------------------------ images
    @torch.no_grad()
    def encode_raw_images(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen image encoder output [N, D], unnormalised: what the feature cache stores."""
        return self.clip.encode_image(images.to(self.device)).float()

    def adapt_image_features(self, raw: torch.Tensor) -> torch.Tensor:
        """Image adapter (if any) on frozen features, then L2 normalisation."""
        raw = raw.to(self.device).float()
        if self.image_adapter is not None:
            raw = residual_mix(raw, self.image_adapter, self.variant.image_ratio)
        return F.normalize(raw, dim=-1)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] -> [N, D], L2-normalised, image adapter applied."""
        return self.adapt_image_features(self.encode_raw_images(images))

    # ------------------------------------------------------------------ texts
    def _frozen_template_features(self, texts: list[str]) -> torch.Tensor:
        """Zero-shot class texts through the frozen encoder; cached per label since nothing here trains.

        A label with descriptions (CuPL) is the renormalised mean of its descriptions' normalised
        embeddings; any other label is its template. Only the direction matters downstream: the
        text adapter is positively homogeneous (bias-free Linear/ReLU) and its output is normalised.
        """
        missing = [t for t in texts if t not in self._frozen_text_cache]
        if missing:
            if len(self._frozen_text_cache) + len(missing) > _FROZEN_TEXT_CACHE_MAX:
                self._frozen_text_cache = {}
            described = self.variant.descriptions or {}
            groups = [described.get(t) or [self.variant.template.format(t)] for t in missing]
            with torch.no_grad():
                flat = self.clip.encode_text(self.tokenizer([p for g in groups for p in g]).to(self.device)).float()
            start = 0
            for label, group in zip(missing, groups):
                feats = flat[start:start + len(group)]
                start += len(group)
                self._frozen_text_cache[label] = (feats[0] if label not in described
                                                  else F.normalize(F.normalize(feats, dim=-1).mean(dim=0), dim=-1))
        return torch.stack([self._frozen_text_cache[t] for t in texts])

    def _prompted_features(self, texts: list[str]) -> torch.Tensor:
        ids, ctx_pos, eot = self.prompt.layout(texts, self.device)
        x = self.prompt(self.clip.token_embedding, ids, ctx_pos)
        return encode_token_embeddings(self.clip, x, eot).float()

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """list[str] -> [M, D], L2-normalised; each distinct text goes through the encoder once."""
        if not texts:
            raise ValueError("encode_texts needs at least one text")
        unique, inverse = unique_inverse(list(texts))
        feats = self._prompted_features(unique) if self.prompt is not None else self._frozen_template_features(unique)
        if self.text_adapter is not None:
            feats = residual_mix(feats, self.text_adapter, self.variant.text_ratio)
        return F.normalize(feats, dim=-1)[inverse.to(feats.device)]

    # ------------------------------------------------------------------ both
    def forward(self, texts: list[str], images: torch.Tensor | None = None,
                raw_image_features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(image features [N, D], text features [M, D]), both normalised; images or cached raw features."""
        if (images is None) == (raw_image_features is None):
            raise ValueError("give exactly one of images or raw_image_features")
        image_feats = (self.encode_images(images) if images is not None
                       else self.adapt_image_features(raw_image_features))
        return image_feats, self.encode_texts(texts)

    @torch.no_grad()
    def logits(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Scaled cosine similarities [N, M] (image i vs text j), as CLIP scores them."""
        return self.logit_scale * self.encode_images(images) @ self.encode_texts(texts).T
