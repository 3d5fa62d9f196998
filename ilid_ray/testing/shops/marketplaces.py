"""Product pages of large marketplaces and of small shops without any schema.org markup."""

from __future__ import annotations

import json

from ilid_ray.testing.shops.html import (
    Page, definition_list, e, head, ld_product, ld_script, og_tags, page_html, paragraphs, spec_table,
)


# --------------------------------------------------------------------------- marketplaces


def amazon_like(page: Page) -> str:
    """No product schema; the title in #productTitle, the main image #landingImage with its hi-res
    URL in data-old-hires and data-a-dynamic-image, sponsored products and sprites all around."""
    p = page.product
    dynamic = json.dumps({page.thumb(page.images[0], "SX300"): [300, 300], page.images[0]: [1500, 1500]})
    bullets = "".join(f'<li><span class="a-list-item">{e(f)}</span></li>' for f in p.features)
    overview = "".join(f'<tr class="a-spacing-small"><td class="a-span3"><span class="a-text-bold">{e(k)}</span></td>'
                       f'<td class="a-span9"><span class="po-break-word">{e(v)}</span></td></tr>'
                       for k, v in p.attributes[1:4])
    sims = "".join(f'<li class="a-carousel-card"><img src="{u}" alt="Sponsored product" height="200"></li>'
                   for u in page.related)
    main = (f'<div id="dp-container"><div id="leftCol"><div id="altImages"><ul>'
            f'<li><img src="{page.base}/static/play-icon-overlay.png" alt="" width="40"></li>'
            f'<li><img src="{page.thumb(page.images[0], "SS40")}" alt="" width="40" height="40"></li></ul></div>'
            f'<div id="imgTagWrapperId" class="imgTagWrapper"><img id="landingImage" alt="{e(p.title)}" '
            f'src="{page.thumb(page.images[0], "SX300")}" data-old-hires="{page.images[0]}" '
            f"data-a-dynamic-image='{dynamic}'></div></div>"
            f'<div id="centerCol"><div id="titleSection"><h1 id="title" class="a-size-large">'
            f'<span id="productTitle" class="a-size-large product-title-word-break">   {e(p.title)}   </span></h1></div>'
            f'<div id="averageCustomerReviews"><img src="{page.base}/static/stars-4-5.png" alt="4.5 stars" width="80"></div>'
            f'<div id="productOverview_feature_div"><table class="a-normal a-spacing-micro">{overview}</table></div>'
            f'<div id="feature-bullets"><ul class="a-unordered-list">{bullets}</ul></div></div>'
            f'<div id="productDescription" class="a-section">{paragraphs(p.description)}</div></div>'
            f'<div id="sp_detail" class="similar-items"><ol class="a-carousel">{sims}</ol></div>')
    return page_html(page, head(f"{p.title} : Amazon.de: Baumarkt", lang="de"), main)


def ebay_like(page: Page) -> str:
    """Item page: a BreadcrumbList and the Product (image list, brand, offers) written into one
    JSON-LD block as two objects one after the other; item specifics in the old two-cell table."""
    p = page.product
    product = ld_product(page, image=list(page.images), description=p.description[0])
    crumbs = {"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": 1, "name": "Business & Industrial", "item": page.base + "/b/1"}]}
    specifics = "".join(f'<tr><td class="attrLabels">{e(k)}:</td><td><span>{e(v)}</span></td></tr>'
                        for k, v in p.attributes)
    main = (f'<div class="x-item-title"><h1 class="x-item-title__mainTitle"><span class="ux-textspans ux-textspans--BOLD">'
            f'{e(p.title)}</span></h1></div><div class="ux-image-carousel"><img src="{page.images[0]}" alt="{e(p.title)}">'
            f'</div><div class="itemAttr"><table>{specifics}</table></div>')
    first, second = ld_script(crumbs), ld_script(product)
    both = first.removesuffix("\n</script>") + second.removeprefix('<script type="application/ld+json">')
    return page_html(page, head(f"{p.title} | eBay", both), main)


def b2b_marketplace(page: Page) -> str:
    """A B2B marketplace: `//` comments in JSON-LD, the image as an ImageObject with contentUrl,
    related products nested inside the main one."""
    p = page.product
    related = [{"@type": "Product", "name": f"Related item {i}", "image": u} for i, u in enumerate(page.related)]
    product = ld_product(page, image={"@type": "ImageObject", "contentUrl": page.images[0]},
                         extra={"@type": ["Product"], "isRelatedTo": related})
    main = (f'<div class="detail-main"><h1 class="product-name">{e(p.title)}</h1>'
            f'<div class="main-image-container"><img src="{page.images[0]}" alt=""></div>'
            f'<ul class="product-props">' + "".join(f"<li>{e(k)}: {e(v)}</li>" for k, v in p.attributes) + "</ul></div>")
    return page_html(page, head(p.title, ld_script(product, comments=True)), main)


def otto_like(page: Page) -> str:
    """A retail marketplace with microdata where name and image are <meta>/<link> tags and the
    specs are "Key: value" list items."""
    p = page.product
    specs = "".join(f"<li><span>{e(k)}:</span> {e(v)}</li>" for k, v in p.attributes)
    main = (f'<div itemscope itemtype="https://schema.org/Product"><meta itemprop="name" content="{e(p.title)}">'
            f'<link itemprop="image" href="{page.images[0]}"><h1 class="pdp_short-info__main-name">{e(p.title)}</h1>'
            f'<div class="pdp_main-image"><img src="{page.thumb(page.images[0])}" alt=""></div>'
            f'<div itemprop="description">{paragraphs(p.description)}</div>'
            f'<ul class="pdp_details__characteristics">{specs}</ul></div>')
    return page_html(page, head(f"{p.title} | OTTO"), main)


# --------------------------------------------------------------------------- small shops


def small_shop_plain(page: Page) -> str:
    """A hand-made shop: no structured data, a logo, the product photo with a declared size."""
    p = page.product
    main = (f'<div class="content"><h1>{e(p.title)}</h1><div class="product-image"><img src="{page.rel(page.images[0])}" '
            f'width="800" height="600" alt="{e(p.title)}"></div>{paragraphs(p.description)}'
            f'<h2>Specifications</h2>{spec_table(p.attributes)}</div>')
    return page_html(page, head(f"{p.title} | {page.brand.name} Shop"), main)


def small_shop_lazy_slider(page: Page) -> str:
    """Lazy-loaded slider (data-src, srcset, a data: placeholder), a "new" badge image first, the
    specs as a <ul> of "<strong>Key:</strong> value"."""
    p = page.product
    slides = "".join(f'<div class="swiper-slide"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" '
                     f'data-src="{u}" data-srcset="{page.thumb(u, "480")} 480w, {u} 1200w" alt="{e(p.title)}"></div>'
                     for u in page.images)
    specs = "".join(f"<li><strong>{e(k)}:</strong> {e(v)}</li>" for k, v in p.attributes)
    main = (f'<div class="product-view"><img class="badge-new" src="{page.base}/static/new.png" width="64" alt="New">'
            f'<div class="swiper product-slider">{slides}</div><h1 class="h2">{e(p.title)}</h1>'
            f'<div class="product-description">{paragraphs(p.description)}<ul class="specs">{specs}</ul></div></div>')
    return page_html(page, head(f"{p.title} | {page.brand.name}"), main)


def legacy_table_layout(page: Page) -> str:
    """A 2005-style shop: layout tables, a thumbnail linked to the full image, no <main>."""
    p = page.product
    rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in p.attributes)
    body = (f'<table width="100%"><tr><td><img src="{page.base}/static/logo.gif" alt="logo"></td></tr>'
            f'<tr><td valign="top"><a href="{page.images[0]}"><img src="{page.thumb(page.images[0], "250")}" width="250" '
            f'border="0" alt="click to enlarge"></a></td><td valign="top"><h1>{e(p.title)}</h1>{paragraphs(p.description)}'
            f'<table border="1">{rows}</table></td></tr></table>')
    return head(f"{p.title} - {page.brand.name}") + f"<body>{body}</body></html>"


def og_with_dl(page: Page) -> str:
    """OpenGraph only, material and finish in a `<dl><dt>Material</dt><dd>...` block."""
    p = page.product
    og = og_tags(p.title, page.images[0], p.description[0])
    main = (f'<h1>{e(p.title)}</h1><img src="{page.thumb(page.images[0])}" alt="">{paragraphs(p.description[:1])}'
            + definition_list([(k, v) for k, v in p.attributes if k in ("Material", "Finish")]))
    return page_html(page, head(p.title, og), main)


def og_logo_image(page: Page) -> str:
    """A shop whose og:image is its logo on every page (a site-wide default), no product schema;
    the product photo only in the page."""
    p = page.product
    og = og_tags(p.title, f"{page.base}/static/{page.brand.name.lower()}-logo-og.png", p.description[0])
    main = (f'<div class="product-detail"><h1>{e(p.title)}</h1><div class="product-photo">'
            f'<img src="{page.images[0]}" alt="{e(p.title)}"></div>{paragraphs(p.description)}'
            f'{spec_table(p.attributes)}</div>')
    return page_html(page, head(p.title, og), main)


TEMPLATES = {
    "marketplace": (amazon_like, ebay_like, b2b_marketplace, otto_like),
    "small-shop": (small_shop_plain, small_shop_lazy_slider, legacy_table_layout, og_with_dl, og_logo_image),
}
