"""Generic product reading from schema.org markup: JSON-LD, microdata, RDFa, OpenGraph.

Most shops publish these for search engines, so a catalog spec needs no selectors at all. Order:
the main schema.org Product in JSON-LD (every block of the page, read leniently; plain object,
`@graph`, top-level list, nested; `@id` references resolved across blocks), else the first
microdata Product item, else the first RDFa one; OpenGraph tags fill what is still missing
(title, images, description) or stand alone on pages that have nothing else.
"""

from __future__ import annotations

import html
import re
from typing import Any, Iterator
from urllib.parse import urljoin

from parsel import Selector

from ilid_ray.catalogs.html_items import MICRODATA, RDFA, Dialect, top_items
from ilid_ray.catalogs.lenient_json import load_block
from ilid_ray.catalogs.record import ProductRecord
from ilid_ray.catalogs.text import absolute_image_urls, blocks_from_text, dedupe, squash

PRODUCT_TYPES = {"product", "productmodel", "individualproduct", "someproducts", "productgroup"}


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
    text = squash(html.unescape(str(value)))  # shop plug-ins write "&amp;", "&#8211;" into JSON-LD
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

LD_SCRIPTS = '//script[contains(translate(@type, "LDJSON", "ldjson"), "ld+json")]/text()'


def jsonld_documents(selector: Selector) -> list[tuple[Any, str]]:
    """Every JSON-LD block of the page that some parser reads, with that parser's name."""
    loaded = (load_block(raw) for raw in selector.xpath(LD_SCRIPTS).getall())
    return [block for block in loaded if block is not None]


def json_nodes(value: Any) -> Iterator[dict]:
    """Every JSON object in document order (depth first), @graph and nested values included."""
    if isinstance(value, list):
        for item in value:
            yield from json_nodes(item)
    elif isinstance(value, dict):
        yield value
        for key, item in value.items():
            if key != "@context":
                yield from json_nodes(item)


def _id_index(nodes: list[dict]) -> dict[str, dict]:
    """@id -> the node, with every node of that @id merged in (shops split one product over
    several blocks; the first value of a property wins)."""
    ids: dict[str, dict] = {}
    for node in nodes:
        ref = node.get("@id")
        if isinstance(ref, str) and len(node) > 1:
            merged = ids.setdefault(ref, {})
            for key, value in node.items():
                merged.setdefault(key, value)
    return ids


def _is_product(node: dict) -> bool:
    return bool(_type_names(node.get("@type")) & PRODUCT_TYPES)


def _main_product(nodes: list[dict], ids: dict[str, dict]) -> dict | None:
    """The page's product: the first with a name and an image, else with a name, else the first
    (related products and variants come later or lack a name). A product group without its own
    name or image borrows them from its first variant."""
    products = [ids.get(n["@id"], n) if isinstance(n.get("@id"), str) else n for n in nodes if _is_product(n)]
    variants = {id(v) for p in products for v in json_nodes(p.get("hasVariant")) if v is not p}
    products = [p for p in products if id(p) not in variants] or products
    if not products:
        return None
    named = [p for p in products if _text(p.get("name"))]
    product = next((p for p in named if p.get("image")), named[0] if named else products[0])
    variant = next((v for v in json_nodes(product.get("hasVariant")) if _is_product(v)), None)
    if variant is not None:
        product = {**{k: v for k, v in variant.items() if k in ("name", "image", "material", "color")},
                   **{k: v for k, v in product.items() if v}}
    return product


def page_licence(selector: Selector, base: str) -> str | None:
    """The page's `<link rel="license">` / `<a rel="license">` target, absolute; None without one."""
    href = selector.xpath('//*[self::link or self::a][contains(concat(" ", normalize-space(@rel), " "),'
                          ' " license ")]/@href').get()
    return urljoin(base, squash(href)) if href and squash(href) else None


def _name_or_url(value: Any) -> str | None:
    """A license / holder value: text, or a CreativeWork / Organization node (its URL, else name)."""
    if isinstance(value, list):
        return next((t for t in (_name_or_url(v) for v in value) if t), None)
    if isinstance(value, dict):
        return _text(value.get("url") or value.get("@id") or value.get("name"))
    return _text(value)


def rights_text(licence: str | None, holder: str | None) -> str | None:
    """One line, "license: ...; copyright: ...", recorded with every sample; None when neither."""
    parts = [*([f"license: {licence}"] if licence else []), *([f"copyright: {holder}"] if holder else [])]
    return "; ".join(parts) or None


def _rights(node: dict, ids: dict[str, dict], selector: Selector, base: str) -> str | None:
    """The product's (or its image's) schema.org license / copyrightHolder, else the page's
    licence link."""
    images = [ids.get(i.get("@id"), i) if isinstance(i.get("@id"), str) else i
              for i in json_nodes(node.get("image"))]
    licence = next((t for t in (_name_or_url(n.get("license")) for n in (node, *images)) if t), None)
    holder = next((t for t in (_name_or_url(n.get("copyrightHolder")) for n in (node, *images)) if t), None)
    return rights_text(licence or page_licence(selector, base), holder)


def record_from_node(node: dict, ids: dict[str, dict], selector: Selector, base: str,
                     found_by: str) -> ProductRecord:
    """One schema.org Product node (JSON-LD, or a microdata / RDFa item) -> ProductRecord."""
    record = _record(node.get("name"), _image_candidates(node.get("image"), ids),
                     _description_blocks(node.get("description")), node.get("material"), node.get("color"),
                     _property_rows(node.get("additionalProperty")), base, found_by)
    record.rights = _rights(node, ids, selector, base)
    return record


def read_jsonld(selector: Selector, base: str) -> ProductRecord | None:
    nodes = [n for document, _ in jsonld_documents(selector) for n in json_nodes(document)]
    ids = _id_index(nodes)
    product = _main_product(nodes, ids)
    return record_from_node(product, ids, selector, base, "json-ld") if product is not None else None


# --------------------------------------------------------------------------- microdata, RDFa


def read_html_items(selector: Selector, base: str, dialect: Dialect) -> ProductRecord | None:
    nodes = top_items(selector, dialect)
    product = _main_product(nodes, {})
    return record_from_node(product, {}, selector, base, dialect.name) if product is not None else None


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
    """JSON-LD, else microdata, else RDFa; OpenGraph fills gaps. None if the page has none."""
    record = (read_jsonld(selector, base) or read_html_items(selector, base, MICRODATA)
              or read_html_items(selector, base, RDFA))
    og = read_opengraph(selector, base)
    if record is None:
        return og
    if og is not None:
        record.label = record.label or og.label
        record.image_urls = record.image_urls or og.image_urls
        record.data = record.data or og.data
    return record
