"""`ilid build`, `ilid demo` and `ilid dataset ...`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from ilid_ray.config import BuildConfig, load_build_config
from ilid_ray.storage import Store


def _load(config: str, overrides: tuple[str, ...], catalogs: tuple[str, ...], engine: str | None,
          root: str | None) -> BuildConfig:
    extra = list(overrides)
    if engine:
        extra.append(f"extract.engine={engine}")
    if root:
        extra.append(f"dataset.root={root}")
    cfg = load_build_config(config, extra)
    if catalogs:
        unknown = set(catalogs) - {c.name for c in cfg.catalogs}
        if unknown:
            raise click.BadParameter(f"not in the config: {sorted(unknown)}", param_hint="--catalog")
        cfg.catalogs = [c for c in cfg.catalogs if c.name in catalogs]
    return cfg


def report(result) -> str:
    """The human summary of a finished build."""
    from ilid_ray.dataset.stats import format_table

    record = result.record
    stats = record["stats"]
    per_stage = ", ".join(f"{k} {v}" for k, v in sorted(stats["rejected_per_stage"].items())) or "none"
    lines = [
        f"dataset  {result.root}  version {record['version']} (build {result.build_id})",
        f"crawled  {stats['crawled']} records from {', '.join(record['catalogs'])}",
        f"added    {record['added']} samples in {len(result.shards)} new shard(s); total {record['total']}",
        f"rejected {record['rejected']} ({per_stage})",
        f"readers  {', '.join(f'{k} {v}' for k, v in stats.get('found_by', {}).items()) or '-'}",
        f"shards   {result.root}/shards/{result.build_id}/",
        f"manifest {result.root}/manifest/{record['version']}.parquet",
        f"rejects  {result.root}/rejects/{result.build_id}.parquet",
        f"words    {result.root}/stats/{record['version']}-top-words.png",
        f"models   {', '.join(record['models']) or '-'} (prompt {', '.join(record['prompt_versions']) or '-'})",
        *crawl_lines(stats.get("crawl", {})),
        "",
        format_table(record["dataset"]),
    ]
    return "\n".join(lines)


def crawl_lines(reports: dict) -> list[str]:
    """One line per catalog: how its crawl's walk caps bit (sitemaps, depth, wall time)."""
    from ilid_ray.crawl.runner import CrawlReport

    fields = CrawlReport.__dataclass_fields__
    return [f"crawl    {CrawlReport(**{k: v for k, v in r.items() if k in fields}).summary()}"
            for r in reports.values()]


build_options = [
    click.option("--override", "-o", "overrides", multiple=True, metavar="KEY=VALUE",
                 help="Override a config value, e.g. -o extract.batch_size=8"),
    click.option("--catalog", "catalogs", multiple=True, help="Only these catalogs (repeatable)."),
    click.option("--engine", type=click.Choice(["transformers", "vllm", "rules"]), help="Extraction engine."),
    click.option("--root", help="Dataset root (local path or s3://bucket/prefix)."),
]


def with_build_options(fn):
    for option in reversed(build_options):
        fn = option(fn)
    return fn


@click.command()
@click.option("--config", "-c", required=True, type=click.Path(exists=True, dir_okay=False))
@with_build_options
@click.option("--abandon-unfinished", is_flag=True, help="Discard an unfinished build of other catalogs.")
@click.option("--wait", "wait_s", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="Wait this long for another build writing the same root to finish (default: fail at once).")
@click.option("--force", is_flag=True, help="Build into an S3 store that ignores conditional writes (it cannot "
              "guarantee a single writer: make sure no other build writes the root).")
def build(config, overrides, catalogs, engine, root, abandon_unfinished, wait_s, force):
    """Crawl the catalogs and add their new samples to the dataset as a new version."""
    from ilid_ray.dataset.pipeline import run_build

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = _load(config, overrides, catalogs, engine, root)
    result = run_build(cfg, abandon_unfinished=abandon_unfinished, wait_s=wait_s, force=force)
    click.echo(report(result))


@click.command()
@click.option("--root", default="./ilid-data", show_default=True, help="Dataset root (local path or s3://).")
@click.option("--products", default=24, show_default=True, help="Products per fixture catalog (>= 12).")
@click.option("--catalogs", "count", default=2, show_default=True, help="Fixture catalogs to serve and crawl.")
@click.option("--engine", type=click.Choice(["transformers", "vllm", "rules"]), default="transformers",
              show_default=True, help="Extraction engine (default: SmolLM2-135M-Instruct via transformers).")
@click.option("--override", "-o", "overrides", multiple=True, metavar="KEY=VALUE")
def demo(root, products, count, engine, overrides):
    """Serve fixture catalogs locally (with planted faults) and build a dataset from them end to end."""
    from ilid_ray.config import apply_overrides
    from ilid_ray.dataset.pipeline import run_build
    from ilid_ray.testing.commands import standard_catalogs
    from ilid_ray.testing.server import CatalogServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    catalogs = standard_catalogs(products, seed=0, faults=True, count=count)
    with CatalogServer(catalogs) as server:
        data = {
            "catalogs": [s.model_dump() for s in server.specs()],
            "dataset": {"root": root, "shard_size": 100},
            "network": server.network_config().model_dump(),
            "extract": {"engine": engine, "batch_size": 8},
            "crawl": {"autothrottle": False},
        }
        cfg = BuildConfig.model_validate(apply_overrides(data, list(overrides)))
        for name in server.catalogs:
            click.echo(f"catalog {name} served at {server.base_url(name)}/robots.txt")
        result = run_build(cfg)
    click.echo(report(result))


@click.group()
def dataset():
    """Inspect a dataset's versions; take samples down."""


root_option = click.option("--root", required=True, help="Dataset root (local path or s3://bucket/prefix).")


@dataset.command()
@root_option
@click.option("--version", "version", default=None, help="Version (default: latest).")
@click.option("--png", type=click.Path(dir_okay=False), help="Where to write the top-words PNG "
              "(default: stats/<version>-top-words.png in the dataset).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def stats(root, version, png, as_json):
    """Table-1-style unique counts per field and a PNG of the top-40 words per label field."""
    from ilid_ray.dataset.manifest import Versions, version_name
    from ilid_ray.dataset.stats import format_table, top_words_png, unique_counts

    store = Store(root)
    versions = Versions(store)
    number = versions.resolve(version)
    manifest = versions.manifest(number)
    counts = unique_counts(manifest)
    # which reader found the products this version's build crawled (json-ld, heuristic, ...)
    counts["found_by"] = versions.record(number).get("stats", {}).get("found_by", {})
    image = top_words_png(manifest)
    if png:
        Path(png).write_bytes(image)
        where = png
    else:
        rel = f"stats/{version_name(number)}-top-words.png"
        store.put_bytes(image, rel)
        where = store.uri(rel)
    if as_json:
        click.echo(json.dumps({"version": version_name(number), **counts, "top_words_png": where}, indent=2))
    else:
        readers = ", ".join(f"{k} {v}" for k, v in counts["found_by"].items()) or "-"
        click.echo(f"version {version_name(number)}\n{format_table(counts)}\nreaders (this build's crawl): {readers}\n"
                   f"top words: {where}")


@dataset.command()
@root_option
def history(root):
    """One line per version: when, which build and catalogs, samples added/rejected, model, prompt."""
    from ilid_ray.dataset.manifest import Versions

    versions = Versions(Store(root))
    versions.resolve(None)  # no version yet: says so, and what to do
    rows = versions.history()
    click.echo(f"{'version':<8} {'created':<26} {'added':>6} {'total':>6} {'rejected':>8}  catalogs / model / prompt")
    for r in rows:
        click.echo(f"{r['version']:<8} {r['created_at']:<26} {r['added']:>6} {r['total']:>6} {r['rejected']:>8}  "
                   f"{','.join(r['catalogs'])} / {','.join(r.get('models', [])) or '-'} / "
                   f"{','.join(r.get('prompt_versions', [])) or '-'}")


@dataset.command("diff")
@root_option
@click.argument("old")
@click.argument("new", default="latest")
def diff_command(root, old, new):
    """What version NEW adds to version OLD."""
    from ilid_ray.dataset.manifest import diff

    click.echo(json.dumps(diff(Store(root), old, new), indent=2))


@dataset.command()
@root_option
@click.option("--version", "version", default=None, help="Version to export (default: latest).")
@click.option("--to", "target", required=True, help="Target root (local path or s3://...); must be empty.")
@click.option("--overwrite", is_flag=True, help="Delete what the target root holds, then export into it.")
def export(root, version, target, overwrite):
    """Copy one version (its shards and manifest) to another root."""
    from ilid_ray.dataset.manifest import export_version

    click.echo(json.dumps(export_version(Store(root), version, Store(target), overwrite=overwrite), indent=2))


@dataset.command()
@root_option
@click.option("--url", "urls", multiple=True, help="Page URL of a sample to take down (repeatable).")
@click.option("--source", "sources", multiple=True, help="Take down every sample of this catalog (repeatable).")
@click.option("--from-file", "from_file", type=click.Path(exists=True, dir_okay=False),
              help="A file of page URLs, one a line (# comments allowed).")
def remove(root, urls, sources, from_file):
    """Take samples down: a new version without them (shards untouched); no later build or export
    brings them back."""
    from ilid_ray.dataset.removals import RemovalError, read_url_file
    from ilid_ray.dataset.removals import remove as remove_samples

    listed = [*urls, *(read_url_file(Path(from_file).read_text(encoding="utf-8")) if from_file else [])]
    try:
        result = remove_samples(Store(root), listed, sources)
    except RemovalError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result, indent=2))


@dataset.command("import")
@click.option("--config", "-c", type=click.Path(exists=True, dir_okay=False), help="Import YAML (configs/import/).")
@click.option("--folder", help="Folder of class_name/*.jpg (local or s3://).")
@click.option("--table", help="CSV or Parquet of path,label[,label_long,description,material,material_finish].")
@click.option("--descriptions", type=click.Path(exists=True, dir_okay=False), help="YAML of per-class texts.")
@click.option("--source", help="Source tag of the samples (default: the config's, else 'import').")
@click.option("--root", help="Dataset root (local path or s3://bucket/prefix).")
@click.option("--override", "-o", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--abandon-unfinished", is_flag=True, help="Discard an unfinished build of other sources.")
def import_command(config, folder, table, descriptions, source, root, overrides, abandon_unfinished):
    """Import labelled images (a company's own photos) as samples: a new dataset version."""
    from ilid_ray.config import load_import_config
    from ilid_ray.dataset.importer import run_import

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    extra = [f"source.{key}={value}" for key, value in
             (("folder", folder), ("table", table), ("descriptions", descriptions), ("name", source)) if value]
    if folder:
        extra.append("source.table=null")
    if table:
        extra.append("source.folder=null")
    if root:
        extra.append(f"dataset.root={root}")
    cfg = load_import_config(config, extra + list(overrides))
    click.echo(report(run_import(cfg, abandon_unfinished=abandon_unfinished)))
