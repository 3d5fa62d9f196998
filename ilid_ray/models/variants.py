"""The five ways of using CLIP compared in the paper, as data.

| variant      | prompt learning (CoOp) | image adapter | text adapter |
|--------------|------------------------|---------------|--------------|
| zeroshot     | no (template)          | no            | no           |
| coop         | yes                    | no            | no           |
| clipadapter  | no (template)          | yes           | yes          |
| coopia       | yes                    | yes           | no           |
| coopiata     | yes                    | yes           | yes          |
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

VARIANTS = ("zeroshot", "coop", "clipadapter", "coopia", "coopiata")
DISPLAY_NAMES = {"zeroshot": "zero-shot CLIP", "coop": "CoOp", "clipadapter": "CLIP-Adapter",
                 "coopia": "CoOpIA", "coopiata": "CoOpIATA"}
_PARTS = {  # variant -> (prompt learner, image adapter, text adapter)
    "zeroshot": (False, False, False),
    "coop": (True, False, False),
    "clipadapter": (False, True, True),
    "coopia": (True, True, False),
    "coopiata": (True, True, True),
}

ZERO_SHOT_TEMPLATE = "a photo of an industrial product {}"
COOP_CTX_INIT = "X X X X a photo of an industrial product"


def canonical_variant(name: str) -> str:
    """'CoOpIATA', 'coop_iata', 'CLIP-Adapter' -> 'coopiata', 'clipadapter'."""
    key = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    key = {"zeroshotclip": "zeroshot", "clip": "zeroshot"}.get(key, key)
    if key not in _PARTS:
        raise ValueError(f"unknown variant {name!r}; choose one of {list(VARIANTS)}")
    return key


class VariantConfig(BaseModel):
    """Which trainable parts sit on the frozen CLIP, and how they start."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = "zeroshot"
    # zero-shot text prompt (zeroshot and clipadapter): `{}` is replaced by the label
    template: str = ZERO_SHOT_TEMPLATE
    # CuPL class texts for zeroshot and clipadapter (the CoOp variants learn their prompt and ignore
    # them): a label's text embedding is the renormalised mean of its descriptions' normalised
    # embeddings; labels without descriptions use the template. Given as the path of a file written by
    # `ilid prompts describe` (local or s3://) or "dataset" (the trained dataset version's file);
    # training replaces either with the {label: [descriptions]} it read, which checkpoints keep.
    descriptions: str | dict[str, list[str]] | None = None
    # CoOp: learnable context initialised from these words' embeddings; n_ctx None = as many
    # context vectors as ctx_init has tokens, larger = pad with "X" in front
    ctx_init: str = COOP_CTX_INIT
    n_ctx: int | None = None
    class_token_position: Literal["end", "middle", "front"] = "end"
    # CLIP-Adapter: mixed as ratio * adapter(f) + (1 - ratio) * f
    image_ratio: float = 0.5
    text_ratio: float = 0.2
    reduction: int = 4

    @field_validator("name")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical_variant(value)

    @field_validator("image_ratio", "text_ratio")
    @classmethod
    def _ratio(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("adapter ratios lie in [0, 1]")
        return value

    @model_validator(mode="after")
    def _prompt_parts(self) -> VariantConfig:
        if "{}" not in self.template:
            raise ValueError(f"template {self.template!r} needs a {{}} for the label")
        if self.uses_prompt_learner and not self.ctx_init.strip() and not self.n_ctx:
            raise ValueError("CoOp needs ctx_init words or n_ctx > 0")
        if isinstance(self.descriptions, str) and not self.descriptions.strip():
            raise ValueError('descriptions: a descriptions file, "dataset", or null')
        if isinstance(self.descriptions, dict):
            empty = [label for label, texts in self.descriptions.items() if not [t for t in texts if t.strip()]]
            if empty:
                raise ValueError(f"descriptions: labels {empty[:5]} have no description text")
        return self

    def zero_shot(self) -> VariantConfig:
        """The zero-shot baseline scoring this variant's labels: same template and descriptions."""
        return VariantConfig(name="zeroshot", template=self.template, descriptions=self.descriptions)

    @property
    def uses_prompt_learner(self) -> bool:
        return _PARTS[self.name][0]

    @property
    def uses_image_adapter(self) -> bool:
        return _PARTS[self.name][1]

    @property
    def uses_text_adapter(self) -> bool:
        return _PARTS[self.name][2]

    @property
    def trainable(self) -> bool:
        return any(_PARTS[self.name])

    @property
    def display_name(self) -> str:
        return DISPLAY_NAMES[self.name]
