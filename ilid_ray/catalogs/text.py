"""Turning markup into clean text blocks: shared by the structured and the selector readers."""

from __future__ import annotations

import html
import re
from typing import Iterable
from urllib.parse import urljoin, urlsplit

from lxml import etree
from parsel import Selector

_BLOCK_BREAK = re.compile(
    r"<\s*(?:br\s*/?|/\s*(?:p|div|li|ul|ol|h[1-6]|tr|table|section|article|dd|dt|blockquote))\s*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_PARAGRAPHS = re.compile(r"\n\s*\n")


def squash(text: str) -> str:
    """Collapse whitespace runs (newlines and tabs included) to single spaces and strip."""
    return _SPACE.sub(" ", text).strip()


def looks_like_html(text: str) -> bool:
    return bool(re.search(r"<\s*/?\s*[a-zA-Z][^>]*>", text))


def blocks_from_text(text: str) -> list[str]:
    """A text that may hold HTML or blank-line separated paragraphs -> one block per paragraph."""
    if looks_like_html(text):
        text = _TAG.sub(" ", _BLOCK_BREAK.sub("\n\n", text))
    text = html.unescape(text)
    return [b for b in (squash(p) for p in _PARAGRAPHS.split(text)) if b]


def element_blocks(element: etree._Element) -> list[str]:
    """Text blocks of an element: one per paragraph/list item, or its whole text."""
    markup = etree.tostring(element, encoding="unicode", method="html", with_tail=False)
    return blocks_from_text(markup)


def element_text(element: etree._Element) -> str:
    return squash("".join(element.itertext()))


def dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out


def base_url(selector: Selector, url: str) -> str:
    """The page's base for relative links (<base href> wins over the page URL)."""
    href = selector.xpath("//base/@href").get()
    return urljoin(url, href.strip()) if href else url


def absolute_image_urls(candidates: Iterable[str], base: str) -> list[str]:
    """Resolve against the base, keep http(s) only (no data:, javascript:, ...), drop duplicates."""
    out = []
    for candidate in candidates:
        candidate = (candidate or "").strip()
        if not candidate:
            continue
        absolute = urljoin(base, candidate)
        if urlsplit(absolute).scheme in ("http", "https"):
            out.append(absolute)
    return dedupe(out)
