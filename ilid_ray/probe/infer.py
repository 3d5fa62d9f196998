"""From what the probe fetched to a catalog spec (pure): the product URL pattern and the sitemaps
that lead to it, the reader that reads the sample best, the proposed selectors and trade names,
each with a note saying what it was inferred from. `check_spec` measures a given spec instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from ilid_ray.catalogs.reader import read_product
from ilid_ray.config import CatalogSpec
from ilid_ray.probe.findings import ProbeFetch
from ilid_ray.probe.readers import ReaderCoverage, coverage_of, propose_selectors, reader_coverage
from ilid_ray.probe.titles import propose_trade_names
from ilid_ray.probe.urls import infer_sitemap_follow, url_families

SITEMAP_SUFFIXES = (".xml", ".xml.gz")


@dataclass
class ProbeReport:
    spec: CatalogSpec
    fetch: ProbeFetch
    products: list[str]  # listed URLs the spec's pattern matches
    readers: list[ReaderCoverage]  # structured, heuristic, selectors
    spec_row: ReaderCoverage  # the spec's own reading
    notes: dict[str, list[str]] = field(default_factory=dict)  # spec field -> comment lines
    inferred: bool = True  # False: a given spec was checked (--dry-run)


def probe_roots(url: str) -> list[str]:
    """Where a probe of `url` starts: the URL itself if it is a robots.txt or a sitemap, else the
    site's robots.txt."""
    path = urlsplit(url).path
    if path.endswith("/robots.txt") or path.endswith(SITEMAP_SUFFIXES):
        return [url]
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError(f"{url!r}: give an http(s) URL of a shop, its robots.txt or a sitemap")
    return [urljoin(url, "/robots.txt")]


def catalog_name(url: str) -> str:
    host = re.sub(r"^www\.", "", urlsplit(url).netloc.lower())
    return re.sub(r"[^a-z0-9]+", "-", host).strip("-") or "shop"


def needed_sitemaps(fetch: ProbeFetch, products: list[str]) -> set[str]:
    """Sitemaps listing product URLs, and the indexes on their way from the roots."""
    needed: set[str] = set()
    for url in products:
        sitemap = fetch.listed.get(url)
        while sitemap is not None and sitemap not in needed:
            needed.add(sitemap)
            node = fetch.sitemaps.get(sitemap)
            sitemap = node.parent if node else None
    return needed


def nested_sitemaps(fetch: ProbeFetch) -> set[str]:
    """Sitemaps listed by a sitemap index (the ones `sitemap_follow` decides about)."""
    return {n.url for n in fetch.sitemaps.values()
            if n.parent is not None and fetch.sitemaps[n.parent].kind == "index"}


def _records(pages, spec: CatalogSpec):
    out = []
    for page in pages:
        try:
            out.append(read_product(page.html, spec, page.url))
        except ValueError:
            continue
    return out


def _titles_and_texts(pages, spec: CatalogSpec) -> tuple[list[str], list[str]]:
    records = [r for r in _records(pages, spec) if r.label]
    if records:
        return [r.label for r in records], [b for r in records for b in r.data]
    titles = [Selector(text=p.html).xpath("//title/text()").get("").strip() for p in pages]
    return [t for t in titles if t], []


def spec_coverage(pages, spec: CatalogSpec) -> ReaderCoverage:
    if spec.reader == "custom":
        row = coverage_of(pages, "this spec", None)
        row.note = "reader custom: its spider reads the pages; check it with `ilid crawl -o crawl.max_pages=30`"
        return row
    return coverage_of(pages, "this spec", spec)


def _choose_reader(rows: dict[str, ReaderCoverage]) -> str:
    """The reader with the most usable sample pages; on ties structured (it needs no upkeep), then
    the selectors read from the pages (exact), then the heuristic (a guess)."""
    order = {"structured": 0, "selectors": 1, "heuristic": 2}
    best = max((r for r in rows.values() if r.available), key=lambda r: (r.usable, -order[r.reader]))
    return best.reader if best.usable else "structured"


def infer_spec(url: str, fetch: ProbeFetch, name: str | None = None) -> ProbeReport:
    """The spec the probe's findings suggest, with a note per inferred field."""
    notes: dict[str, list[str]] = {}
    pages, fetched = fetch.pages, len(fetch.pages)
    listed = list(fetch.listed)
    pattern = fetch.pattern or ".*"
    products = [u for u in listed if re.search(pattern, u)]
    families = url_families(listed)
    if fetch.pattern:
        notes["product_url_pattern"] = [
            f"inferred: the largest family of similar URLs, {len(products)} of the {len(listed)} URLs the sitemaps list",
            *(f"  next: {len(f.urls)} URLs like {f.urls[0]}" for f in families[1:3])]
    else:
        notes["product_url_pattern"] = ["no family of similar URLs found: every listed URL (check by hand)"]

    nested = nested_sitemaps(fetch)
    needed = needed_sitemaps(fetch, products) & nested
    follow = infer_sitemap_follow(needed, nested)
    notes["sitemap_follow"] = [f"inferred: {len(needed)} of {len(nested)} nested sitemaps list product URLs"
                               + (" (all: follow every one)" if follow == [".*"] else "")]

    root = fetch_root(fetch, url)
    roots = {"start_urls": [root]} if root.endswith("/robots.txt") else {"sitemap_urls": [root]}
    hosts = fetch.hosts or [urlsplit(root).hostname or ""]
    notes["start_urls" if "start_urls" in roots else "sitemap_urls"] = [
        f"the probe read {len(fetch.sitemaps)} sitemaps from here"
        + (f" ({fetch.sitemaps_skipped} more not read: over the probe's cap)" if fetch.sitemaps_skipped else "")]
    notes["allowed_domains"] = ["the probed host and those with 10%+ of the product URLs (add others by hand)"]

    selectors, _ = propose_selectors(pages)
    rows = reader_coverage(pages, selectors)
    by_name = {r.reader: r for r in rows}
    reader = _choose_reader(by_name)
    structured, chosen = by_name["structured"], by_name[reader]
    keep_selectors = selectors is not None and reader in ("structured", "selectors")
    base = CatalogSpec(name=name or catalog_name(root), **roots, allowed_domains=hosts,
                       product_url_pattern=pattern, sitemap_follow=follow, reader=reader,
                       selectors=selectors if keep_selectors else None)
    notes["reader"] = [f"inferred: usable records on {chosen.usable} of {fetched} sampled pages"
                       + (f" (structured {structured.usable})" if reader != "structured" else "")]
    if reader == "structured" and keep_selectors:
        fallback = coverage_of(pages, "this spec", base).usable
        if fallback <= structured.usable:
            base = base.model_copy(update={"selectors": None})
        else:
            notes["reader"][0] += f"; {fallback} with the selectors below for pages without markup"
    if not chosen.usable:
        notes["reader"] = [f"no reader gave a usable record on the {fetched} sampled pages: the shop may"
                           " need a custom spider (reader: custom, spider: module:Class)"]
    if base.selectors is not None:
        notes["selectors"] = [f"proposed from the sample pages' markup; they read "
                              f"{by_name['selectors'].usable} of {fetched} (check them)"]

    titles, texts = _titles_and_texts(pages, base)
    trade = propose_trade_names(titles, texts)
    spec = base.model_copy(update={"trade_names": trade.regex})
    if trade.regex:
        notes["trade_names"] = [f"PROPOSED, confirm: words recurring capitalised in {trade.titles} titles "
                                "and never in lower case: " + ", ".join(
                                    f"{n} x{trade.titles_with[n]}{'®' if n in trade.marked else ''}" for n in trade.names)]
    spec = CatalogSpec.model_validate(spec.model_dump())  # the schema's own checks
    return ProbeReport(spec, fetch, products, rows, spec_coverage(pages, spec), notes)


def fetch_root(fetch: ProbeFetch, url: str) -> str:
    """The root a crawl should start from: robots.txt when it names sitemaps, else the sitemap
    the probe found (the /sitemap.xml fallback included)."""
    roots = [n for n in fetch.sitemaps.values() if n.parent is None]
    for node in roots:
        if node.kind == "robots" and fetch.robots_has_sitemaps:
            return node.url
    fallback = [n.url for n in fetch.sitemaps.values() if n.kind in ("index", "urlset")
                and (n.parent is None or n.parent.endswith("/robots.txt"))]
    return fallback[0] if fallback else probe_roots(url)[0]


def check_spec(spec: CatalogSpec, fetch: ProbeFetch) -> ProbeReport:
    """The same measurements for a spec a person wrote (`--dry-run`)."""
    products = [u for u in fetch.listed if re.search(spec.product_url_pattern, u)]
    selectors = spec.selectors or propose_selectors(fetch.pages)[0]
    rows = reader_coverage(fetch.pages, selectors)
    return ProbeReport(spec, fetch, products, rows, spec_coverage(fetch.pages, spec), inferred=False)
