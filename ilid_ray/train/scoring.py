"""Evaluation in one process, no cluster: `ilid eval run` and `ilid eval prompts`.

`evaluate_checkpoint` scores a trained checkpoint and the zero-shot CLIP of the same base on dataset
folds (batches of 32, read with the `webdataset` library from a local or S3 root).
`score_prompts` scores a folder of photos against a list of prompts, zero-shot vs a checkpoint, the
way the paper's Table 2 compares material prompts on real photos.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ilid_ray.models import AdaptedCLIP, load_clip
from ilid_ray.train.data import dataset_source, decode_image, iter_local_samples
from ilid_ray.train.evaluate import eval_order, score_batches

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def zero_shot_twin(model: AdaptedCLIP) -> AdaptedCLIP:
    """Zero-shot CLIP on the very same frozen base (no second copy of the weights)."""
    from ilid_ray.models.base import FrozenCLIP

    base = FrozenCLIP(clip=model.clip, tokenizer=model.tokenizer, preprocess_cfg=model.preprocess_cfg,
                      model_name=model.model_name, pretrained=model.pretrained, init_seed=model.init_seed)
    return AdaptedCLIP(base, model.variant.zero_shot()).eval()


def local_batches(rows: Iterator[dict[str, Any]], model: AdaptedCLIP, batch_size: int,
                  skipped: Counter) -> Iterator[tuple[list[str], torch.Tensor, None]]:
    """Rows -> (texts, eval-transformed images, None) batches; broken rows counted in `skipped`."""
    texts: list[str] = []
    pixels: list[torch.Tensor] = []
    for row in rows:
        if row["error"]:
            skipped[str(row["error"])[:40]] += 1
            continue
        try:
            pixels.append(model.preprocess(decode_image(row["image"])))
        except Exception as exc:  # noqa: BLE001 - the sample's reason
            skipped[f"undecodable image: {type(exc).__name__}"[:40]] += 1
            continue
        texts.append(str(row["text"]))
        if len(texts) == batch_size:
            yield texts, torch.stack(pixels).to(model.device), None
            texts, pixels = [], []
    if texts:
        yield texts, torch.stack(pixels).to(model.device), None


def evaluate_checkpoint(checkpoint: str | None, root: str, folds: list[int] | None, *,
                        label_field: str | None = None, max_words: int | None = None, batch_size: int = 32,
                        ks: tuple[int, ...] = (1, 3), model_name: str = "ViT-B-16", pretrained: str | None = "openai",
                        device: str = "cpu", storage=None, tsne_samples: int = 100, seed: int = 0) -> dict[str, Any]:
    """{"rows": metric rows (checkpoint + zero-shot), "skipped": reasons, "embeddings": for t-SNE}.
    Batches are drawn in the seeded random order training evaluates in (`evaluate.eval_order`)."""
    dataset_source(root, storage)  # no shards: say so before loading a model
    model = load_clip(checkpoint, model_name=model_name, pretrained=pretrained, device=device, storage=storage)
    extra = model.checkpoint_extra
    label_field = label_field or extra.get("label_field") or "label_short"
    max_words = max_words if max_words is not None else extra.get("max_words")
    models = {"zeroshot": zero_shot_twin(model)}
    if checkpoint is not None:
        models[model.variant.name] = model
    samples = list(iter_local_samples(root, folds, label_field, max_words, storage))
    order = np.argsort(eval_order([str(r["key"]) for r in samples], seed), kind="stable")
    samples = [samples[i] for i in order]
    rows, embeddings, skipped = [], {}, Counter()  # skipped: the same rows for every model
    for name, scored in models.items():
        skipped = Counter()
        acc, emb = score_batches(scored, local_batches(iter(samples), scored, batch_size, skipped), list(ks),
                                 tsne_samples)
        metrics = acc.metrics()
        rows.append({"run": str(checkpoint or "zero-shot"), "variant": name,
                     "fold": "+".join(map(str, folds)) if folds else "all", "epoch": extra.get("epoch", 0),
                     "split": "eval", **{k: metrics.get(k) for k in ("top1", "top3", "f1", "n")}})
        embeddings[name] = emb
    return {"rows": rows, "skipped": dict(skipped), "embeddings": embeddings, "label_field": label_field}


def list_images(folder: str | Path) -> list[Path]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


@torch.no_grad()
def prompt_probabilities(model: AdaptedCLIP, images: list[Path], prompts: list[str]) -> np.ndarray:
    """[images, prompts] softmax over the prompts of CLIP's scaled similarities."""
    pixels = torch.stack([model.preprocess(decode_image(p.read_bytes())) for p in images])
    return torch.softmax(model.logits(pixels, prompts), dim=1).cpu().numpy()


def score_prompts(folder: str | Path, prompts: list[str], checkpoint: str | None = None, *,
                  model_name: str = "ViT-B-16", pretrained: str | None = "openai", device: str = "cpu",
                  storage=None) -> dict[str, Any]:
    """Per image: the best prompt and its probability for zero-shot CLIP and (if given) the checkpoint."""
    if len(prompts) < 2:
        raise ValueError("give at least two prompts to choose between")
    images = list_images(folder)
    model = load_clip(checkpoint, model_name=model_name, pretrained=pretrained, device=device, storage=storage)
    columns = {"zero-shot": zero_shot_twin(model)}
    if checkpoint is not None:
        columns[model.variant.display_name] = model
    probs = {name: prompt_probabilities(m, images, prompts) for name, m in columns.items()}
    return {"images": [p.name for p in images], "prompts": prompts,
            "probabilities": {k: v.tolist() for k, v in probs.items()}}


def format_prompt_table(result: dict[str, Any], expected: dict[str, str] | None = None) -> str:
    """Image | per model: best prompt (probability) [+ whether it matches the expected prompt]."""
    models = list(result["probabilities"])
    width = max(12, *(len(p) for p in result["prompts"])) + 9
    header = f"{'image':<24}" + "".join(f"{m:<{width}}" for m in models)
    if expected:
        header += "expected"
    lines = [header, "-" * len(header)]
    right = Counter()
    for i, image in enumerate(result["images"]):
        cells = []
        for model in models:
            p = np.asarray(result["probabilities"][model][i])
            best = result["prompts"][int(p.argmax())]
            ok = expected is not None and expected.get(image) == best
            right[model] += int(ok)
            mark = (" ✓" if ok else " ✗") if expected and image in expected else ""
            cells.append(f"{best} ({p.max():.2f}){mark}")
        line = f"{image:<24}" + "".join(f"{c:<{width}}" for c in cells)
        lines.append(line + (expected.get(image, "") if expected else ""))
    if expected:
        total = sum(1 for image in result["images"] if image in expected)
        lines.append("right: " + ", ".join(f"{m} {right[m]}/{total}" for m in models))
    return "\n".join(lines)
