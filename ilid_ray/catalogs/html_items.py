"""schema.org items written into the HTML itself (microdata, RDFa), as JSON-LD-like nodes.

Both syntaxes mark an element as an item (`itemscope itemtype=...` / `typeof=...`) and its
descendants as properties (`itemprop` / `property`); a nested item keeps its own properties. One
walker reads both and returns `{"@type": [...], "name": [...], ...}` dicts whose values are text,
URLs or nested dicts, so the JSON-LD record builder reads them like any other node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree
from parsel import Selector

from ilid_ray.catalogs.text import element_blocks, element_text

MEDIA_SRC_TAGS = {"img", "audio", "video", "source", "embed", "iframe", "track"}
LINK_TAGS = {"a", "area", "link"}
BLOCK_PROPERTIES = {"description"}  # read as paragraphs ("\n\n"-joined), not as one line


@dataclass(frozen=True)
class Dialect:
    name: str  # the `found_by` of a record read from it
    item_xpath: str  # elements that start an item
    type_attribute: str
    property_attribute: str

    def is_item(self, element: etree._Element) -> bool:
        if self.name == "microdata":
            return element.get("itemscope") is not None
        return element.get("typeof") is not None

    def properties(self, element: etree._Element) -> list[str]:
        """Property names without vocabulary prefixes ("schema:name", "http://schema.org/name")."""
        names = (element.get(self.property_attribute) or "").split()
        return [re.split(r"[/:#]", n)[-1] for n in names if n]


MICRODATA = Dialect("microdata", "//*[@itemscope][@itemtype]", "itemtype", "itemprop")
RDFA = Dialect("rdfa", "//*[@typeof]", "typeof", "property")


def _src(element: etree._Element) -> str:
    src = element.get("src", "")
    return element.get("data-src", src) if not src or src.startswith("data:") else src


def _value(element: etree._Element, name: str, dialect: Dialect) -> Any:
    if dialect.is_item(element):
        return item(element, dialect)
    tag = element.tag.lower() if isinstance(element.tag, str) else ""
    if element.get("content") is not None and (dialect is RDFA or tag == "meta"):
        return element.get("content", "")
    if dialect is RDFA and element.get("resource"):
        return element.get("resource")
    if tag in MEDIA_SRC_TAGS:
        return _src(element)
    if tag in LINK_TAGS:
        return element.get("href", "")
    if tag == "object":
        return element.get("data", "")
    if tag in ("data", "meter"):
        return element.get("value", "")
    if tag == "time" and element.get("datetime"):
        return element.get("datetime")
    if name in BLOCK_PROPERTIES:
        return "\n\n".join(element_blocks(element))
    return element_text(element)


def item(scope: etree._Element, dialect: Dialect) -> dict[str, list[Any]]:
    """Properties of one item; nested items keep their own properties."""
    props: dict[str, list[Any]] = {"@type": (scope.get(dialect.type_attribute) or "").split()}

    def walk(element: etree._Element) -> None:
        for child in element:
            if not isinstance(child.tag, str):
                continue
            names = dialect.properties(child)
            for name in names:
                props.setdefault(name, []).append(_value(child, name, dialect))
            if not dialect.is_item(child):
                walk(child)

    walk(scope)
    return props


def top_items(selector: Selector, dialect: Dialect) -> list[dict[str, list[Any]]]:
    """Every item of the page in document order (nested ones too: a Product may sit inside a
    WebPage item)."""
    return [item(match.root, dialect) for match in selector.xpath(dialect.item_xpath)]
