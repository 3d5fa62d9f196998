"""Product reading with the declarative CSS/XPath selectors of a catalog spec (`SelectorSpec`).

For shops without schema.org markup. A selector may return text or attribute values (`::text`,
`::attr(src)`, `//p/text()`, `//img/@src`) or elements; an element gives its text blocks (one per
paragraph or list item), an image element its `src` (or `data-src`/`href`).
"""

from __future__ import annotations

from parsel import Selector, SelectorList

from ilid_ray.catalogs.record import ProductRecord
from ilid_ray.catalogs.text import absolute_image_urls, blocks_from_text, dedupe, element_blocks, squash
from ilid_ray.config import SelectorSpec

XPATH_PREFIXES = ("/", "./", "(", "..")
IMAGE_ATTRIBUTES = ("data-zoom", "data-src", "src", "href", "content")


def is_xpath(query: str) -> bool:
    return query.lstrip().startswith(XPATH_PREFIXES)


def select(selector: Selector, query: str) -> SelectorList:
    """Apply one spec selector; a malformed one raises ValueError naming it."""
    try:
        return selector.xpath(query) if is_xpath(query) else selector.css(query)
    except Exception as exc:  # noqa: BLE001 - parsel raises several types for bad expressions
        raise ValueError(f"bad selector {query!r}: {exc}") from exc


def _is_value(match: Selector) -> bool:
    """Text nodes and attribute values come back as strings, elements as lxml elements."""
    return isinstance(match.root, str)


def _blocks(match: Selector) -> list[str]:
    if _is_value(match):
        return blocks_from_text(match.root)
    return element_blocks(match.root)


def _image_value(match: Selector) -> str | None:
    if _is_value(match):
        return match.root
    return next((match.root.get(a) for a in IMAGE_ATTRIBUTES if match.root.get(a)), None)


def _joined(selection: SelectorList) -> str:
    return squash(" ".join(" ".join(_blocks(m)) for m in selection))


def attribute_rows(selector: Selector, spec: SelectorSpec) -> list[str]:
    """Each row matched by `attribute_rows` -> "key: value" (rows without both are skipped)."""
    rows = []
    for row in select(selector, spec.attribute_rows) if spec.attribute_rows else []:
        key = _joined(select(row, spec.attribute_key)).rstrip(":").strip()
        value = _joined(select(row, spec.attribute_value))
        if key and value and key != value:
            rows.append(f"{key}: {value}")
    return rows


def read_with_selectors(selector: Selector, base: str, spec: SelectorSpec) -> ProductRecord:
    label = _joined(select(selector, spec.title)) or None
    images = absolute_image_urls((_image_value(m) or "" for m in select(selector, spec.images)), base)
    blocks = [b for query in spec.text_blocks for m in select(selector, query) for b in _blocks(m)]
    return ProductRecord(label=label, image_urls=images,
                         data=dedupe([*blocks, *attribute_rows(selector, spec)]), found_by="selectors")
