"""The generic reader for product pages without product markup (`found_by: heuristic`).

Title: the product heading (an `<h1>` outside site chrome; several: the one the page title
agrees with), checked against `<title>` / `og:title`; without a heading, the page title less its
" | Shop name" part. Image: every `<img>` outside chrome scored by gallery conventions (container
class/id, `itemprop=image`, zoom/hi-res attributes), alt text agreeing with the title, declared
size and position; logos, icons, badges and sprites lose. Text: the paragraphs of the
description container, else of the main content.
"""

from __future__ import annotations

import json
import re

from lxml import etree
from parsel import Selector

from ilid_ray.catalogs.page_parts import is_chrome
from ilid_ray.catalogs.record import ProductRecord
from ilid_ray.catalogs.text import absolute_image_urls, dedupe, element_blocks, element_text, squash

GALLERY_WORDS = re.compile(r"gallery|product[-_]?(?:image|media|photo|img)|zoom|main[-_]?image|"
                           r"pdp|fotorama|swiper|slider|carousel|landing|hero|primary[-_]?image", re.I)
# site furniture, never a product photo (not "star" or "seal": star knobs and seals are products)
NOT_PRODUCT_WORDS = re.compile(r"logo|icon|sprite|badge|payment|avatar|rating|placeholder|spinner|"
                               r"loader|tracking-pixel|banner", re.I)
DESCRIPTION_WORDS = re.compile(r"description|product[-_]?(?:info|detail|text|copy|content)|"
                               r"long[-_]?text|pdp[-_]?text|overview|details", re.I)
# the hi-res image first: zoom / large attributes of gallery scripts, then lazy-load, then src
IMAGE_ATTRIBUTES = ("data-zoom-image", "data-zoom", "data-large_image", "data-large", "data-full",
                    "data-old-hires", "data-hires", "data-original", "data-src", "data-lazy-src", "src")
TITLE_SEPARATORS = re.compile(r"\s+[|–—·:»]\s+|\s+-\s+")
_WORDS = re.compile(r"\w+")
MIN_TEXT_CHARS = 25
MAX_TEXT_BLOCKS = 20


def _words(text: str) -> set[str]:
    return {w for w in _WORDS.findall(text.lower()) if len(w) > 1}


def agreement(text: str, reference: str) -> float:
    """Share of `text`'s words that `reference` has too (0 when either is empty)."""
    words, ref = _words(text), _words(reference)
    return len(words & ref) / len(words) if words and ref else 0.0


def page_titles(selector: Selector) -> list[str]:
    metas = '//meta[@property="og:title" or @name="og:title" or @name="twitter:title"]/@content'
    values = [*selector.xpath("//title/text()").getall(), *selector.xpath(metas).getall()]
    return [squash(v) for v in values if squash(v)]


def strip_site_name(title: str) -> str:
    """"Hinge 40x40 | ACME Shop" -> "Hinge 40x40": the longest part between separators."""
    return max(TITLE_SEPARATORS.split(title), key=len).strip()


def product_title(selector: Selector) -> str | None:
    titles = page_titles(selector)
    headings = [(element_text(m.root), m.root) for m in selector.xpath("//h1")]
    headings = [(text, h) for text, h in headings if text and not is_chrome(h)]
    if headings:
        reference = " ".join(titles)
        return max(headings, key=lambda th: (agreement(th[0], reference), -headings.index(th)))[0]
    return strip_site_name(titles[0]) if titles else None


def _srcset_largest(srcset: str) -> str | None:
    best, best_width = None, -1.0
    for part in srcset.split(","):
        bits = part.split()
        if not bits:
            continue
        width = float(re.sub(r"[^\d.]", "", bits[1]) or 0) if len(bits) > 1 else 0.0
        if width > best_width:
            best, best_width = bits[0], width
    return best


def image_url(img: etree._Element) -> str | None:
    """The best URL of an <img>: zoom/hi-res attributes, a zoom link around it, the largest srcset
    entry, the lazy-load source, src (never a data: placeholder)."""
    dynamic = img.get("data-a-dynamic-image")  # marketplaces: {"url": [w, h], ...}
    if dynamic:
        try:
            sizes = json.loads(dynamic)
            return max(sizes, key=lambda u: sizes[u][0] * sizes[u][1])
        except (ValueError, TypeError, IndexError, KeyError):
            pass
    for attribute in IMAGE_ATTRIBUTES[:-2]:
        if img.get(attribute):
            return img.get(attribute)
    parent = img.getparent()
    href = parent.get("href", "") if parent is not None and parent.tag == "a" else ""
    if re.search(r"\.(?:jpe?g|png|webp|avif)(?:\?|$)", href, re.I):
        return href
    srcset = img.get("data-srcset") or img.get("srcset")
    if srcset and _srcset_largest(srcset):
        return _srcset_largest(srcset)
    for attribute in IMAGE_ATTRIBUTES[-2:]:
        value = img.get(attribute) or ""
        if value and not value.startswith("data:"):
            return value
    return None


def is_site_image(url: str) -> bool:
    """A logo, icon, badge or placeholder by its URL (a site-wide og:image is often the logo)."""
    return bool(NOT_PRODUCT_WORDS.search(url.split("?")[0].rsplit("/", 1)[-1]))


def _declared_size(img: etree._Element) -> int | None:
    sizes = [int(v) for v in (img.get("width", ""), img.get("height", "")) if v.isdigit()]
    return max(sizes) if sizes else None


def _image_score(img: etree._Element, url: str, title: str, position: int) -> float:
    score = -0.1 * position
    context = [img, *list(img.iterancestors())[:6]]
    if any(GALLERY_WORDS.search(f"{a.get('class', '')} {a.get('id', '')}") for a in context):
        score += 3
    if img.get("itemprop") == "image":
        score += 3
    score += 2 * agreement(img.get("alt") or img.get("title") or "", title)
    size = _declared_size(img)
    if size is not None:
        score += 2 if size >= 300 else (-3 if size < 100 else 0)
    if NOT_PRODUCT_WORDS.search(f"{url} {img.get('class', '')} {img.get('id', '')} {img.get('alt', '')}"):
        score -= 5
    if url.lower().split("?")[0].endswith((".svg", ".gif")):
        score -= 4
    return score


def _gallery(img: etree._Element) -> etree._Element | None:
    return next((a for a in img.iterancestors() if GALLERY_WORDS.search(f"{a.get('class', '')} {a.get('id', '')}")),
                None)


def product_images(selector: Selector, base: str, title: str) -> list[str]:
    """The main product image first, then the other images of its gallery."""
    candidates = []
    for position, match in enumerate(m for m in selector.xpath("//img") if not is_chrome(m.root)):
        url = image_url(match.root)
        if url:
            candidates.append((_image_score(match.root, url, title, position), position, match.root, url))
    if not candidates:
        return []
    best = max(candidates, key=lambda c: (c[0], -c[1]))
    if best[0] < -2:
        return []  # only logos, icons and spacers
    gallery = _gallery(best[2])
    others = [c[3] for c in candidates if gallery is not None and c is not best and gallery in c[2].iterancestors()]
    return absolute_image_urls([best[3], *others], base)


def text_blocks(selector: Selector) -> list[str]:
    containers = [m.root for m in selector.xpath("//*[@class or @id]")
                  if DESCRIPTION_WORDS.search(f"{m.root.get('class', '')} {m.root.get('id', '')}")
                  and not is_chrome(m.root)]
    if not containers:
        containers = [m.root for m in selector.xpath("//main | //article")][:1]
    blocks = [b for c in containers for b in element_blocks(c)]
    return dedupe(b for b in blocks if len(b) >= MIN_TEXT_CHARS)[:MAX_TEXT_BLOCKS]


def read_heuristic(selector: Selector, base: str) -> ProductRecord:
    title = product_title(selector)
    return ProductRecord(label=title, image_urls=product_images(selector, base, title or ""),
                         data=text_blocks(selector), found_by="heuristic")
