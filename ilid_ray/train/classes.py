"""Classification on a fixed label set (a factory's defect classes, say): every image is scored
against every class text, not against the texts of its batch, and the answer is the best class.

Reports per-class precision, recall, F1 and support, macro F1, accuracy and the confusion matrix
(rows: true class, columns: predicted), for zero-shot CLIP and each trained checkpoint on the same
images: dataset folds (`--root`) or a held-out folder of `class_name/*.jpg` (`--folder`), whose
images get the import's normalisation so they look like the training samples. `ilid train` and
`ilid cv` with `eval.classes` score each run's held-out folds the same way after training (the
feature-cache baselines with their classifiers over the class texts, train/baselines.py).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np
import torch

from ilid_ray.config import DownloadConfig, StorageConfig

if TYPE_CHECKING:
    from ilid_ray.storage import Store
    from ilid_ray.train.config import TrainConfig


# --------------------------------------------------------------------------- samples


def folder_samples(folder: str, image: DownloadConfig, skipped: Counter,
                   storage: StorageConfig | None = None) -> Iterator[tuple[str, bytes]]:
    """(label, normalised image bytes) of a `class_name/*.jpg` folder; unusable files counted."""
    from ilid_ray.dataset.download import process_image
    from ilid_ray.dataset.importer import clean_label, folder_entries, read_location
    from ilid_ray.imaging import ImageError

    for entry in folder_entries(folder, storage):
        label = clean_label(entry["label"])
        if not label:
            skipped["no class folder"] += 1
            continue
        try:
            yield label, process_image(read_location(entry["location"], storage), image)["image"]
        except ImageError as exc:
            skipped[exc.reason[:40]] += 1


def dataset_samples(root: str, folds: list[int] | None, label_field: str, skipped: Counter,
                    storage: StorageConfig | None = None) -> Iterator[tuple[str, bytes]]:
    """(label, image bytes) of the dataset's latest version, in `folds` (None: all)."""
    from ilid_ray.train.data import iter_local_samples

    for row in iter_local_samples(root, folds, label_field, None, storage):
        if row["error"]:
            skipped[str(row["error"])[:40]] += 1
        else:
            yield str(row["text"]), row["image"]


def dataset_classes(root: str, label_field: str = "label_short", storage: StorageConfig | None = None) -> list[str]:
    """The distinct labels of the dataset's latest version: its fixed label set."""
    from ilid_ray.dataset.manifest import Versions
    from ilid_ray.storage import Store

    manifest = Versions(Store(root, storage)).manifest()
    if label_field not in manifest.column_names:
        raise ValueError(f"the manifest of {root} has no {label_field!r} column to take the classes from; "
                         f"use one of {manifest.column_names} or list the classes")
    return sorted({v for v in manifest.column(label_field).to_pylist() if v})


def run_classes(cfg: TrainConfig) -> list[str] | None:
    """The fixed label set of a training run (None: `eval.classes` is off), checked before launching:
    every label of the dataset must be one of the classes."""
    if cfg.eval.classes is False:
        return None
    labels = dataset_classes(cfg.data.root, cfg.data.label_field, cfg.storage)
    classes = labels if cfg.eval.classes is True else list(cfg.eval.classes)
    check_classes(labels, classes)
    return classes


def check_classes(labels: Iterable[str], classes: list[str]) -> None:
    """Refuse labels outside the class set and a set of fewer than two classes."""
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {classes}")
    if len(classes) < 2:
        raise ValueError(f"a fixed label set needs at least two classes, got {classes}")


# --------------------------------------------------------------------------- scoring


@torch.no_grad()
def predict(model, images: list[bytes], classes: list[str], batch_size: int = 64) -> np.ndarray:
    """Index of the best class text for each image."""
    from ilid_ray.train.data import decode_image

    out = []
    for start in range(0, len(images), batch_size):
        pixels = torch.stack([model.preprocess(decode_image(b)) for b in images[start:start + batch_size]])
        out.append(model.logits(pixels.to(model.device), classes).argmax(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,), dtype=np.int64)


def class_report(y_true: list[str], y_pred: list[str], classes: list[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1/support, macro F1 (over `classes`), accuracy, confusion."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes,
                                                                     zero_division=0)
    per_class = [{"class": c, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                 for c, p, r, f, s in zip(classes, precision, recall, f1, support)]
    return {"n": len(y_true), "accuracy": float(np.mean(np.array(y_true) == np.array(y_pred))) if y_true else None,
            "macro_f1": float(np.mean(f1)) if len(classes) else None, "per_class": per_class,
            "classes": classes, "confusion": confusion_matrix(y_true, y_pred, labels=classes).tolist()}


def confusion_png(confusion: list[list[int]], classes: list[str], title: str = "") -> bytes:
    """The confusion matrix as a labelled heat map (rows: true class, columns: predicted)."""
    from ilid_ray.train.plots import _figure, _png

    matrix = np.asarray(confusion)
    size = 1.2 + 0.55 * len(classes)
    plt, (fig, ax) = _figure(figsize=(size + 1.5, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black", fontsize=8)
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    return _png(fig, plt)


def evaluate_classes(samples: list[tuple[str, bytes]], classes: list[str], checkpoints: list[str], *,
                     model_name: str = "ViT-B-16", pretrained: str | None = "openai", device: str = "cpu",
                     storage: StorageConfig | None = None) -> dict[str, dict[str, Any]]:
    """{model: class report} for zero-shot CLIP (the first checkpoint's base, or `model_name`) and
    each checkpoint, on the same samples; every sample's label must be one of `classes`."""
    from ilid_ray.models import load_clip
    from ilid_ray.train.scoring import zero_shot_twin

    check_classes((label for label, _ in samples), classes)
    y_true = [label for label, _ in samples]
    images = [image for _, image in samples]
    models = [load_clip(c, model_name=model_name, pretrained=pretrained, device=device, storage=storage)
              for c in checkpoints] or [load_clip(None, model_name=model_name, pretrained=pretrained, device=device)]
    scored = {"zeroshot": zero_shot_twin(models[0])}
    for i, model in enumerate(models[:len(checkpoints)]):
        name = model.variant.name
        scored[name if name not in scored else f"{name}-{i + 1}"] = model.eval()
    return {name: class_report(y_true, [classes[i] for i in predict(m, images, classes)], classes)
            for name, m in scored.items()}


def format_reports(reports: dict[str, dict[str, Any]]) -> str:
    """One line per model (macro F1, accuracy), then per-class F1 columns."""
    classes = next(iter(reports.values()))["classes"]
    head = f"{'model':<28}{'n':>5}{'acc':>7}{'macroF1':>9}  " + "".join(f"{c[:10]:>11}" for c in classes)
    lines = [head, "-" * len(head)]
    for name, r in reports.items():
        cells = "".join(f"{p['f1']:>11.3f}" for p in r["per_class"])
        lines.append(f"{name[:27]:<28}{r['n']:>5}{r['accuracy'] or 0:>7.3f}{r['macro_f1'] or 0:>9.3f}  {cells}")
    return "\n".join(lines)


def write_class_outputs(store: Store, reports: dict[str, dict[str, Any]], skipped: Counter | dict) -> list[str]:
    """classes.json (every model's report) and one confusion PNG per model; their URIs, the JSON first."""
    import json

    store.put_bytes(json.dumps({"models": reports, "skipped": dict(skipped)}, indent=1).encode(), "classes.json")
    files = [store.uri("classes.json")]
    for name, report in reports.items():
        rel = f"confusion-{name.replace('/', '_')}.png"
        store.put_bytes(confusion_png(report["confusion"], report["classes"],
                                      f"{name}: macro F1 {report['macro_f1']:.3f}"), rel)
        files.append(store.uri(rel))
    return files


def classify_held_out(cfg: TrainConfig, classes: list[str], checkpoint: str,
                      run: Store) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A finished run in class mode: its checkpoint and zero-shot CLIP scored on the held-out folds
    against every class (what `ilid eval classes --root ... --folds <val>` reports), written to the
    run's folder; (the reports, the files written, classes.json first)."""
    skipped: Counter = Counter()
    samples = list(dataset_samples(cfg.data.root, list(cfg.data.val_folds), cfg.data.label_field, skipped,
                                   cfg.storage))
    if not samples:
        raise ValueError(f"no usable held-out sample in folds {cfg.data.val_folds} of {cfg.data.root} to classify"
                         + (f" (skipped: {dict(skipped)})" if skipped else ""))
    device = "cuda" if cfg.scaling.use_gpu and torch.cuda.is_available() else "cpu"
    reports = evaluate_classes(samples, classes, [checkpoint], model_name=cfg.model.name,
                               pretrained=cfg.model.pretrained, device=device, storage=cfg.storage)
    return reports, write_class_outputs(run, reports, skipped)


def note_class_f1(history: list[dict[str, Any]], reports: dict[str, dict[str, Any]], name: str) -> None:
    """Each model's macro F1 over the class set into the history entry holding its held-out scores
    (the trained model's: the last; zero-shot's: the one with its baseline), so metric rows carry it
    as `class_f1` and `ilid cv` summarises it."""
    history[-1]["val/class_f1"] = reports[name]["macro_f1"]
    for entry in history:
        if "zeroshot/val/top1" in entry:
            entry["zeroshot/val/class_f1"] = reports["zeroshot"]["macro_f1"]
