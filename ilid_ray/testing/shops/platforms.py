"""Product pages as the common shop platforms render them: Shopify, WooCommerce, Magento 2,
Shopware (5 and 6). Each template follows the platform's default theme markup and one of the
quirks seen on live shops (comments in JSON-LD, entity-escaped blocks, microdata without images,
no schema at all)."""

from __future__ import annotations

from ilid_ray.testing.shops.html import (
    Page, definition_list, e, head, ld_product, ld_script, og_tags, page_html, paragraphs, spec_table,
)


# --------------------------------------------------------------------------- Shopify


def shopify_dawn(page: Page) -> str:
    """Dawn theme: clean JSON-LD, protocol-relative CDN images, material in the description."""
    p = page.product
    images = [page.proto_rel(u) for u in page.images]
    desc = paragraphs(p.description) + f"<ul><li><strong>Material:</strong> {e(p.material_spec)}</li>" \
        f"<li><strong>Finish:</strong> {e(p.finish)}</li></ul>"
    script = ld_script(ld_product(page, image=images, description=desc))
    gallery = "".join(f'<li class="product__media-item"><img src="{page.thumb(u, "600x")}" '
                      f'srcset="{page.thumb(u, "600x")} 600w, {u} 1500w" alt="{e(p.title)}"></li>' for u in images)
    main = (f'<section class="product"><ul class="product__media-list">{gallery}</ul>'
            f'<div class="product__info-container"><h1 class="product__title">{e(p.title)}</h1>'
            f'<div class="product__description rte">{desc}</div></div></section>')
    og = og_tags(p.title, images[0], p.description[0])
    return page_html(page, head(f"{p.title} – {page.brand.name}", og + script), main)


def shopify_liquid_newlines(page: Page) -> str:
    """A theme snippet that pastes `product.description | strip_html` into JSON-LD: raw newlines
    inside the string, and a Liquid comment left as `//`."""
    p = page.product
    script = ld_script(ld_product(page, image=[page.images[0]], description="\n".join(p.description)),
                       comments=True, raw_newlines=True)
    main = (f'<div class="product-single"><div class="product-single__photos">'
            f'<img class="product-featured-img" src="{page.thumb(page.images[0], "grande")}" alt="{e(p.title)}"></div>'
            f'<h1 class="product-single__title">{e(p.title)}</h1>'
            f'<div class="product-single__description">{paragraphs(p.description)}'
            f'{spec_table(p.attributes[1:4], "product-specs")}</div></div>')
    return page_html(page, head(p.title, script), main)


def shopify_og_only(page: Page) -> str:
    """A theme without product schema: OpenGraph only, the shop's name in og:title, material and
    finish in a `<dl>` of the description."""
    p = page.product
    og = og_tags(f"{p.title} | {page.brand.name} Store", page.images[0] + "?v=1700000000", p.description[0])
    main = (f'<div class="product"><div class="product-gallery"><img src="{page.thumb(page.images[0])}" '
            f'alt="{e(p.title)}"></div><h1 class="product-title">{e(p.title)}</h1>'
            f'<div class="product-description">{paragraphs(p.description)}'
            f'{definition_list([a for a in p.attributes if a[0] in ("Material", "Finish", "Size")])}</div></div>')
    return page_html(page, head(f"{p.title} | {page.brand.name} Store", og), main)


def shopify_trailing_commas(page: Page) -> str:
    """A hand-written snippet with a `{% for %}` loop: a comma after every image and property."""
    p = page.product
    script = ld_script(ld_product(page, image=list(page.images), extra={
        "material": p.material_spec, "color": p.finish}), trailing_commas=True)
    main = (f'<div class="product-page"><div class="product-images">'
            + "".join(f'<img src="{u}" alt="{e(p.title)}">' for u in page.images)
            + f'</div><h1>{e(p.title)}</h1>{paragraphs(p.description)}</div>')
    return page_html(page, head(p.title, script), main)


# --------------------------------------------------------------------------- WooCommerce


def woo_yoast_graph(page: Page) -> str:
    """Yoast SEO + WooCommerce: one @graph whose Product points at an ImageObject by @id, names with
    HTML entities, the attributes in WooCommerce's shop_attributes table."""
    p = page.product
    image_id = f"{page.url}#primaryimage"
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "@id": page.url, "url": page.url, "name": e(f"{p.title} - {page.brand.name}"),
         "primaryImageOfPage": {"@id": image_id}},
        {"@type": "ImageObject", "@id": image_id, "url": page.images[0], "contentUrl": page.images[0]},
        {"@type": "BreadcrumbList", "itemListElement": [{"@type": "ListItem", "position": 1, "name": "Shop"}]},
        ld_product(page, image={"@id": image_id}, extra={"@id": f"{page.url}#product", "name": e(p.title)})]}
    gallery = "".join(f'<div class="woocommerce-product-gallery__image"><a href="{u}"><img src="{page.thumb(u, "600x600")}" '
                      f'data-large_image="{u}" alt=""></a></div>' for u in page.images)
    rows = "".join(f'<tr class="woocommerce-product-attributes-item"><th class="woocommerce-product-attributes-item__label">'
                   f'{e(k)}</th><td class="woocommerce-product-attributes-item__value"><p>{e(v)}</p></td></tr>'
                   for k, v in p.attributes)
    main = (f'<div class="product type-product"><div class="woocommerce-product-gallery">{gallery}</div>'
            f'<div class="summary entry-summary"><h1 class="product_title entry-title">{e(p.title)}</h1></div>'
            f'<div class="woocommerce-tabs"><div id="tab-description">{paragraphs(p.description)}</div>'
            f'<div id="tab-additional_information"><table class="woocommerce-product-attributes shop_attributes">'
            f'{rows}</table></div></div></div>')
    return page_html(page, head(f"{p.title} - {page.brand.name}", ld_script(graph)), main)


def woo_escaped_block(page: Page) -> str:
    """A page builder that stored the JSON-LD block HTML-escaped (&quot;...&quot;)."""
    p = page.product
    script = ld_script(ld_product(page, extra={"material": p.material_spec}), escaped=True)
    main = (f'<div class="product"><div class="woocommerce-product-gallery"><img src="{page.images[0]}" '
            f'alt="{e(p.title)}"></div><h1 class="product_title">{e(p.title)}</h1>'
            f'<div class="woocommerce-product-details__short-description">{paragraphs(p.description)}</div></div>')
    return page_html(page, head(p.title, script), main)


def woo_no_schema(page: Page) -> str:
    """WooCommerce with its structured data switched off: no markup, a zoomable gallery."""
    p = page.product
    gallery = "".join(f'<div data-thumb="{page.thumb(u, "100x100")}" class="woocommerce-product-gallery__image">'
                      f'<a href="{u}"><img width="600" height="600" src="{page.thumb(u, "600x600")}" '
                      f'data-src="{u}" data-large_image="{u}" alt="{e(p.title)}"></a></div>' for u in page.images)
    main = (f'<div class="product"><span class="onsale"><img src="{page.base}/static/sale-badge.png" '
            f'class="badge" width="60" alt="Sale"></span>'
            f'<div class="woocommerce-product-gallery images">{gallery}</div>'
            f'<div class="summary"><h1 class="product_title entry-title">{e(p.title)}</h1></div>'
            f'<div id="tab-description">{paragraphs(p.description)}</div>'
            f'{spec_table(p.attributes, "woocommerce-product-attributes shop_attributes")}</div>')
    return page_html(page, head(f"{p.title} – {page.brand.name}"), main, related_class="related products")


def woo_yoast_without_product(page: Page) -> str:
    """Yoast SEO without its WooCommerce add-on: a JSON-LD graph of WebPage, Organization and
    BreadcrumbList but no Product; the product only in the HTML."""
    p = page.product
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "@id": page.url, "name": f"{p.title} - {page.brand.name}",
         "thumbnailUrl": page.thumb(page.images[0], "150x150")},
        {"@type": "Organization", "name": page.brand.name, "logo": f"{page.base}/static/logo.png"},
        {"@type": "BreadcrumbList", "itemListElement": [{"@type": "ListItem", "position": 1, "name": "Shop"}]}]}
    main = (f'<div class="product"><div class="woocommerce-product-gallery"><figure>'
            + "".join(f'<div class="woocommerce-product-gallery__image"><a href="{u}"><img src="{page.thumb(u, "600x600")}" '
                      f'alt="{e(p.title)}"></a></div>' for u in page.images)
            + f'</figure></div><h1 class="product_title">{e(p.title)}</h1>'
            f'<div class="woocommerce-Tabs-panel--description">{paragraphs(p.description)}</div>'
            f'{spec_table(p.attributes, "shop_attributes")}</div>')
    return page_html(page, head(f"{p.title} - {page.brand.name}", ld_script(graph)), main)


# --------------------------------------------------------------------------- Magento 2


def magento_luma(page: Page) -> str:
    """Luma: microdata Product without an image (the gallery is a JS widget), og:image carries it;
    the attribute table #product-attribute-specs-table."""
    p = page.product
    gallery_json = '{"[data-gallery-role=gallery-placeholder]": {"mage/gallery/gallery": {"data": [' + ",".join(
        f'{{"full": "{u}", "img": "{page.thumb(u, "700x700")}"}}' for u in page.images) + "]}}}"
    rows = "".join(f'<tr><th class="col label" scope="row">{e(k)}</th><td class="col data" data-th="{e(k)}">'
                   f"{e(v)}</td></tr>" for k, v in p.attributes)
    main = (f'<div class="product-info-main" itemscope itemtype="http://schema.org/Product">'
            f'<div class="page-title-wrapper product"><h1 class="page-title"><span class="base" itemprop="name">'
            f'{e(p.title)}</span></h1></div><div class="product attribute sku"><div class="value" itemprop="sku">'
            f'{e(p.part_number)}</div></div><div itemprop="offers" itemscope itemtype="http://schema.org/Offer">'
            f'<meta itemprop="priceCurrency" content="EUR"></div>'
            f'<div class="product attribute description"><div class="value" itemprop="description">'
            f"{paragraphs(p.description)}</div></div></div>"
            f'<div class="product media"><div class="gallery-placeholder" data-gallery-role="gallery-placeholder">'
            f'<img alt="main product photo" class="gallery-placeholder__image" src="{page.base}/static/loader-1.gif">'
            f'</div><script type="text/x-magento-init">{gallery_json}</script></div>'
            f'<div class="additional-attributes-wrapper table-wrapper"><table class="data table additional-attributes" '
            f'id="product-attribute-specs-table">{rows}</table></div>')
    return page_html(page, head(p.title, og_tags(p.title, page.images[0], p.description[0])), main)


def magento_extension_ld(page: Page) -> str:
    """A rich-snippets extension: JSON-LD with trailing commas and a tab pasted into a string."""
    p = page.product
    script = ld_script(ld_product(page, description="\t" + " ".join(p.description), extra={
        "material": p.material_spec}), trailing_commas=True).replace("\\t", "\t")
    main = (f'<div class="product-info-main"><h1 class="page-title"><span class="base">{e(p.title)}</span></h1></div>'
            f'<div class="product media"><img class="gallery-placeholder__image" src="{page.thumb(page.images[0])}" '
            f'alt="{e(p.title)}"></div>')
    return page_html(page, head(p.title, script), main)


def magento_hyva_no_image(page: Page) -> str:
    """Hyvä theme: JSON-LD Product without `image`; the gallery is plain <img> in the page."""
    p = page.product
    product = ld_product(page)
    del product["image"]
    gallery = "".join(f'<img src="{u}" alt="{e(p.title)}" width="700" height="700" itemprop="image" '
                      f'class="object-contain">' for u in page.images)
    main = (f'<section class="product-info"><div class="product-gallery" id="gallery">{gallery}</div>'
            f'<div><h1 class="title-font">{e(p.title)}</h1>{paragraphs(p.description)}'
            f'{spec_table(p.attributes, "product-specs w-full")}</div></section>')
    return page_html(page, head(p.title, ld_script(product)), main)


# --------------------------------------------------------------------------- Shopware


def shopware6(page: Page) -> str:
    """Shopware 6 storefront: microdata on the product detail, properties table with "Key:"."""
    p = page.product
    gallery = "".join(f'<div class="gallery-slider-item"><img src="{u}" class="img-fluid gallery-slider-image" '
                      f'alt="{e(p.title)}" title="{e(p.title)}" itemprop="image"></div>' for u in page.images)
    rows = "".join(f'<tr class="properties-row"><th class="properties-label">{e(k)}:</th>'
                   f'<td class="properties-value"><span>{e(v)}</span></td></tr>' for k, v in p.attributes)
    main = (f'<div class="product-detail" itemscope itemtype="https://schema.org/Product">'
            f'<div class="gallery-slider">{gallery}</div><div class="product-detail-buy">'
            f'<h1 class="product-detail-name" itemprop="name">{e(p.title)}</h1>'
            f'<meta itemprop="productID" content="{e(p.part_number)}"></div>'
            f'<div class="product-detail-description-text" itemprop="description">{paragraphs(p.description)}</div>'
            f'<div class="product-detail-properties"><table class="table product-detail-properties-table">{rows}'
            f"</table></div></div>")
    return page_html(page, head(p.title), main, related_class="cross-selling-tab-navigation")


def shopware5(page: Page) -> str:
    """Shopware 5: microdata with <meta itemprop="image">, properties as label/value cells."""
    p = page.product
    rows = "".join(f'<tr class="product--properties-row"><td class="product--properties-label is--bold">{e(k)}:</td>'
                   f'<td class="product--properties-value">{e(v)}</td></tr>' for k, v in p.attributes)
    main = (f'<div class="content product--details" itemscope itemtype="http://schema.org/Product">'
            f'<header class="product--header"><h1 class="product--title" itemprop="name">{e(p.title)}</h1></header>'
            f'<div class="product--image-container image-slider"><span class="image--element">'
            f'<span class="image--media"><img srcset="{page.thumb(page.images[0], "600x600")}" alt="{e(p.title)}"></span>'
            f'</span><meta itemprop="image" content="{page.images[0]}"></div>'
            f'<div class="product--description" itemprop="description">{paragraphs(p.description)}</div>'
            f'<div class="product--properties panel has--border"><table class="product--properties-table">{rows}'
            f"</table></div></div>")
    return page_html(page, head(f"{p.title} | {page.brand.name}"), main)


def shopware6_several_blocks(page: Page) -> str:
    """Shopware 6 with an SEO plug-in: three JSON-LD blocks (organisation, breadcrumbs, product),
    one of them broken by an unescaped quote; the product block has a `/* */` comment."""
    p = page.product
    broken = '<script type="application/ld+json">{"@type": "Organization", "name": "Shop "Best" GmbH"}</script>'
    crumbs = ld_script({"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": 1, "name": "Home", "item": page.base + "/"}]})
    product = ld_script(ld_product(page, image=list(page.images), extra={
        "additionalProperty": [{"@type": "PropertyValue", "name": k, "value": v} for k, v in p.attributes]}),
        comments=True)
    main = (f'<div class="product-detail"><div class="gallery-slider"><img src="{page.images[0]}" alt=""></div>'
            f'<h1 class="product-detail-name">{e(p.title)}</h1>{paragraphs(p.description)}</div>')
    return page_html(page, head(p.title, broken + crumbs + product), main)


TEMPLATES = {
    "shopify": (shopify_dawn, shopify_liquid_newlines, shopify_og_only, shopify_trailing_commas),
    "woocommerce": (woo_yoast_graph, woo_escaped_block, woo_no_schema, woo_yoast_without_product),
    "magento": (magento_luma, magento_extension_ld, magento_hyva_no_image),
    "shopware": (shopware6, shopware5, shopware6_several_blocks),
}
