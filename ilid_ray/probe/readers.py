"""How well each product reader does on sample pages, and CSS selectors proposed from the pages
(pure over HTML text).

Readers run through `ilid_ray.catalogs.reader.read_product`, the function the crawl uses, with a
spec that names the reader: `structured`, `heuristic` (when the spec schema has that reader) and
`selectors` with the selectors proposed here. A page is usable when its record has no `problem()`,
the crawl's own acceptance rule.
"""

from __future__ import annotations

import typing
from collections import Counter
from dataclasses import dataclass, field

from lxml import etree
from parsel import Selector

from ilid_ray.catalogs.reader import read_product
from ilid_ray.config import CatalogSpec, SelectorSpec

READERS = ("structured", "heuristic", "selectors")


@dataclass(frozen=True)
class Page:
    url: str
    html: str


@dataclass
class ReaderCoverage:
    reader: str
    available: bool = True
    usable: int = 0
    pages: int = 0
    problems: Counter = field(default_factory=Counter)  # reason -> pages
    note: str = ""


def spec_readers() -> tuple[str, ...]:
    """The readers a catalog spec accepts (the schema's `reader` choices)."""
    return typing.get_args(CatalogSpec.model_fields["reader"].annotation)


def reader_spec(reader: str, selectors: SelectorSpec | None = None) -> CatalogSpec:
    """A throwaway spec that makes read_product use just `reader` (no heuristic fallback)."""
    return CatalogSpec(name="probe", sitemap_urls=["https://probe.invalid/sitemap.xml"], reader=reader,
                       selectors=selectors if reader == "selectors" else None, heuristic_fallback=False)


def coverage_of(pages: list[Page], reader: str, spec: CatalogSpec | None) -> ReaderCoverage:
    result = ReaderCoverage(reader, available=spec is not None, pages=len(pages))
    for page in pages if spec is not None else []:
        try:
            problem = read_product(page.html, spec, page.url).problem()
        except ValueError as exc:  # a malformed selector: counted, never fatal
            problem = str(exc)
        if problem is None:
            result.usable += 1
        else:
            result.problems[problem] += 1
    return result


def reader_coverage(pages: list[Page], selectors: SelectorSpec | None) -> list[ReaderCoverage]:
    """One row per reader in READERS (unavailable ones say why)."""
    rows = []
    for reader in READERS:
        if reader not in spec_readers():
            spec, note = None, "not in this version's readers"
        elif reader == "selectors" and selectors is None:
            spec, note = None, "no selectors could be proposed"
        else:
            spec, note = reader_spec(reader, selectors), ""
        row = coverage_of(pages, reader, spec)
        row.note = note
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- proposed selectors


def css_step(element: etree._Element) -> str:
    """`tag.first-class` (or the bare tag) of an element."""
    classes = (element.get("class") or "").split()
    return f"{element.tag}.{classes[0]}" if classes else str(element.tag)


def _classed_ancestor(element: etree._Element, stop: etree._Element | None = None) -> etree._Element | None:
    for ancestor in element.iterancestors():
        if ancestor is stop or ancestor.tag in ("body", "html"):
            return None
        if ancestor.get("class"):
            return ancestor
    return None


def _page_candidate(page: Page) -> SelectorSpec | None:
    """Selectors read off one page: its first titled h1, the images and texts of the nearest
    classed block around it (site chrome such as related-product tiles lies outside it)."""
    tree = Selector(text=page.html)
    heading = next((h.root for h in tree.css("h1") if "".join(h.root.itertext()).strip()), None)
    if heading is None:
        return None
    block = next((a for a in heading.iterancestors() if a.get("class") and a.xpath(".//img")), None)
    if block is None or block.tag in ("body", "html"):
        return None
    scope = css_step(block)
    image = block.xpath(".//img")[0]
    holder = _classed_ancestor(image, stop=block)
    images = f"{scope} {css_step(holder)} img" if holder is not None else f"{scope} img"
    title = css_step(heading) + "::text"
    texts = [f"{scope} {tag}" for tag in ("p", "li") if block.xpath(f".//{tag}")]
    rows = f"{scope} table tr" if block.xpath(".//table//tr") else None
    return SelectorSpec(title=title, images=images, text_blocks=texts, attribute_rows=rows)


def propose_selectors(pages: list[Page]) -> tuple[SelectorSpec | None, int]:
    """The page-derived selectors that read the most sample pages, and how many they read."""
    votes = Counter(c.model_dump_json() for c in (_page_candidate(p) for p in pages) if c is not None)
    best, best_usable = None, 0
    for candidate in (SelectorSpec.model_validate_json(c) for c, _ in votes.most_common(5)):
        usable = coverage_of(pages, "selectors", reader_spec("selectors", candidate)).usable
        if usable > best_usable:
            best, best_usable = candidate, usable
    return best, best_usable
