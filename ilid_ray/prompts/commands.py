"""`ilid prompts describe`: LLM-written class descriptions stored with a dataset version."""

from __future__ import annotations

import click


@click.group()
def prompts():
    """Class texts beyond the template: LLM-written descriptions per label (CuPL)."""


@prompts.command()
@click.option("--root", required=True, help="Dataset root (local path or s3://bucket/prefix).")
@click.option("--version", default=None, help="Version whose labels are described (default: latest).")
@click.option("--field", default="label_short", show_default=True,
              help="Manifest field whose distinct values are described (the training label field).")
@click.option("--count", type=int, default=3, show_default=True, help="Descriptions per label.")
@click.option("--max-words", type=int, default=20, show_default=True, help="Words per description at most.")
@click.option("--engine", type=click.Choice(["transformers", "vllm", "rules"]), default="transformers",
              show_default=True, help="Extraction engine (rules cannot write descriptions).")
@click.option("--model", help="LLM: HF id, local folder, or the embedded smollm2-135m-instruct (default).")
@click.option("-o", "--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override an extract setting, e.g. -o extract.max_new_tokens=120 -o extract.batch_size=8.")
def describe(root, version, field, count, max_words, engine, model, overrides):
    """Ask the LLM for short visual descriptions of every label of a version; store them as
    prompts/descriptions-<version>-<field>.json in the dataset. Train with
    model.variant.descriptions=dataset to use them (zero-shot and CLIP-Adapter)."""
    from ilid_ray.config import apply_overrides
    from ilid_ray.prompts.describe import DescribeConfig
    from ilid_ray.prompts.files import describe_version

    data = {"field": field, "count": count, "max_words": max_words,
            "extract": {"engine": engine, **({"model": model} if model else {})}}
    cfg = DescribeConfig.model_validate(apply_overrides(data, list(overrides)))
    doc, where = describe_version(root, version, cfg)
    click.echo(f"described {len(doc['descriptions'])} of {doc['labels']} {field} values of {doc['version']} "
               f"with {doc['model']} (prompt {doc['prompt_version']}); rejected {len(doc['rejects'])}")
    for label, reject in sorted(doc["rejects"].items()):
        click.echo(f"  rejected {label!r}: {reject['reason']}")
    click.echo(f"written  {where}")
