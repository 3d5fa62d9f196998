"""Generic product reading from schema.org markup: JSON-LD, microdata, OpenGraph.

Most shops publish these for search engines, so a catalog spec needs no selectors at all. Order:
the first schema.org Product in JSON-LD (plain object, `@graph`, top-level list, nested), else the
first microdata Product item; OpenGraph tags fill what is still missing (title, images,
description) or stand alone on pages that have nothing else.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from lxml import etree
from parsel import Selector

from ilid_ray.catalogs.record import ProductRecord
from ilid_ray.catalogs.text import (
    absolute_image_urls, blocks_from_text, dedupe, element_blocks, element_text, squash,
)

PRODUCT_TYPES = {"product", "productmodel", "individualproduct", "someproducts", "productgroup"}
MEDIA_SRC_TAGS = {"img", "audio", "video", "source", "embed", "iframe", "track"}
LINK_TAGS = {"a", "area", "link"}


# --------------------------------------------------------------------------- shared


def _type_names(value: Any) -> set[str]:
    """schema.org type names of a node: "Product", "schema:Product", "https://schema.org/Product"."""
    names = value if isinstance(value, list) else str(value or "").split()
    return {re.split(r"[/:#]", str(n))[-1].lower() for n in names if n}


def _text(value: Any) -> str | None:
    """A scalar-ish JSON-LD value as text: strings, numbers, {"@value"}, {"name"}, first of a list."""
    if isinstance(value, list):
        return next((t for t in (_text(v) for v in value) if t), None)
    if isinstance(value, dict):
        return _text(value.get("@value", value.get("name")))
    if isinstance(value, bool) or value is None:
        return None if value is None else str(value).lower()
    text = squash(str(value))
    return text or None


def _texts(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [t for t in (_text(v) for v in items) if t]


def _description_blocks(value: Any) -> list[str]:
    """description: text or HTML (paragraphs kept apart), {"@value"}, or a list of those."""
    if isinstance(value, list):
        return [b for v in value for b in _description_blocks(v)]
    if isinstance(value, dict):
        return _description_blocks(value.get("@value"))
    return blocks_from_text(value) if isinstance(value, str) else []


def _image_candidates(value: Any, ids: dict[str, dict] | None = None) -> list[str]:
    """image: URL string, ImageObject {url | contentUrl}, a {"@id"} reference to an ImageObject
    elsewhere in the document (Yoast/WooCommerce graphs), or a list of those."""
    if isinstance(value, list):
        return [u for v in value for u in _image_candidates(v, ids)]
    if isinstance(value, dict):
        ref = value.get("@id")
        if ref and not (value.get("url") or value.get("contentUrl")):
            target = (ids or {}).get(ref)
            if target is not None and target is not value:
                return _image_candidates(target, None)
            return [ref] if isinstance(ref, str) and "#" not in ref else []  # an IRI that is the image
        found = value.get("url") or value.get("contentUrl")
        return _image_candidates(found, ids) if found else []
    return [value] if isinstance(value, str) else []


def _property_rows(value: Any) -> list[str]:
    """additionalProperty PropertyValue items -> "name: value [unit]"."""
    rows = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            continue
        name, val = _text(item.get("name")), _text(item.get("value"))
        if name and val:
            unit = _text(item.get("unitText"))
            rows.append(f"{name}: {val} {unit}" if unit else f"{name}: {val}")
    return rows


def _record(label: Any, images: list[str], description: list[str], material: Any, colour: Any,
            rows: list[str], base: str, found_by: str) -> ProductRecord:
    data = [*description, *(f"Material: {m}" for m in _texts(material)),
            *(f"Color: {c}" for c in _texts(colour)), *rows]
    return ProductRecord(label=_text(label), image_urls=absolute_image_urls(images, base),
                         data=dedupe(data), found_by=found_by)


# --------------------------------------------------------------------------- JSON-LD


def _json_documents(selector: Selector) -> Iterator[Any]:
    for raw in selector.xpath('//script[contains(translate(@type, "LDJSON", "ldjson"), "ld+json")]/text()').getall():
        text = raw.strip()
        text = re.sub(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$", "", text)
        try:
            yield json.loads(text)
        except ValueError:
            continue  # a broken block must not hide a valid one elsewhere on the page


def _nodes(value: Any) -> Iterator[dict]:
    """Every JSON object in document order (depth first), @graph and nested values included."""
    if isinstance(value, list):
        for item in value:
            yield from _nodes(item)
    elif isinstance(value, dict):
        yield value
        for key, item in value.items():
            if key != "@context":
                yield from _nodes(item)


def read_jsonld(selector: Selector, base: str) -> ProductRecord | None:
    for document in _json_documents(selector):
        ids = {n["@id"]: n for n in _nodes(document) if isinstance(n.get("@id"), str) and len(n) > 1}
        for node in _nodes(document):
            if _type_names(node.get("@type")) & PRODUCT_TYPES:
                return _record(node.get("name"), _image_candidates(node.get("image"), ids),
                               _description_blocks(node.get("description")),
                               node.get("material"), node.get("color"),
                               _property_rows(node.get("additionalProperty")), base, "json-ld")
    return None


# --------------------------------------------------------------------------- microdata


def _microdata_value(element: etree._Element) -> Any:
    if element.get("itemscope") is not None:
        return _microdata_item(element)
    tag = element.tag.lower() if isinstance(element.tag, str) else ""
    if tag == "meta":
        return element.get("content", "")
    if tag in MEDIA_SRC_TAGS:
        src = element.get("src", "")
        return element.get("data-src", src) if not src or src.startswith("data:") else src
    if tag in LINK_TAGS:
        return element.get("href", "")
    if tag == "object":
        return element.get("data", "")
    if tag in ("data", "meter"):
        return element.get("value", "")
    if tag == "time" and element.get("datetime"):
        return element.get("datetime")
    return element


def _microdata_item(scope: etree._Element) -> dict[str, list[Any]]:
    """Properties of one itemscope; nested itemscopes keep their own properties."""
    props: dict[str, list[Any]] = {"@type": [scope.get("itemtype", "")]}

    def walk(element: etree._Element) -> None:
        for child in element:
            if not isinstance(child.tag, str):
                continue
            for name in (child.get("itemprop") or "").split():
                props.setdefault(name, []).append(_microdata_value(child))
            if child.get("itemscope") is None:
                walk(child)

    walk(scope)
    return props


def _as_text(value: Any) -> str | None:
    if isinstance(value, etree._Element):
        return element_text(value) or None
    if isinstance(value, dict):
        return _as_text((value.get("name") or [None])[0])
    return squash(str(value)) or None


def read_microdata(selector: Selector, base: str) -> ProductRecord | None:
    for scope in selector.xpath("//*[@itemscope][@itemtype]"):
        element = scope.root
        if not _type_names(element.get("itemtype")) & PRODUCT_TYPES:
            continue
        props = _microdata_item(element)
        description: list[str] = []
        for value in props.get("description", []):
            description += element_blocks(value) if isinstance(value, etree._Element) else blocks_from_text(str(value))
        rows = []
        for item in props.get("additionalProperty", []):
            if isinstance(item, dict):
                name = _as_text((item.get("name") or [None])[0])
                val = _as_text((item.get("value") or [None])[0])
                if name and val:
                    rows.append(f"{name}: {val}")
        images = [v for v in props.get("image", []) if isinstance(v, str)]
        images += [u for v in props.get("image", []) if isinstance(v, dict)  # nested ImageObject
                   for u in [*v.get("url", []), *v.get("contentUrl", [])] if isinstance(u, str)]
        label = next((t for t in (_as_text(v) for v in props.get("name", [])) if t), None)
        material = [t for t in (_as_text(v) for v in props.get("material", [])) if t]
        colour = [t for t in (_as_text(v) for v in props.get("color", [])) if t]
        return _record(label, images, description, material, colour, rows, base, "microdata")
    return None


# --------------------------------------------------------------------------- OpenGraph


def _meta(selector: Selector, *names: str) -> list[str]:
    values = []
    for name in names:
        values += selector.xpath(f'//meta[@property="{name}" or @name="{name}"]/@content').getall()
    return [v.strip() for v in values if v.strip()]


def read_opengraph(selector: Selector, base: str) -> ProductRecord | None:
    title = _meta(selector, "og:title")
    images = _meta(selector, "og:image", "og:image:url", "og:image:secure_url")
    description = [b for d in _meta(selector, "og:description") for b in blocks_from_text(d)]
    if not (title or images):
        return None
    return _record(title[0] if title else None, images, description, None, None, [], base, "opengraph")


def read_structured(selector: Selector, base: str) -> ProductRecord | None:
    """JSON-LD, else microdata; OpenGraph fills gaps. None if the page has none of them."""
    record = read_jsonld(selector, base) or read_microdata(selector, base)
    og = read_opengraph(selector, base)
    if record is None:
        return og
    if og is not None:
        record.label = record.label or og.label
        record.image_urls = record.image_urls or og.image_urls
        record.data = record.data or og.data
    return record
