"""The licence / rights statement of a product page, where its markup gives one.

Sources, first found wins per part: schema.org `license` and `copyrightHolder` of the JSON-LD
Product (else of any JSON-LD node, e.g. the WebPage or an ImageObject), microdata
`itemprop="license"`, and `<link rel="license" href>` / `<a rel="license" href>`. The result is one
short string, "license: <url or name>; copyright: <holder>", recorded with every sample so its
terms stay known; None when the page says nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from parsel import Selector

from ilid_ray.catalogs.structured import PRODUCT_TYPES, _json_documents, _nodes, _text, _type_names


def _name_or_url(value: Any) -> str | None:
    """A license / holder value: a string, or a CreativeWork / Organization / Person node."""
    if isinstance(value, list):
        return next((t for t in (_name_or_url(v) for v in value) if t), None)
    if isinstance(value, dict):
        return _text(value.get("url") or value.get("@id") or value.get("name"))
    return _text(value)


def rights_from_jsonld(node: dict[str, Any]) -> str | None:
    """"license: ...; copyright: ..." from one parsed JSON-LD node (either part may be missing)."""
    return join_rights(_name_or_url(node.get("license")), _name_or_url(node.get("copyrightHolder")))


def join_rights(license: str | None, holder: str | None) -> str | None:
    parts = [f"license: {license}" if license else None, f"copyright: {holder}" if holder else None]
    return "; ".join(p for p in parts if p) or None


def rights_from_page(page, url: str | None = None) -> str | None:
    """The rights statement of a page (a Scrapy TextResponse, a parsel Selector or HTML text)."""
    if isinstance(page, str):
        selector = Selector(text=page)
    elif isinstance(page, Selector):
        selector = page
    elif hasattr(page, "selector"):
        selector, url = page.selector, url or page.url
    else:
        return None  # not a text response
    nodes = [n for document in _json_documents(selector) for n in _nodes(document)]
    products = [n for n in nodes if _type_names(n.get("@type")) & PRODUCT_TYPES]
    license = holder = None
    for node in [*products, *nodes]:
        license = license or _name_or_url(node.get("license"))
        holder = holder or _name_or_url(node.get("copyrightHolder"))
    license = license or _first_link(selector, url) or _text(selector.xpath(
        '//*[@itemprop="license"]/@href | //*[@itemprop="license"]/@content').get())
    return join_rights(license, holder)


def _first_link(selector: Selector, url: str | None) -> str | None:
    href = selector.xpath('//link[contains(concat(" ", normalize-space(@rel), " "), " license ")]/@href'
                          ' | //a[contains(concat(" ", normalize-space(@rel), " "), " license ")]/@href').get()
    return (urljoin(url, href.strip()) if url else href.strip()) if href and href.strip() else None
