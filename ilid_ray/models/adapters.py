"""CLIP-Adapter: a small bottleneck MLP on frozen features, mixed back residually."""

from __future__ import annotations

import torch
from torch import nn


class Adapter(nn.Module):
    """Linear(d, d/r) -> ReLU -> Linear(d/r, d) -> ReLU, without biases (as in CLIP-Adapter)."""

    def __init__(self, dim: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, dim // reduction)
        self.fc = nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.ReLU(),
                                nn.Linear(hidden, dim, bias=False), nn.ReLU())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


def residual_mix(features: torch.Tensor, adapter: Adapter, ratio: float) -> torch.Tensor:
    """ratio * adapter(f) + (1 - ratio) * f: ratio 0 keeps CLIP's features untouched."""
    features = features.to(adapter.fc[0].weight.dtype)
    return ratio * adapter(features) + (1.0 - ratio) * features
