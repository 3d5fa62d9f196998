"""`ilid eval classes`: zero-shot vs trained checkpoints on a fixed label set."""

from __future__ import annotations

import json
from collections import Counter

import click


@click.command(name="classes")
@click.option("--root", help="Dataset root: score its folds (--folds); its labels are the classes by default.")
@click.option("--folder", help="Held-out folder of class_name/*.jpg to score instead of dataset folds.")
@click.option("--folds", help="Comma-separated folds of --root (default: all).")
@click.option("--classes", "class_list", help="Comma-separated class texts (default: the dataset's labels, "
              "else the folder's class names).")
@click.option("--checkpoint", "checkpoints", multiple=True, help="Trained checkpoint (repeat to compare variants).")
@click.option("--label-field", default="label_short", show_default=True)
@click.option("--image-size", type=int, default=512, show_default=True,
              help="Normalisation of --folder images (as the import's download.image_size).")
@click.option("--model-name", default="ViT-B-16", show_default=True, help="Base model without a checkpoint.")
@click.option("--pretrained", default="openai", show_default=True, help="'none': random weights (tests only).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", help="Folder (or s3://) for classes.json and one confusion PNG per model.")
def eval_classes(root, folder, folds, class_list, checkpoints, label_field, image_size, model_name, pretrained,
                 device, out):
    """Per-class precision/recall/F1, macro F1 and confusion matrices on a fixed label set."""
    from ilid_ray.config import DownloadConfig
    from ilid_ray.dataset.importer import clean_label
    from ilid_ray.storage import Store
    from ilid_ray.train.classes import (dataset_classes, dataset_samples, evaluate_classes, folder_samples,
                                        format_reports, write_class_outputs)
    from ilid_ray.train.commands import _ints, _pretrained

    if not root and not folder:
        raise click.UsageError("give --root (dataset folds) or --folder (held-out images), or both "
                               "(the folder scored, the dataset's labels as classes)")
    skipped: Counter = Counter()
    if folder:
        samples = list(folder_samples(folder, DownloadConfig(image_size=image_size), skipped))
    else:
        samples = list(dataset_samples(root, _ints(folds), label_field, skipped))
    if not samples:
        where = folder or (f"folds {folds} of {root}" if folds else root)
        raise ValueError(f"no usable image in {where}" + (f" (skipped: {dict(skipped)})" if skipped else ""))
    if class_list:
        classes = [c.strip() for c in class_list.split(",") if c.strip()]
    elif root:
        classes = dataset_classes(root, label_field)
    else:
        classes = sorted({clean_label(label) for label, _ in samples})
    reports = evaluate_classes(samples, classes, list(checkpoints), model_name=model_name,
                               pretrained=_pretrained(pretrained), device=device)
    click.echo(format_reports(reports))
    if skipped:
        click.echo(f"skipped samples: {dict(skipped)}")
    if out:
        click.echo(json.dumps({"outputs": write_class_outputs(Store(out), reports, skipped)}, indent=1))
