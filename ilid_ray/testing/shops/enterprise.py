"""Product pages of B2B systems: SAP Commerce (accelerator and Spartacus storefronts), static
catalogs exported from a PIM, and Drupal Commerce (RDFa)."""

from __future__ import annotations

from ilid_ray.testing.shops.html import (
    Page, definition_list, e, head, ld_product, ld_script, og_tags, page_html, paragraphs, spec_table,
)


# --------------------------------------------------------------------------- SAP Commerce


def classification_table(page: Page) -> str:
    """The accelerator's classification attributes: label cells of class "attrib"."""
    rows = "".join(f'<tr><td class="attrib">{e(k)}</td><td>{e(v)}</td></tr>' for k, v in page.product.attributes)
    return f"<table><tbody>{rows}</tbody></table>"


def sap_accelerator(page: Page) -> str:
    """Accelerator storefront: JSON-LD with a relative /medias/ image, the classification table
    with td.attrib cells."""
    p = page.product
    product = ld_product(page, image=page.rel(page.images[0]))
    main = (f'<div class="product-details page-title"><div class="name">{e(p.title)}'
            f'<span class="sku">ID</span><span class="code">{e(p.part_number)}</span></div></div>'
            f'<div class="image-gallery js-gallery"><div class="carousel gallery-image">'
            f'<img class="lazyOwl" data-zoom-image="{page.rel(page.images[0])}" src="{page.thumb(page.images[0])}" '
            f'alt="{e(p.title)}"></div></div>'
            f'<div class="tab-details">{paragraphs(p.description)}</div>'
            f'<div class="product-classifications"><div class="headline">Technical details</div>'
            f"{classification_table(page)}</div>")
    return page_html(page, head(f"{p.title} | {page.brand.name} Online Shop", ld_script(product)), main)


def spartacus_split_blocks(page: Page) -> str:
    """Spartacus: the product spread over two JSON-LD blocks sharing one @id (name and text in
    one, images and offers in the other)."""
    p = page.product
    pid = f"{page.url}#product"
    first = {"@context": "https://schema.org", "@type": "Product", "@id": pid, "name": p.title,
             "description": " ".join(p.description), "sku": p.part_number}
    second = {"@context": "https://schema.org", "@id": pid, "image": list(page.images),
              "material": p.material_spec,
              "offers": {"@type": "Offer", "price": "19.90", "priceCurrency": "EUR"}}
    main = (f'<cx-product-intro><h1>{e(p.title)}</h1></cx-product-intro>'
            f'<cx-product-images><cx-media><img src="{page.thumb(page.images[0])}" alt=""></cx-media></cx-product-images>'
            f"<cx-tab-paragraph-container>{paragraphs(p.description)}</cx-tab-paragraph-container>")
    return page_html(page, head(p.title, ld_script(first) + ld_script(second)), main)


def sap_accelerator_no_schema(page: Page) -> str:
    """An older accelerator build without schema.org: zoom gallery, classification table."""
    p = page.product
    gallery = "".join(f'<div class="item"><img class="lazyOwl" data-zoom-image="{u}" src="{page.thumb(u, "515Wx515H")}" '
                      f'alt="{e(p.title)}"></div>' for u in page.images)
    main = (f'<div class="product-details"><h1 class="name">{e(p.title)}</h1></div>'
            f'<div class="image-gallery"><div class="owl-carousel js-gallery-image">{gallery}</div></div>'
            f'<div class="product-main-info"><div class="description">{paragraphs(p.description)}</div></div>'
            f'<div class="product-classifications">{classification_table(page)}</div>')
    return page_html(page, head(f"{p.title} | {page.brand.name}"), main)


# --------------------------------------------------------------------------- PIM exports


def pim_rdfa_lite(page: Page) -> str:
    """A static datasheet exported from a PIM with RDFa Lite (vocab / typeof / property)."""
    p = page.product
    main = (f'<article vocab="https://schema.org/" typeof="Product">'
            f'<h1 property="name">{e(p.title)}</h1>'
            f'<figure class="datasheet-figure"><img property="image" src="{page.rel(page.images[0])}" alt="{e(p.title)}">'
            f"</figure><section property=\"description\">{paragraphs(p.description)}</section>"
            f'<div property="brand" typeof="Brand"><span property="name">{e(page.brand.name)}</span></div>'
            f'<h2>Technical data</h2>{definition_list(p.attributes, "datasheet")}</article>')
    return page_html(page, head(f"Datasheet {p.part_number}"), main)


def pim_plain_datasheet(page: Page) -> str:
    """A PIM export without any markup: the heading, a figure, a definition list."""
    p = page.product
    main = (f'<div class="datasheet"><div class="datasheet-head"><span class="article-no">{e(p.part_number)}</span>'
            f'<h1>{e(p.title)}</h1></div><figure class="product-image"><img src="{page.rel(page.images[0])}" '
            f'width="800" height="600" alt="Product photo"></figure>'
            f'<div class="product-text">{paragraphs(p.description)}</div>'
            f'{definition_list(p.attributes, "specs")}</div>')
    return page_html(page, head(f"{p.part_number} – Datasheet"), main)


def pim_graph_references(page: Page) -> str:
    """A PIM portal: the product in one block, its ImageObjects in another, joined by @id; names
    carry HTML entities."""
    p = page.product
    refs = [{"@id": f"{page.base}/assets/{p.index}-{k}"} for k in range(len(page.images))]
    images = {"@context": "https://schema.org", "@graph": [
        {"@type": "ImageObject", "@id": r["@id"], "contentUrl": u, "license": "https://creativecommons.org/licenses/by/4.0/",
         "copyrightHolder": {"@type": "Organization", "name": f"{page.brand.name} GmbH"}}
        for r, u in zip(refs, page.images)]}
    product = ld_product(page, image=refs, extra={"name": e(p.title).replace("®", "&reg;"),
                                                  "material": p.material_spec})
    main = (f'<div class="pim-product"><h1>{e(p.title)}</h1><div class="pim-assets">'
            f'<img src="{page.thumb(page.images[0])}" alt=""></div>{paragraphs(p.description)}</div>')
    return page_html(page, head(p.title, ld_script(images) + ld_script(product)), main)


# --------------------------------------------------------------------------- Drupal Commerce


def drupal_commerce_rdfa(page: Page) -> str:
    """Drupal Commerce: RDFa with prefixed terms (schema:Product, schema:name), OpenGraph too."""
    p = page.product
    main = (f'<div prefix="schema: https://schema.org/" typeof="schema:Product" about="{page.rel(page.url)}" '
            f'class="commerce-product">'
            f'<h1 class="page-title"><span property="schema:name">{e(p.title)}</span></h1>'
            f'<div class="field--name-field-images"><img property="schema:image" src="{page.images[0]}" '
            f'width="800" alt="{e(p.title)}"></div>'
            f'<div property="schema:description" class="field--name-body">{paragraphs(p.description)}</div>'
            f'<div class="field--name-field-specs">{spec_table(p.attributes, "field-specs")}</div></div>')
    return page_html(page, head(f"{p.title} | {page.brand.name}",
                                og_tags(f"{p.title} | {page.brand.name}", None, p.description[0])), main)


TEMPLATES = {
    "sap-commerce": (sap_accelerator, spartacus_split_blocks, sap_accelerator_no_schema),
    "pim-export": (pim_rdfa_lite, pim_plain_datasheet, pim_graph_references),
    "drupal-commerce": (drupal_commerce_rdfa,),
}
