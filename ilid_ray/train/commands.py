"""`ilid train`, `ilid cv`, `ilid eval run|prompts`: thin wrappers over the training library."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ilid_ray.config import read_yaml


def _config(path: str, overrides: tuple[str, ...], **direct):
    from ilid_ray.train.config import TrainConfig, load_train_config

    cfg = load_train_config(path, list(overrides))
    data = cfg.model_dump()
    for dotted, value in direct.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return TrainConfig.model_validate(data)


def _ints(text: str | None) -> list[int] | None:
    return [int(x) for x in text.split(",")] if text else None


def _pretrained(value: str | None) -> str | None:
    """`--pretrained none` (or empty) = random weights, for the tiny demo model."""
    return None if value is None or value.strip().lower() in ("", "none", "null") else value


@click.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Training YAML (configs/train/*.yaml).")
@click.option("-o", "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override, e.g. optim.epochs=5.")
@click.option("--variant", help="coop | clipadapter | coopia | coopiata, or a baseline on the feature cache: "
                                "linearprobe | tipadapter | tipadapterf | lowrank")
@click.option("--name", help="Run name (re-use a name to continue that run from its last checkpoint).")
@click.option("--resume-from", help="Start from this checkpoint folder (local or s3://).")
@click.option("--workers", type=int, help="Number of Ray Train workers.")
def train(config_path, overrides, variant, name, resume_from, workers):
    """Train one CLIP variant on the dataset's training folds; scores held-out folds each epoch."""
    from ilid_ray.train.baselines import canonical_baseline, fit_baseline
    from ilid_ray.train.trainer import fit

    baseline = canonical_baseline(variant) if variant else None
    cfg = _config(config_path, overrides, **{"model.variant.name": None if baseline else variant,
                                             "baseline.name": baseline, "output.name": name,
                                             "output.resume_from": resume_from, "scaling.num_workers": workers})
    summary = fit_baseline(cfg)["summary"] if cfg.baseline.name else fit(cfg).summary()
    click.echo(json.dumps(summary, indent=1, default=str))


@click.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--set", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--variants", help="Comma-separated trained variants (default: the config's cv.variants).")
@click.option("--folds", help="Comma-separated held-out folds (default: all).")
def cv(config_path, overrides, variants, folds):
    """k-fold cross-validation of variants (runs in parallel where resources allow)."""
    from ilid_ray.train.cv import cross_validate, format_summary

    cfg = _config(config_path, overrides, **{"cv.variants": variants.split(",") if variants else None,
                                             "cv.folds": _ints(folds)})
    outputs = cross_validate(cfg)
    click.echo(format_summary(outputs.summary))
    click.echo(json.dumps({"root": outputs.root, "metrics": outputs.metrics, "plots": outputs.plots}, indent=1))


@click.group(name="eval")
def eval_group():
    """Evaluate checkpoints on dataset folds; score prompts on photos."""


def _register_more() -> None:
    """`ilid eval segment` (ilid_ray/synth) and `ilid eval classes` (fixed label sets) live in their
    own modules."""
    from ilid_ray.synth.commands import segment_command
    from ilid_ray.train.class_commands import eval_classes

    eval_group.add_command(segment_command)
    eval_group.add_command(eval_classes)


_register_more()


@eval_group.command(name="run")
@click.option("--root", required=True, help="Dataset root (folder or s3://).")
@click.option("--checkpoint", help="Trained checkpoint (file/folder, local or s3://); omit for zero-shot only.")
@click.option("--folds", help="Comma-separated folds to score (default: all).")
@click.option("--label-field", help="Default: the checkpoint's label field, else label_short.")
@click.option("--max-words", type=int)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--model-name", default="ViT-B-16", show_default=True, help="Base model without a checkpoint.")
@click.option("--pretrained", default="openai", show_default=True,
              help="Tag or weights file without a checkpoint ('none': random, tests only).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random evaluation batches.")
@click.option("--out", help="Folder (or s3://) for metrics.json/csv and tsne.png.")
def eval_run(root, checkpoint, folds, label_field, max_words, batch_size, model_name, pretrained, device, seed, out):
    """Top-1/top-3 (batches of 32) and macro F1 of a checkpoint and its zero-shot base."""
    from ilid_ray.storage import Store
    from ilid_ray.train.evaluate import write_metric_files
    from ilid_ray.train.plots import tsne_png
    from ilid_ray.train.scoring import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, root, _ints(folds), label_field=label_field, max_words=max_words,
                                 batch_size=batch_size, model_name=model_name, pretrained=_pretrained(pretrained),
                                 device=device, seed=seed)
    click.echo(f"{'model':<14}{'n':>6}{'top-1':>9}{'top-3':>9}{'macro F1':>10}   ({result['label_field']})")
    for row in result["rows"]:
        click.echo(f"{row['variant']:<14}{row['n'] or 0:>6}{row['top1'] or 0:>9.4f}{row['top3'] or 0:>9.4f}"
                   f"{row['f1'] or 0:>10.4f}")
    if result["skipped"]:
        click.echo(f"skipped samples: {result['skipped']}")
    if out:
        store = Store(out)
        files = write_metric_files(store, result["rows"], extra={"skipped": result["skipped"]})
        name = next(reversed(result["embeddings"]))
        emb = result["embeddings"][name]
        if len(emb["label"]) >= 3:
            store.put_bytes(tsne_png(emb["image"], emb["text"], emb["label"], f"{name}: image (o) / text (^)"),
                            "tsne.png")
            files.append(store.uri("tsne.png"))
        click.echo(json.dumps({"outputs": files}, indent=1))


@eval_group.command(name="prompts")
@click.option("--images", "--folder", "folder", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--prompt", "prompts", multiple=True, help="A prompt (repeat), e.g. --prompt steel --prompt brass.")
@click.option("--prompts", "prompt_list", help='Comma-separated prompts, e.g. "steel,aluminium,brass".')
@click.option("--prompts-file", type=click.Path(exists=True, dir_okay=False), help="One prompt per line.")
@click.option("--checkpoint", help="Trained checkpoint to compare with zero-shot CLIP.")
@click.option("--expected", type=click.Path(exists=True, dir_okay=False),
              help="JSON or YAML {image file name: right prompt} to mark hits.")
@click.option("--model-name", default="ViT-B-16", show_default=True)
@click.option("--pretrained", default="openai", show_default=True)
@click.option("--device", default="cpu", show_default=True)
def eval_prompts(folder, prompts, prompt_list, prompts_file, checkpoint, expected, model_name, pretrained, device):
    """Score a folder of photos against prompts: zero-shot vs a checkpoint (the paper's Table 2)."""
    from ilid_ray.train.scoring import format_prompt_table, score_prompts

    listed = list(prompts) + [p.strip() for p in (prompt_list or "").split(",") if p.strip()]
    if prompts_file:
        listed += [line.strip() for line in Path(prompts_file).read_text().splitlines() if line.strip()]
    result = score_prompts(folder, listed, checkpoint, model_name=model_name, pretrained=_pretrained(pretrained),
                           device=device)
    click.echo(format_prompt_table(result, read_yaml(expected) if expected else None))
