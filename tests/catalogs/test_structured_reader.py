"""schema.org JSON-LD / microdata / OpenGraph reading on HTML strings (no network)."""

from __future__ import annotations

import json

from ilid_ray.catalogs.reader import read_product
from ilid_ray.config import CatalogSpec

URL = "https://shop.example.com/en/products/hinge-40.html"
SPEC = CatalogSpec(name="shop", start_urls=["https://shop.example.com/robots.txt"])


def page(head: str = "", body: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def ld(document) -> str:
    return f'<script type="application/ld+json">{json.dumps(document)}</script>'


def test_plain_jsonld_product():
    record = read_product(page(ld({
        "@context": "https://schema.org", "@type": "Product", "name": " Stainless  Hinge 40x40 ",
        "image": "/media/hinge.jpg", "description": "Two leaves on a pin.\n\nFor doors and covers.",
        "material": "stainless steel AISI 304", "color": "matte shot-blasted",
        "additionalProperty": [{"@type": "PropertyValue", "name": "Load capacity", "value": 400, "unitText": "N"},
                               {"@type": "PropertyValue", "name": "Opening angle", "value": "180°"}],
        "offers": {"@type": "Offer", "price": "9.90", "seller": {"@type": "Organization", "name": "Seller"}},
    })), SPEC, URL)
    assert record.problem() is None and record.found_by == "json-ld"
    assert record.label == "Stainless Hinge 40x40"
    assert record.image_urls == ["https://shop.example.com/media/hinge.jpg"]
    assert record.data == ["Two leaves on a pin.", "For doors and covers.", "Material: stainless steel AISI 304",
                           "Color: matte shot-blasted", "Load capacity: 400 N", "Opening angle: 180°"]


def test_jsonld_graph_list_nested_and_typed_variants():
    product = {"@type": ["Product", "Thing"], "name": "Knob", "image": [
        {"@type": "ImageObject", "url": "https://cdn.example.com/a.jpg"},
        {"@type": "ImageObject", "contentUrl": "b.png"}, "https://cdn.example.com/a.jpg"]}
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "name": "Shop page"},
        {"@type": "BreadcrumbList", "itemListElement": [{"@type": "ListItem", "name": "Home"}]}, product]}
    nested = {"@type": "ItemPage", "name": "Page",
              "mainEntity": dict(product, **{"@type": "http://schema.org/Product"})}
    listed = [{"@type": "Organization", "name": "Maker"}, product]
    for document in (graph, nested, listed):
        record = read_product(page(ld(document)), SPEC, URL)
        assert record.label == "Knob", document
        assert record.image_urls == ["https://cdn.example.com/a.jpg", "https://shop.example.com/en/products/b.png"]


def test_jsonld_image_references_by_id_are_resolved():
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "ImageObject", "@id": "https://shop.example.com/#primaryimage",
         "url": "https://shop.example.com/uploads/foot.jpg"},
        {"@type": "Product", "name": "Foot", "image": [{"@id": "https://shop.example.com/#primaryimage"},
                                                        {"@id": "https://shop.example.com/#missing"},
                                                        {"@id": "https://cdn.example.com/foot-2.jpg"}]}]}
    record = read_product(page(ld(graph)), SPEC, URL)
    assert record.image_urls == ["https://shop.example.com/uploads/foot.jpg", "https://cdn.example.com/foot-2.jpg"]


def test_broken_jsonld_block_does_not_hide_a_valid_one_and_html_descriptions_are_split():
    broken = '<script type="application/ld+json">{"@type": "Product", "name": </script>'
    valid = ld({"@type": "Product", "name": "Clamp", "image": "c.jpg",
                "description": "<p>Quick &amp; secure.</p><ul><li>Self-locking</li><li>Red handle</li></ul>"})
    record = read_product(page(broken + valid), SPEC, URL)
    assert record.label == "Clamp"
    assert record.data == ["Quick & secure.", "Self-locking", "Red handle"]


def test_base_href_resolves_relative_images():
    record = read_product(page('<base href="https://img.example.net/p/">' + ld(
        {"@type": "Product", "name": "Pin", "image": "pin.webp"})), SPEC, URL)
    assert record.image_urls == ["https://img.example.net/p/pin.webp"]


def test_non_http_images_are_dropped():
    record = read_product(page(ld({"@type": "Product", "name": "Pin", "image": [
        "data:image/png;base64,AAAA", "javascript:alert(1)", "ftp://x/y.jpg"]})), SPEC, URL)
    assert record.image_urls == [] and record.problem() == "no image"


MICRODATA = """
<div itemscope itemtype="https://schema.org/Product">
  <h1 itemprop="name">Ball Lock Pin D8x40</h1>
  <img itemprop="image" src="data:image/gif;base64,R0lGOD" data-src="/img/pin-lazy.jpg">
  <link itemprop="image" href="https://cdn.example.com/pin.jpg">
  <div itemprop="brand" itemscope itemtype="https://schema.org/Brand"><span itemprop="name">Maker</span></div>
  <div itemprop="description"><p>Locks automatically.</p><p>Press the button to release.</p></div>
  <meta itemprop="material" content="stainless steel">
  <span itemprop="color">passivated</span>
  <table>
    <tr itemprop="additionalProperty" itemscope itemtype="https://schema.org/PropertyValue">
      <th itemprop="name">Pin diameter</th><td itemprop="value">8 mm</td></tr>
  </table>
  <div itemprop="offers" itemscope itemtype="https://schema.org/Offer"><span itemprop="name">Delivery</span></div>
</div>
<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Related product</span></div>
"""


def test_microdata_keeps_nested_scopes_apart():
    record = read_product(page(body=MICRODATA), SPEC, URL)
    assert record.found_by == "microdata"
    assert record.label == "Ball Lock Pin D8x40"  # not the brand's, the offer's or the related item's name
    assert record.image_urls == ["https://shop.example.com/img/pin-lazy.jpg", "https://cdn.example.com/pin.jpg"]
    assert record.data == ["Locks automatically.", "Press the button to release.", "Material: stainless steel",
                           "Color: passivated", "Pin diameter: 8 mm"]


def test_opengraph_fills_gaps_or_stands_alone():
    og = ('<meta property="og:title" content="Levelling Foot D60">'
          '<meta property="og:image" content="https://cdn.example.com/foot.jpg">'
          '<meta property="og:description" content="Levels machines on uneven floors.">')
    only_og = read_product(page(og), SPEC, URL)
    assert (only_og.found_by, only_og.label, only_og.image_urls, only_og.data) == (
        "opengraph", "Levelling Foot D60", ["https://cdn.example.com/foot.jpg"], ["Levels machines on uneven floors."])
    filled = read_product(page(og + ld({"@type": "Product", "name": "Machine Foot"})), SPEC, URL)
    assert filled.found_by == "json-ld" and filled.label == "Machine Foot"
    assert filled.image_urls == ["https://cdn.example.com/foot.jpg"]
    assert filled.data == ["Levels machines on uneven floors."]


def test_problems_name_what_is_missing():
    strict = SPEC.model_copy(update={"heuristic_fallback": False})
    assert read_product(page(body="<h1>Just a page</h1>"), strict, URL).problem() == "no product markup"
    assert read_product(page(body="<h1>Just a page</h1>"), SPEC, URL).problem() == "no image"
    assert read_product(page(body="<p>Nothing here</p>"), SPEC, URL).problem() == "no product markup"
    assert read_product(page(ld({"@type": "Product", "image": "x.jpg"})), SPEC, URL).problem() == "no title"
    assert read_product(page(ld({"@type": "Product", "name": "X"})), SPEC, URL).problem() == "no image"
