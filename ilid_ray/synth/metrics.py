"""Scoring segmentation answers against a scene's true masks, per prompt type.

For each scene and each prompt asked of it, the truth is the union of the instances whose field
(label_short or material) equals the prompt, and the answer is the union of the masks the
pipeline returned for that prompt. IoU is scored where the truth is non-empty (mIoU = their mean:
a perfect mask scores 1, no mask 0). A prompt counts as detected when at least one mask came
back for it at the threshold: precision = detected prompts that are in the scene / all detected,
recall = detected prompts that are in the scene / all prompts that are in the scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def mask_iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks; two empty masks agree perfectly (1.0)."""
    union = np.logical_or(prediction, truth).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(prediction, truth).sum() / union)


@dataclass(frozen=True)
class PromptOutcome:
    prompt: str
    present: bool  # the scene holds an instance with this value
    detected: bool  # the pipeline returned at least one mask for it
    iou: float | None  # None where the prompt is absent


def score_prompt(prompt: str, truth: np.ndarray, predicted: list[np.ndarray]) -> PromptOutcome:
    present = bool(truth.any())
    union = np.logical_or.reduce(predicted) if predicted else np.zeros_like(truth)
    return PromptOutcome(prompt, present, bool(predicted), mask_iou(union, truth) if present else None)


def summarise(outcomes: list[PromptOutcome]) -> dict[str, float | int | None]:
    """mIoU over present prompts, prompt precision and recall, and the counts behind them."""
    tp = sum(o.present and o.detected for o in outcomes)
    fp = sum(o.detected and not o.present for o in outcomes)
    fn = sum(o.present and not o.detected for o in outcomes)
    ious = [o.iou for o in outcomes if o.iou is not None]
    return {"miou": float(np.mean(ious)) if ious else None,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "tp": tp, "fp": fp, "fn": fn, "prompts": len(outcomes)}
