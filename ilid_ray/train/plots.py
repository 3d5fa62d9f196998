"""The paper's figures: accuracy curves per variant (Fig. 7) and a t-SNE of image and text
embeddings (Fig. 8). Both return PNG bytes so they can be written to any Store."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import numpy as np

from ilid_ray.models.variants import DISPLAY_NAMES


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.subplots(*args, **kwargs)


def _png(fig, plt) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def mean_curves(rows: list[dict[str, Any]], split: str, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """variant -> (epochs, metric averaged over folds) for the trained variants of a metric table."""
    acc: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["split"] == split and row["variant"] != "zeroshot" and row.get(metric) is not None:
            acc[row["variant"]][int(row["epoch"])].append(float(row[metric]))
    return {variant: (sorted(by_epoch), [float(np.mean(by_epoch[e])) for e in sorted(by_epoch)])
            for variant, by_epoch in acc.items()}


def zero_shot_level(rows: list[dict[str, Any]], split: str, metric: str) -> float | None:
    values = [float(r[metric]) for r in rows
              if r["variant"] == "zeroshot" and r["split"] == split and r.get(metric) is not None]
    return float(np.mean(values)) if values else None


def accuracy_curves_png(rows: list[dict[str, Any]], title: str = "") -> bytes:
    """Top-1 and top-3 accuracy on the held-out folds per epoch and variant; zero-shot CLIP as a
    dashed line (and the training folds dotted, where they were scored)."""
    plt, (fig, axes) = _figure(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, metric in zip(axes, ("top1", "top3")):
        for i, (variant, (epochs, values)) in enumerate(sorted(mean_curves(rows, "val", metric).items())):
            colour = f"C{i}"
            ax.plot(epochs, values, color=colour, marker="o", markersize=3, label=DISPLAY_NAMES.get(variant, variant))
            train = mean_curves(rows, "train", metric).get(variant)
            if train:
                ax.plot(*train, color=colour, linestyle=":", marker="o", markersize=2, alpha=0.6)
        level = zero_shot_level(rows, "val", metric)
        if level is not None:
            ax.axhline(level, color="black", linestyle="--", label=f"zero-shot CLIP ({level:.2f})")
        ax.set_xlabel("epoch")
        ax.set_title(f"{metric} accuracy (held-out folds; dotted: training folds)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy among the batch's texts")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _png(fig, plt)


def tsne_png(image: np.ndarray, text: np.ndarray, labels: np.ndarray, title: str = "", seed: int = 0) -> bytes:
    """2-D t-SNE of paired image (o) and text (^) embeddings, a thin line joining each pair; colour by
    label for the ten most frequent labels, grey for the rest."""
    from sklearn.manifold import TSNE

    n = len(labels)
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 samples, got {n}")
    points = TSNE(n_components=2, perplexity=min(30.0, (2 * n - 1) / 3), init="pca", random_state=seed
                  ).fit_transform(np.concatenate([image, text]).astype(np.float32))
    img_xy, txt_xy = points[:n], points[n:]
    values, counts = np.unique(labels, return_counts=True)
    top = list(values[np.argsort(-counts)][:10])
    colours = [f"C{top.index(label)}" if label in top else "0.7" for label in labels]
    plt, (fig, ax) = _figure(figsize=(7, 6))
    for (x0, y0), (x1, y1), c in zip(img_xy, txt_xy, colours):
        ax.plot([x0, x1], [y0, y1], color=c, linewidth=0.4, alpha=0.5)
    ax.scatter(img_xy[:, 0], img_xy[:, 1], c=colours, marker="o", s=18)
    ax.scatter(txt_xy[:, 0], txt_xy[:, 1], c=colours, marker="^", s=28, edgecolors="black", linewidths=0.3)
    ax.scatter([], [], color="0.3", marker="o", s=18, label="image")
    ax.scatter([], [], color="0.3", marker="^", s=28, label="text")
    for label in top[:10]:
        ax.scatter([], [], color=f"C{top.index(label)}", label=str(label)[:30], s=12)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or f"t-SNE of {n} samples' image and text embeddings")
    ax.set_xticks([])
    ax.set_yticks([])
    return _png(fig, plt)
