"""Where a product page's parts sit, whatever the markup: site chrome to ignore, and the
attribute rows ("Material: stainless steel") of spec tables, definition lists and "key: value"
lists. Shared by every reader: the rows go into `data` on every page, so an attribute the shop
only shows in a `<dl>` still reaches the LLM.
"""

from __future__ import annotations

import re
from typing import Iterator

from lxml import etree
from parsel import Selector

from ilid_ray.catalogs.text import dedupe, element_text

CHROME_TAGS = {"nav", "aside", "script", "style", "noscript", "template"}
PAGE_BANDS = {"header", "footer"}  # chrome unless inside the main content (an article's own header)
MAIN_TAGS = {"main", "article"}
# class/id words of blocks that hold other products or site furniture, not the product
CHROME_WORDS = re.compile(
    r"related|recommend|upsell|up-sell|cross-?sell|similar|recently|also-?bought|also-?viewed|"
    r"newsletter|cookie|breadcrumb|mega-?menu|site-header|site-footer|minicart|mini-cart", re.I)
MAX_KEY_CHARS = 60
MAX_VALUE_CHARS = 300
_KEY_VALUE = re.compile(rf"^([^:\n]{{1,{MAX_KEY_CHARS}}}?)\s*:\s+(\S.*)$", re.S)


def is_chrome(element: etree._Element) -> bool:
    """Is the element inside site chrome (header, navigation, footer, sidebars, related-product
    or cookie blocks)? Such parts never describe the page's product."""
    ancestors = [a for a in (element, *element.iterancestors()) if isinstance(a.tag, str)]
    tags = [a.tag.lower() for a in ancestors]
    in_main = bool(MAIN_TAGS & set(tags))
    for node, tag in zip(ancestors, tags):
        if tag in ("body", "html"):
            break
        if tag in CHROME_TAGS or (tag in PAGE_BANDS and not in_main):
            return True
        if CHROME_WORDS.search(f"{node.get('class', '')} {node.get('id', '')}"):
            return True
    return False


def _row(key: str, value: str) -> str | None:
    key, value = key.strip().rstrip(":").strip(), value.strip()
    if not key or not value or key == value or len(key) > MAX_KEY_CHARS or len(value) > MAX_VALUE_CHARS:
        return None
    return f"{key}: {value}"


def _cells(row: etree._Element) -> list[str]:
    return [element_text(c) for c in row if isinstance(c.tag, str) and c.tag.lower() in ("th", "td")]


def _table_rows(selector: Selector) -> Iterator[str | None]:
    for match in selector.xpath("//table//tr"):
        cells = _cells(match.root)
        if len(cells) == 2:
            yield _row(*cells) if not is_chrome(match.root) else None


def _definition_rows(selector: Selector) -> Iterator[str | None]:
    for match in selector.xpath("//dl"):
        if is_chrome(match.root):
            continue
        key, values = None, []
        for child in (*match.root.iter("dt", "dd"), None):
            if child is None or child.tag == "dt":
                if key and values:
                    yield _row(key, ", ".join(values))
                key, values = (element_text(child), []) if child is not None else (None, [])
            elif key is not None:
                values.append(element_text(child))


def _list_rows(selector: Selector) -> Iterator[str | None]:
    for match in selector.xpath("//li"):
        found = _KEY_VALUE.match(element_text(match.root))
        if found and not is_chrome(match.root):
            yield _row(found.group(1), found.group(2))


def attribute_rows(selector: Selector) -> list[str]:
    """Every "key: value" row of the page's spec tables (two-cell rows), definition lists and
    list items written as "Key: value", outside site chrome, in page order per kind."""
    rows = [*_table_rows(selector), *_definition_rows(selector), *_list_rows(selector)]
    return dedupe(r for r in rows if r)
