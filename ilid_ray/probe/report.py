"""What `ilid catalog probe` prints and writes: the sitemap tree, the coverage table and the spec
YAML with its comments (pure text functions over a ProbeReport)."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import yaml

from ilid_ray.config import CatalogSpec
from ilid_ray.probe.infer import ProbeReport
from ilid_ray.probe.readers import ReaderCoverage

ALWAYS_WRITTEN = ("product_url_pattern", "sitemap_follow", "reader")


def _short(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sitemap_tree(report: ProbeReport) -> list[str]:
    """One line per sitemap, indented under the one that lists it, with its URL counts."""
    fetch, pattern = report.fetch, report.spec.product_url_pattern
    products = Counter(fetch.listed[u] for u in report.products if u in fetch.listed)
    children: dict[str | None, list[str]] = {}
    for node in fetch.sitemaps.values():
        children.setdefault(node.parent, []).append(node.url)
    lines: list[str] = []

    def walk(url: str, depth: int) -> None:
        node = fetch.sitemaps[url]
        if node.kind == "urlset":
            what = f"{node.urls} URLs, {products.get(url, 0)} products"
        elif node.kind in ("index", "robots"):
            what = f"{len(node.children)} sitemaps" + (f", {node.unfollowed} not followed" if node.unfollowed else "")
        else:
            what = node.kind
        error = f"  ({node.error})" if node.error else ""
        lines.append(f"{'  ' * depth}{node.kind:<7} {url if depth == 0 else _short(url)}  {what}{error}")
        for child in children.get(url, []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    if fetch.sitemaps_skipped:
        lines.append(f"  ... {fetch.sitemaps_skipped} more sitemaps not read (the probe's cap)")
    if fetch.urls_dropped:
        lines.append(f"  ... {fetch.urls_dropped} more URLs not kept (the probe's cap)")
    lines.append(f"product URL pattern {pattern!r}: {len(report.products)} of {len(fetch.listed)} listed URLs")
    return lines


def _reasons(counter: Counter) -> str:
    return ", ".join(f"{reason} x{n}" for reason, n in counter.most_common(3))


def _row(row: ReaderCoverage, label: str, fetched: int) -> str:
    if not row.available:
        return f"  {label:<22} {'n/a':>7}  {row.note}".rstrip()
    detail = "; ".join(x for x in (row.note, _reasons(row.problems)) if x)
    return f"  {label:<22} {f'{row.usable}/{fetched}':>7}  {detail}".rstrip()


def coverage_table(report: ProbeReport) -> list[str]:
    """Pages found, sampled, fetched and usable by reader."""
    fetch = report.fetch
    fetched = len(fetch.pages)
    failures = Counter(fetch.failed.values())
    lines = [f"catalog {report.spec.name}",
             f"  {'product pages found':<22} {len(report.products):>7}",
             *([f"  {'  robots.txt disallows':<22} {fetch.disallowed:>7}"] if fetch.disallowed else []),
             *([f"  {'  on other hosts':<22} {fetch.offhost:>7}"] if fetch.offhost else []),
             f"  {'sampled':<22} {len(fetch.sample):>7}  of {fetch.candidates} on the shop's hosts, allowed",
             f"  {'fetched':<22} {fetched:>7}  {_reasons(failures)}".rstrip(),
             "  usable records, by reader:"]
    for row in report.readers:
        label = "selectors (proposed)" if row.reader == "selectors" and (
            report.inferred or report.spec.selectors is None) else row.reader
        lines.append(_row(row, label, fetched))
    lines.append(_row(report.spec_row, f"this spec ({report.spec.reader})", fetched))
    return lines


def spec_yaml(report: ProbeReport, command: str) -> str:
    """The spec as YAML, each inferred field under a comment saying from what; loads back into the
    same CatalogSpec."""
    spec = report.spec
    data = spec.model_dump(mode="json", exclude_defaults=True)
    for key in ALWAYS_WRITTEN:
        data.setdefault(key, getattr(spec, key))
    order = [k for k in CatalogSpec.model_fields if k in data]
    fetch = report.fetch
    lines = [f"# Catalog spec inferred by `{command}`:",
             f"# {len(fetch.sitemaps)} sitemaps, {len(fetch.listed)} listed URLs, {len(fetch.sample)} sampled"
             f" product pages ({len(fetch.pages)} fetched). Review it, then name it in a build config."]
    for key in order:
        lines.append("")
        lines += [f"# {note}" for note in report.notes.get(key, [])]
        dumped = yaml.safe_dump({key: data[key]}, sort_keys=False, allow_unicode=True, width=4096)
        lines += dumped.rstrip("\n").split("\n")
    if spec.trade_names is None:
        lines += ["", "# trade_names: no brand or series names recur in the sampled titles; add a regex by hand"]
    text = "\n".join(lines) + "\n"
    if CatalogSpec.model_validate(yaml.safe_load(text)) != spec:
        raise RuntimeError("the written spec does not load back as the inferred one")  # a bug, not bad input
    return text
