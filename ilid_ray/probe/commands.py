"""`ilid catalog probe`: onboard a shop in one command (infer its spec), or check a written spec."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("url", required=False)
@click.option("--pages", default=30, show_default=True, help="Product pages to sample.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the inferred spec here (default: print it).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--name", help="Catalog name (default: from the host name).")
@click.option("--dry-run", "spec_path", type=click.Path(exists=True, dir_okay=False),
              help="Check this spec instead of inferring one: the same tree and table, nothing written.")
@click.option("--config", "-c", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Build config whose crawl and network sections apply (timeouts, allow_private, user agent).")
@click.option("--allow-private", multiple=True, metavar="CIDR",
              help="Allow these private addresses (repeatable), e.g. 127.0.0.1/32 for a local shop.")
@click.option("--delay", default=1.0, show_default=True, help="Seconds between requests to the shop.")
@click.option("--max-sitemaps", default=100, show_default=True, help="Read at most this many sitemaps.")
@click.option("--verbose", is_flag=True, help="Show Scrapy's log (failures are in the report either way).")
def probe(url, pages, out, force, name, spec_path, config_path, allow_private, delay, max_sitemaps, verbose):
    """Read a shop's robots.txt and sitemaps, sample product pages, and write a catalog spec.

    URL: the shop (its robots.txt is read), its robots.txt or a sitemap. With --dry-run SPEC the
    spec's own start URLs, sitemap rules and reader are measured instead.
    """
    from ilid_ray.config import CrawlConfig, NetworkConfig, load_build_config, load_catalog_specs
    from ilid_ray.probe.fetch import fetch_probe
    from ilid_ray.probe.findings import ProbeJob
    from ilid_ray.probe.infer import check_spec, infer_spec, probe_roots
    from ilid_ray.probe.report import coverage_table, sitemap_tree, spec_yaml

    if not url and not spec_path:
        raise click.UsageError("give the shop's URL, or --dry-run SPEC")
    if out and Path(out).exists() and not force:
        raise click.BadParameter(f"{out} exists (--force overwrites it)", param_hint="--out")
    crawl, network = CrawlConfig(), NetworkConfig()
    if config_path:
        cfg = load_build_config(config_path)
        crawl, network = cfg.crawl, cfg.network
    if allow_private:
        network = network.model_copy(update={"allow_private": [*network.allow_private, *allow_private]})
    spec = None
    if spec_path:
        from ilid_ray.crawl.spider import spider_class

        try:
            spec = load_catalog_specs(spec_path)[0]
            spider_class(spec)  # a custom spider that does not load fails here, not after the crawl
        except ValueError as exc:  # pydantic's ValidationError included
            raise click.ClickException(f"{spec_path}: {exc}") from exc
        job = ProbeJob([*spec.start_urls, *spec.sitemap_urls], spec.sitemap_follow, spec.product_url_pattern,
                       pages, max_sitemaps, delay_s=delay)
    else:
        try:
            job = ProbeJob(probe_roots(url), pages=pages, max_sitemaps=max_sitemaps, delay_s=delay)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="URL") from exc
    fetched = fetch_probe(job, crawl, network, "INFO" if verbose else "CRITICAL")
    if not fetched.listed:
        problems = "; ".join(f"{n.url}: {n.error}" for n in fetched.sitemaps.values() if n.error)
        raise click.ClickException(f"no sitemap listed any URL ({problems or 'nothing read'})")
    report = check_spec(spec, fetched) if spec else infer_spec(url, fetched, name)
    for line in [*sitemap_tree(report), "", *coverage_table(report)]:
        click.echo(line)
    if spec:
        return
    command = f"ilid catalog probe {url} --pages {pages}"
    text = spec_yaml(report, command)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"\nspec written to {out}: review the PROPOSED trade names, then add it to a build config")
    else:
        click.echo("")
        click.echo(text, nl=False)
