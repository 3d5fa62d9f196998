"""`ilid crawl`: catalogs -> raw records (`raw/{build_id}/{catalog}.parquet`), without the rest
of the build. Useful to check a new catalog spec before building from it."""

from __future__ import annotations

import logging
import time

import click


@click.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Build config (its catalogs, crawl, network, storage and ray sections are used).")
@click.option("--catalog", "names", multiple=True, help="Only these catalogs (repeatable).")
@click.option("--out", help="Dataset root to write into (default: dataset.root of the config).")
@click.option("--build-id", help="Folder under raw/ (default: crawl-<UTC time>); reusing one resumes.")
@click.option("--override", "-o", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. -o crawl.max_pages=50")
def crawl(config_path, names, out, build_id, overrides):
    """Crawl catalogs in parallel (one Ray task each) and print where the raw records went."""
    from ilid_ray.config import load_build_config
    from ilid_ray.crawl.runner import CrawlError, crawl_catalogs
    from ilid_ray.runtime import init_ray
    from ilid_ray.storage import Store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_build_config(config_path, list(overrides))
    specs = cfg.catalogs
    if names:
        unknown = sorted(set(names) - {s.name for s in specs})
        if unknown:
            raise click.BadParameter(f"not in the config: {unknown}", param_hint="--catalog")
        specs = [s for s in specs if s.name in names]
    store = Store(out or cfg.dataset.root, cfg.storage)
    build_id = build_id or time.strftime("crawl-%Y%m%dT%H%M%SZ", time.gmtime())
    init_ray(cfg.ray)
    try:
        paths = crawl_catalogs(specs, cfg.crawl, cfg.network, store, build_id)
    except CrawlError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in paths:
        click.echo(store.uri(path))
