"""`ilid catalog serve|specs`: the fixture catalogs outside the tests (demo, benchmarks, trying a
build by hand). Catalogs are named `fixture-<markup>`, one per markup style, on fixed ports."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from ilid_ray.probe.commands import probe
from ilid_ray.testing.catalog import FixtureCatalog

STANDARD_MARKUPS = ("jsonld", "microdata", "selectors", "custom")
PORT_BASE = 8701
PRIVATE_PORT_OFFSET = 99  # the 127.0.0.2 listener sits at port_base + 99


def standard_catalogs(n_products: int = 40, seed: int = 0, faults: bool = False,
                      markups: tuple[str, ...] = STANDARD_MARKUPS,
                      count: int | None = None) -> list[FixtureCatalog]:
    """`count` catalogs (default: one per markup) cycling through the markups: fixture-jsonld,
    fixture-microdata, ..., then fixture-jsonld-2 (next seed: other products and trade names), ..."""
    out = []
    for i in range(count or len(markups)):
        markup, round_ = markups[i % len(markups)], i // len(markups)
        name = f"fixture-{markup}" + (f"-{round_ + 1}" if round_ else "")
        out.append(FixtureCatalog(name, n_products=n_products, markup=markup, seed=seed + round_, faults=faults))
    return out


def fixed_ports(catalogs: list[FixtureCatalog], port_base: int) -> dict[str, int]:
    return {c.name: port_base + i for i, c in enumerate(catalogs)}


common = [
    click.option("--products", "n_products", default=40, show_default=True, help="Products per catalog."),
    click.option("--markup", "markups", multiple=True, type=click.Choice(list(STANDARD_MARKUPS) + ["mixed"]),
                 help="Markup styles the catalogs cycle through (default: all four)."),
    click.option("--catalogs", "count", type=int, help="Number of catalogs (default: one per markup)."),
    click.option("--seed", default=0, show_default=True),
    click.option("--faults/--no-faults", default=False, show_default=True, help="Plant the fault pages."),
    click.option("--port-base", default=PORT_BASE, show_default=True, help="Port of the first catalog."),
]


def with_common(fn):
    for option in reversed(common):
        fn = option(fn)
    return fn


@click.group()
def catalog() -> None:
    """Probe a real shop into a catalog spec; serve the deterministic fixture catalogs."""


@catalog.command()
@with_common
@click.option("--specs-dir", type=click.Path(file_okay=False),
              help="Where to write the catalog spec YAMLs (default: a new temporary folder).")
@click.option("--seconds", type=float, default=None, help="Stop after this long (default: until Ctrl-C).")
@click.option("--shops", is_flag=True, help="Also serve the real-markup corpus (ilid_ray.testing.shops) "
              "as catalog `shops` on the next port.")
def serve(n_products, markups, count, seed, faults, port_base, specs_dir, seconds, shops):
    """Serve fixture catalogs on 127.0.0.1 and write their specs."""
    from ilid_ray.testing.server import CatalogServer
    from ilid_ray.testing.shops.corpus import ShopCorpus

    catalogs = standard_catalogs(n_products, seed, faults, tuple(markups) or STANDARD_MARKUPS, count)
    catalogs += [ShopCorpus()] if shops else []
    with CatalogServer(catalogs, ports=fixed_ports(catalogs, port_base),
                       private_port=port_base + PRIVATE_PORT_OFFSET) as server:
        for path in server.write_specs(specs_dir or tempfile.mkdtemp(prefix="ilid-fixture-specs-")):
            click.echo(f"spec   {path}")
        for name in server.catalogs:
            click.echo(f"serve  {name}  {server.base_url(name)}/robots.txt")
        click.echo("a build config needs:  network: {allow_private: [127.0.0.1/32]}")
        deadline = time.time() + seconds if seconds else float("inf")
        try:
            while time.time() < deadline:
                time.sleep(min(1.0, max(0.0, deadline - time.time())))
        except KeyboardInterrupt:
            pass


@catalog.command()
@with_common
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for the YAMLs.")
def specs(n_products, markups, count, seed, faults, port_base, out):
    """Write the spec YAMLs of the fixture catalogs on their fixed ports (without serving)."""
    from ilid_ray.testing.server import PRIVATE_HOST, write_spec_files

    catalogs = standard_catalogs(n_products, seed, faults, tuple(markups) or STANDARD_MARKUPS, count)
    for name, port in fixed_ports(catalogs, port_base).items():
        catalog_ = next(c for c in catalogs if c.name == name)
        catalog_.bind(f"http://127.0.0.1:{port}", f"http://{PRIVATE_HOST}:{port_base + PRIVATE_PORT_OFFSET}")
    for path in write_spec_files([c.spec() for c in catalogs], Path(out)):
        click.echo(str(path))


catalog.add_command(probe)  # onboarding a real shop: its own module, listed in this group
