"""HTML, JSON, robots.txt and sitemap text of the fixture catalogs.

Product pages come in the markup styles real shops use: `jsonld` (schema.org Product JSON-LD, in
three shapes: plain object, @graph, top-level list), `microdata` (itemprop microdata plus OpenGraph
meta tags), `selectors` (plain HTML that needs the spec's CSS/XPath selectors) and `custom` (an
empty shell whose data comes from a JSON endpoint, for a custom spider). Every page also carries
site chrome (navigation, related products) that a reader must not mistake for the product.
"""

from __future__ import annotations

import json
from html import escape
from typing import Sequence

from ilid_ray.testing.products import Brand, Product

OFFER = {"@type": "Offer", "priceCurrency": "EUR", "availability": "https://schema.org/InStock"}


def _head(title: str | None, extra: str = "") -> str:
    title_tag = f"<title>{escape(title)}</title>" if title else ""
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{title_tag}{extra}</head>'


def _chrome(brand: Brand, related: Sequence[str]) -> tuple[str, str]:
    """Header and footer every page shares; related images are NOT product images."""
    header = (f'<header><div class="logo">{escape(brand.name)} Standard Parts</div><nav>'
              '<a href="/">Home</a> <a href="/about.html">About</a> <a href="/cart/">Cart</a></nav></header>')
    tiles = "".join(f'<div class="tile"><img src="{escape(u)}" alt="related product"></div>' for u in related)
    footer = (f'<aside class="related"><h2>Customers also bought</h2>{tiles}</aside>'
              f'<footer>&copy; {escape(brand.name)} GmbH. All prices plus VAT.</footer></body></html>')
    return header, footer


def jsonld_page(p: Product, brand: Brand, images: Sequence[str], related: Sequence[str],
                with_title: bool = True) -> str:
    product: dict = {"@type": "Product", "sku": p.part_number, "mpn": p.part_number,
                     "brand": {"@type": "Brand", "name": brand.name},
                     "material": p.material_spec, "color": p.finish,
                     "offers": dict(OFFER, price=f"{10 + p.index % 90}.50",
                                    seller={"@type": "Organization", "name": f"{brand.name} GmbH"}),
                     "additionalProperty": [{"@type": "PropertyValue", "name": k, "value": v}
                                            for k, v in p.attributes]}
    shape = p.index % 3
    if with_title:
        product["name"] = p.title
    if images:
        if shape == 2:
            product["image"] = [{"@type": "ImageObject", "url": u} for u in images]
        else:
            product["image"] = images[0] if len(images) == 1 else list(images)
    if shape == 1:  # shop systems that put HTML into the description
        product["description"] = "".join(f"<p>{escape(t)}</p>" for t in p.description)
    else:
        product["description"] = "\n\n".join(p.description)
    crumbs = {"@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": 1, "name": "Home", "item": "/"},
        {"@type": "ListItem", "position": 2, "name": p.family.title(), "item": f"/category/{p.family}"}]}
    if shape == 0:
        document: object = dict(product, **{"@context": "https://schema.org"})
    elif shape == 1:
        document = {"@context": "https://schema.org", "@graph": [
            {"@type": "WebPage", "name": f"{brand.name} shop"}, crumbs, product]}
    else:
        document = [{"@context": "https://schema.org", "@type": "Organization", "name": brand.name},
                    dict(product, **{"@context": "https://schema.org"})]
    script = json.dumps(document, ensure_ascii=False).replace("</", "<\\/")
    header, footer = _chrome(brand, related)
    heading = f"<h2 class='pdp-name'>{escape(p.title)}</h2>" if with_title else ""
    body = (f'{heading}<div class="pdp-text">{"".join(f"<p>{escape(t)}</p>" for t in p.description)}</div>')
    return (_head(p.title if with_title else None, f'<script type="application/ld+json">{script}</script>')
            + f"<body>{header}<main>{body}</main>{footer}")


def microdata_page(p: Product, brand: Brand, images: Sequence[str], related: Sequence[str],
                   with_title: bool = True) -> str:
    og = '<meta property="og:type" content="product">'
    if with_title:
        og += f'<meta property="og:title" content="{escape(p.title)}">'
    og += "".join(f'<meta property="og:image" content="{escape(u)}">' for u in images)
    og += f'<meta property="og:description" content="{escape(p.description[0])}">'
    name = f'<h1 itemprop="name">{escape(p.title)}</h1>' if with_title else "<h1></h1>"
    gallery = "".join(f'<img itemprop="image" src="{escape(u)}" alt="product photo">' for u in images)
    rows = "".join(
        f'<tr itemprop="additionalProperty" itemscope itemtype="https://schema.org/PropertyValue">'
        f'<th itemprop="name">{escape(k)}</th><td itemprop="value">{escape(v)}</td></tr>'
        for k, v in p.attributes)
    features = "".join(f"<li>{escape(f)}</li>" for f in p.features)
    item = (f'<div itemscope itemtype="https://schema.org/Product">{name}'
            f'<div class="gallery">{gallery}</div>'
            f'<meta itemprop="sku" content="{escape(p.part_number)}">'
            f'<div itemprop="brand" itemscope itemtype="https://schema.org/Brand">'
            f'<span itemprop="name">{escape(brand.name)}</span></div>'
            f'<div itemprop="description">{"".join(f"<p>{escape(t)}</p>" for t in p.description)}</div>'
            f'<ul class="features">{features}</ul>'
            f'<meta itemprop="material" content="{escape(p.material_spec)}">'
            f'<meta itemprop="color" content="{escape(p.finish)}">'
            f'<table class="attributes">{rows}</table>'
            f'<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
            f'<span itemprop="name">Standard delivery</span><meta itemprop="price" content="12.90">'
            f'<meta itemprop="priceCurrency" content="EUR"></div></div>')
    header, footer = _chrome(brand, related)
    return _head(p.title if with_title else None, og) + f"<body>{header}<main>{item}</main>{footer}"


def selectors_page(p: Product, brand: Brand, images: Sequence[str], related: Sequence[str],
                   with_title: bool = True) -> str:
    title = f'<h1 class="product-title"> {escape(p.title)} </h1>' if with_title else ""
    gallery = "".join(f'<a href="{escape(u)}"><img src="{escape(u)}" data-zoom="{escape(u)}" '
                      f'alt="zoom"></a>' for u in images)
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in p.attributes)
    features = "".join(f"<li>{escape(f)}</li>" for f in p.features)
    main = (f'<div class="product-detail">{title}<div class="gallery">{gallery}</div>'
            f'<div class="product-description">{"".join(f"<p>{escape(t)}</p>" for t in p.description)}</div>'
            f'<ul class="features">{features}</ul><h3>Technical data</h3>'
            f'<table class="specs"><tbody>{rows}</tbody></table></div>')
    header, footer = _chrome(brand, related)
    return _head(p.title if with_title else None) + f"<body>{header}<main>{main}</main>{footer}"


def custom_shell(p: Product, brand: Brand, api_path: str, related: Sequence[str]) -> str:
    """A single-page-app shell: the product data is only in the JSON behind data-product-api."""
    header, footer = _chrome(brand, related)
    app = (f'<div id="product-app" data-product-api="{escape(api_path)}">'
           "<noscript>Please enable JavaScript to view this product.</noscript></div>")
    return _head(f"{brand.name} shop") + f"<body>{header}<main>{app}</main>{footer}"


def custom_api(p: Product, images: Sequence[str], with_title: bool = True) -> bytes:
    payload: dict = {
        "id": p.index, "sku": p.part_number,
        "media": [{"kind": "image", "src": u, "alt": "product photo"} for u in images],
        "description_html": "".join(f"<p>{escape(t)}</p>" for t in p.description),
        "bullets": list(p.features),
        "specs": [{"label": k, "value": v} for k, v in p.attributes],
    }
    if with_title:
        payload["title"] = p.title
    return json.dumps(payload, ensure_ascii=False).encode()


def info_page(brand: Brand, title: str, paragraphs: Sequence[str], links: Sequence[str] = ()) -> str:
    header, footer = _chrome(brand, ())
    items = "".join(f'<li><a href="{escape(u)}">{escape(u)}</a></li>' for u in links)
    text = "".join(f"<p>{escape(t)}</p>" for t in paragraphs)
    return _head(title) + f"<body>{header}<main><h1>{escape(title)}</h1>{text}<ul>{items}</ul></main>{footer}"


def not_an_image_page() -> bytes:
    return b"<!DOCTYPE html><html><body><h1>Image temporarily unavailable</h1></body></html>"


def robots_txt(sitemap_url: str, disallow: Sequence[str]) -> str:
    lines = ["# robots.txt of a fixture catalog", "User-agent: *",
             *(f"Disallow: {path}" for path in disallow), "Crawl-delay: 0", "", f"Sitemap: {sitemap_url}", ""]
    return "\n".join(lines)


def sitemap_index(locs: Sequence[str]) -> str:
    items = "".join(f"<sitemap><loc>{escape(u)}</loc><lastmod>2026-11-01</lastmod></sitemap>" for u in locs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>\n')


def urlset(locs: Sequence[str]) -> str:
    items = "".join(f"<url><loc>{escape(u)}</loc><lastmod>2026-11-01</lastmod>"
                    "<changefreq>weekly</changefreq></url>" for u in locs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>\n')
