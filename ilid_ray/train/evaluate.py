"""Batch-wise retrieval accuracy as in the paper, plus per-class reports and the metric files.

A test batch of 32 samples is scored like CLIP pre-training: each image picks among the batch's
texts. The candidates are the batch's *distinct* label texts: a label that occurs several times in
the batch is one candidate (its copies score the same), so top-k means "the label is among the k
best distinct labels" and top-3 can exceed top-1 whenever labels repeat. A pick is right when the
picked text is the sample's label text (the reference compared label ids the same way).
Evaluation batches are drawn at random, reproducibly: rows are ordered by a hash of (seed, key)
(`eval_order`), because shard order groups similar products. Per-class reports over a fixed class
set live in train/classes.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch


def eval_order(keys: Iterable[str], seed: int) -> np.ndarray:
    """A sort key per sample: sorting by it gives a seeded random order, the same in every process
    and for every model (so all variants are scored on the very same batches)."""
    return np.array([int.from_bytes(hashlib.blake2b(f"eval:{seed}:{k}".encode(), digest_size=8).digest(), "big")
                     >> 1 for k in keys], dtype=np.int64)


def distinct_texts(texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(distinct texts in first-seen order, the column of each one's first copy, per text its index)."""
    first: dict[str, int] = {}
    inverse = np.array([first.setdefault(t, len(first)) for t in texts], dtype=np.int64)
    columns = np.zeros(len(first), dtype=np.int64)
    for i in range(len(texts) - 1, -1, -1):
        columns[inverse[i]] = i
    return list(first), columns, inverse


def batch_hits(logits: torch.Tensor, texts: list[str], ks: list[int]) -> tuple[dict[int, np.ndarray], list[str]]:
    """Per image: whether its own text is among the k best *distinct* texts, for each k; and its
    top-1 text. `logits[i, j]` scores image i against the text of sample j (copies score alike)."""
    unique, columns, own = distinct_texts(list(texts))
    scores = logits.float()[:, torch.from_numpy(columns).to(logits.device)].cpu()
    order = torch.argsort(scores, dim=1, descending=True, stable=True).numpy()  # [n, m] distinct texts
    rank = np.argmax(order == own[:, None], axis=1)  # where each image's own text landed
    hits = {k: rank < k for k in ks}
    return hits, [unique[j] for j in order[:, 0]]


def macro_f1(y_true: list[str], y_pred: list[str]) -> float:
    """Macro F1 over the true labels and the predicted ones (a label only ever predicted counts 0)."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0)) if y_true else 0.0


@dataclass
class EvalAccumulator:
    ks: list[int]
    hits: dict[int, int] = field(default_factory=dict)
    n: int = 0
    y_true: list[str] = field(default_factory=list)
    y_pred: list[str] = field(default_factory=list)
    batches: int = 0

    def add(self, logits: torch.Tensor, texts: list[str]) -> None:
        hits, preds = batch_hits(logits, texts, self.ks)
        for k, h in hits.items():
            self.hits[k] = self.hits.get(k, 0) + int(h.sum())
        self.n += len(texts)
        self.y_true.extend(texts)
        self.y_pred.extend(preds)
        self.batches += 1

    def merge(self, other: EvalAccumulator) -> EvalAccumulator:
        for k in self.ks:
            self.hits[k] = self.hits.get(k, 0) + other.hits.get(k, 0)
        self.n += other.n
        self.y_true += other.y_true
        self.y_pred += other.y_pred
        self.batches += other.batches
        return self

    def metrics(self) -> dict[str, float]:
        if not self.n:
            return {"n": 0}
        out: dict[str, float] = {f"top{k}": self.hits.get(k, 0) / self.n for k in self.ks}
        out["f1"] = macro_f1(self.y_true, self.y_pred)
        out["n"] = self.n
        return out


def gather_accumulators(acc: EvalAccumulator) -> EvalAccumulator:
    """Every worker's accumulator merged (all workers get the result)."""
    import torch.distributed as dist

    from ilid_ray.train.loss import distributed

    if not distributed():
        return acc
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, acc)
    merged = EvalAccumulator(acc.ks)
    for part in parts:
        merged.merge(part)
    return merged


def gather_embeddings(embeddings: dict[str, np.ndarray], limit: int) -> dict[str, np.ndarray]:
    """The first `limit` collected samples over all workers (rank order)."""
    import torch.distributed as dist

    from ilid_ray.train.loss import distributed

    if not distributed():
        return embeddings
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, embeddings)
    return {k: np.concatenate([p[k] for p in parts if len(p["label"])] or [embeddings[k]])[:limit]
            for k in embeddings}


@torch.no_grad()
def score_batches(model, batches: Iterable[tuple[list[str], torch.Tensor | None, torch.Tensor | None]],
                  ks: list[int], collect: int = 0) -> tuple[EvalAccumulator, dict[str, Any]]:
    """Score (texts, images | None, raw image features | None) batches; also keep the first
    `collect` samples' image and text embeddings (for the t-SNE plot)."""
    acc = EvalAccumulator(list(ks))
    kept: dict[str, list] = {"image": [], "text": [], "label": []}
    for texts, images, raw in batches:
        image_feats = model.encode_images(images) if images is not None else model.adapt_image_features(raw)
        text_feats = model.encode_texts(list(texts))
        acc.add(model.logit_scale * image_feats @ text_feats.T, list(texts))
        room = collect - len(kept["label"])
        if room > 0:
            kept["image"].extend(image_feats[:room].cpu().numpy())
            kept["text"].extend(text_feats[:room].cpu().numpy())
            kept["label"].extend(list(texts)[:room])
    embeddings = {"image": np.array(kept["image"], dtype=np.float32),
                  "text": np.array(kept["text"], dtype=np.float32),
                  "label": np.array(kept["label"], dtype=str)}
    return acc, embeddings


def flat_metrics(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in metrics.items()}


# --------------------------------------------------------------------------- files
# class_f1: macro F1 over a fixed label set (eval.classes, train/classes.py), on a run's final held-out row
METRIC_COLUMNS = ("run", "variant", "fold", "epoch", "split", "top1", "top3", "f1", "class_f1", "n", "loss", "lr",
                  "seed")


def history_to_table(history: list[dict[str, Any]], run: str, fold: str) -> list[dict[str, Any]]:
    """Per-epoch metric dicts ({"epoch", "loss", "val/top1", "zeroshot/val/top1", ...}) -> long rows
    (one per epoch, split and model), the zero-shot baseline as variant "zeroshot" at epoch 0."""
    rows: list[dict[str, Any]] = []
    for entry in history:
        for name in entry:
            parts = name.split("/")
            if len(parts) == 2 and parts[1] == "top1":
                split = parts[0]
                rows.append(_row(entry, run, entry.get("variant", ""), fold, entry["epoch"], split, split))
            elif len(parts) == 3 and parts[0] == "zeroshot" and parts[2] == "top1":
                rows.append(_row(entry, run, "zeroshot", fold, 0, parts[1], f"zeroshot/{parts[1]}"))
    return rows


def _row(entry: dict, run: str, variant: str, fold: str, epoch: int, split: str, prefix: str) -> dict[str, Any]:
    trained = not prefix.startswith("zeroshot")
    return {"run": run, "variant": variant, "fold": fold, "epoch": epoch, "split": split,
            "top1": entry.get(f"{prefix}/top1"), "top3": entry.get(f"{prefix}/top3"),
            "f1": entry.get(f"{prefix}/f1"), "class_f1": entry.get(f"{prefix}/class_f1"), "n": entry.get(f"{prefix}/n"),
            "loss": entry.get("loss") if trained else None, "lr": entry.get("lr") if trained else None}


def write_metric_files(store, rows: list[dict[str, Any]], stem: str = "metrics",
                       extra: dict[str, Any] | None = None) -> list[str]:
    """`{stem}.json` (rows + extra) and `{stem}.csv` on a Store; returns their URIs."""
    store.put_bytes(json.dumps({"rows": rows, **(extra or {})}, indent=1, default=str).encode(), f"{stem}.json")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(METRIC_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    store.put_bytes(buf.getvalue().encode(), f"{stem}.csv")
    return [store.uri(f"{stem}.json"), store.uri(f"{stem}.csv")]
