"""RDFa, spec tables / definition lists / "key: value" lists on every page, and the heuristic
reader for pages without product markup (no network)."""

from __future__ import annotations

import json

from ilid_ray.catalogs.reader import read_product
from ilid_ray.config import CatalogSpec, SelectorSpec

URL = "https://shop.example.com/p/foot.html"
SPEC = CatalogSpec(name="shop", start_urls=["https://shop.example.com/robots.txt"])
STRICT = SPEC.model_copy(update={"heuristic_fallback": False})
CHROME = ('<header><img src="/logo.png" alt="Shop logo" width="180"><h1>Shop</h1>'
          '<table><tr><th>Hotline</th><td>0800</td></tr></table></header>')
RELATED = '<aside class="related"><img src="/other.jpg" alt="Levelling foot D80" width="600"></aside>'


def page(head: str = "", body: str = "") -> str:
    return f"<html><head>{head}</head><body>{CHROME}<main>{body}</main>{RELATED}</body></html>"


def test_rdfa_lite_and_prefixed_rdfa_products():
    lite = ('<div vocab="https://schema.org/" typeof="Product"><h2 property="name">Levelling Foot D60</h2>'
            '<img property="image" src="/foot.jpg"><div property="description"><p>Levels machines.</p><p>M12.</p></div>'
            '<span property="material">zinc die-cast</span>'
            '<div property="offers" typeof="Offer"><span property="name">Delivery</span></div></div>')
    record = read_product(page(body=lite), STRICT, URL)
    assert (record.found_by, record.label) == ("rdfa", "Levelling Foot D60")
    assert record.image_urls == ["https://shop.example.com/foot.jpg"]
    assert record.data[:3] == ["Levels machines.", "M12.", "Material: zinc die-cast"]
    prefixed = ('<div prefix="schema: https://schema.org/" typeof="schema:Product">'
                '<meta property="schema:name" content="Foot D80"><a property="schema:image" href="/f80.jpg">x</a></div>')
    record = read_product(page(body=prefixed), STRICT, URL)
    assert (record.found_by, record.label, record.image_urls) == ("rdfa", "Foot D80", ["https://shop.example.com/f80.jpg"])


def test_spec_rows_reach_data_whichever_reader_found_the_product():
    og = ('<meta property="og:title" content="Foot D60"><meta property="og:image" content="https://cdn.example.com/f.jpg">')
    body = ('<dl><dt>Material</dt><dd>zinc die-cast</dd><dt>Finish</dt><dd>black</dd><dd>powder-coated</dd></dl>'
            '<table><tr><th>Thread:</th><td>M12</td></tr><tr><td colspan="2">Technical data</td></tr>'
            '<tr><td>a</td><td>b</td><td>c</td></tr></table>'
            '<ul><li><strong>Load:</strong> 400 N</li><li>Anti-slip pad</li><li>Note: see drawing: p. 2</li></ul>')
    record = read_product(page(og, body), STRICT, URL)
    assert record.found_by == "opengraph"
    assert record.data == ["Thread: M12", "Material: zinc die-cast", "Finish: black, powder-coated", "Load: 400 N",
                           "Note: see drawing: p. 2"]  # the header's hotline table is chrome
    selectors = SPEC.model_copy(update={"reader": "selectors", "selectors": SelectorSpec(
        title="h2::text", images="img.main::attr(src)")})
    record = read_product(page(body='<h2>Foot</h2><img class="main" src="/f.jpg">' + body), selectors, URL)
    assert record.found_by == "selectors" and "Material: zinc die-cast" in record.data


NO_MARKUP = ('<div class="product-view"><img class="badge" src="/new.png" width="64" alt="New">'
             '<div class="product-gallery"><a href="/big/foot-1.jpg"><img src="/thumb/foot-1.jpg" alt="Levelling foot D60"></a>'
             '<img src="data:image/gif;base64,R0lGOD" data-src="/big/foot-2.jpg" alt="Levelling foot D60 side"></div>'
             '<h1 class="title"> Levelling Foot D60 </h1>'
             '<div class="product-description"><p>Levels machines on uneven floors.</p><p>Short.</p></div>'
             '<table class="specs"><tr><th>Material</th><td>zinc die-cast</td></tr></table></div>')


def test_heuristic_reads_a_page_without_product_markup():
    record = read_product(page("<title>Levelling Foot D60 | Shop</title>", NO_MARKUP), SPEC, URL)
    assert (record.found_by, record.label, record.problem()) == ("heuristic", "Levelling Foot D60", None)
    assert record.image_urls == ["https://shop.example.com/big/foot-1.jpg", "https://shop.example.com/big/foot-2.jpg"]
    assert record.data == ["Levels machines on uneven floors.", "Material: zinc die-cast"]
    assert read_product(page("<title>Levelling Foot D60 | Shop</title>", NO_MARKUP), STRICT, URL).problem() == \
        "no product markup"
    only = SPEC.model_copy(update={"reader": "heuristic"})
    ld = '<script type="application/ld+json">{"@type": "Product", "name": "From JSON-LD", "image": "/x.jpg"}</script>'
    record = read_product(page(f"<title>Levelling Foot D60</title>{ld}", NO_MARKUP), only, URL)
    assert (record.found_by, record.label) == ("heuristic", "Levelling Foot D60")


def test_heuristic_title_checks_against_the_page_title_and_images_prefer_hi_res():
    body = ('<h1>Free shipping this week</h1><h1>Clamp 900 N</h1><img id="landingImage" src="/s.jpg" '
            "data-a-dynamic-image='{\"/m.jpg\": [500, 500], \"/xl.jpg\": [1500, 1500]}'>"
            '<img src="/icons/star.png" alt="rating" width="20">')
    record = read_product(page("<title>Clamp 900 N : Marketplace</title>", body), SPEC, URL)
    assert (record.label, record.image_urls[:1]) == ("Clamp 900 N", ["https://shop.example.com/xl.jpg"])
    no_heading = read_product(page("<title>Clamp 900 N | Shop</title>", '<img srcset="/a.jpg 300w, /b.jpg 900w">'),
                              SPEC, URL)
    assert (no_heading.label, no_heading.image_urls) == ("Clamp 900 N", ["https://shop.example.com/b.jpg"])


def test_only_chrome_images_mean_no_image_and_heuristic_fills_structured_gaps():
    assert read_product(page(body="<h1>Clamp</h1><p>No photo yet.</p>"), SPEC, URL).problem() == "no image"
    ld = json.dumps({"@type": "Product", "name": "Clamp 900 N"})
    body = '<div class="gallery"><img src="/clamp.jpg" alt="Clamp 900 N"></div>'
    record = read_product(page(f'<script type="application/ld+json">{ld}</script>', body), SPEC, URL)
    assert (record.found_by, record.image_urls) == ("json-ld+heuristic", ["https://shop.example.com/clamp.jpg"])
    assert read_product(page(f'<script type="application/ld+json">{ld}</script>', body), STRICT, URL).problem() == \
        "no image"


def test_opengraph_title_loses_the_shop_name_when_the_heading_agrees():
    og = '<meta property="og:title" content="Clamp 900 N | Shop"><meta property="og:image" content="/c.jpg">'
    assert read_product(page(og, "<h1>Clamp 900 N</h1>"), SPEC, URL).label == "Clamp 900 N"
    assert read_product(page(og, "<h1>Clamp 900 N</h1>"), STRICT, URL).label == "Clamp 900 N | Shop"
