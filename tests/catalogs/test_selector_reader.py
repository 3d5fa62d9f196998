"""Declarative CSS/XPath selector reading and the reader dispatch (no network)."""

from __future__ import annotations

import json

import pytest

from ilid_ray.catalogs.reader import read_product
from ilid_ray.config import CatalogSpec, SelectorSpec

URL = "https://shop.example.com/p/123"

PAGE = """<html><body>
<header><img src="/logo.png"><h1>Shop</h1></header>
<div class="detail">
  <h1 class="title"> Toggle <b>Clamp</b> 900 N </h1>
  <div class="gallery"><img src="/thumbs/1.jpg" data-large="/big/1.jpg">
    <img data-large="/big/2.jpg" src="/t/2.jpg"></div>
  <div class="text"><p>Holds parts quickly.</p><p>Self-locking lever.</p></div>
  <ul class="bullets"><li>Neoprene pad</li><li>Flanged base</li></ul>
  <table class="tech">
    <tr><th>Material:</th><td>steel, zinc plated</td></tr>
    <tr><td>Holding capacity</td><td>900 <span>N</span></td></tr>
    <tr><td colspan="2">Technical data</td></tr>
  </table>
</div>
<aside class="related"><img src="/big/other.jpg"></aside>
</body></html>"""


def spec(**selectors) -> CatalogSpec:
    base = dict(title="h1.title ::text", images="div.gallery img::attr(data-large)")
    return CatalogSpec(name="shop", start_urls=["https://shop.example.com/robots.txt"], reader="selectors",
                       selectors=SelectorSpec(**{**base, **selectors}))


def test_css_selectors_with_text_blocks_and_attribute_rows():
    record = read_product(PAGE, spec(text_blocks=["div.text p", "ul.bullets li"], attribute_rows="table.tech tr"), URL)
    assert record.found_by == "selectors" and record.problem() is None
    assert record.label == "Toggle Clamp 900 N"
    assert record.image_urls == ["https://shop.example.com/big/1.jpg", "https://shop.example.com/big/2.jpg"]
    assert record.data == ["Holds parts quickly.", "Self-locking lever.", "Neoprene pad", "Flanged base",
                           "Material: steel, zinc plated", "Holding capacity: 900 N"]


def test_xpath_selectors_and_element_results():
    record = read_product(PAGE, spec(
        title="//h1[@class='title']", images="//div[@class='gallery']/img",
        text_blocks=["//div[@class='text']", "(//ul[@class='bullets']/li)[2]/text()"],
        attribute_rows="//table[@class='tech']//tr", attribute_key="./*[1]//text()",
        attribute_value="./*[last()]//text()"), URL)
    assert record.label == "Toggle Clamp 900 N"
    # an <img> element gives its most specific image attribute (data-large is not in the list: src)
    assert record.image_urls == ["https://shop.example.com/thumbs/1.jpg", "https://shop.example.com/t/2.jpg"]
    assert record.data == ["Holds parts quickly.", "Self-locking lever.", "Flanged base",
                           "Material: steel, zinc plated", "Holding capacity: 900 N"]


def test_bad_selector_is_a_clear_error():
    with pytest.raises(ValueError, match="bad selector"):
        read_product(PAGE, spec(title="h1[[["), URL)


def test_structured_reader_falls_back_to_selectors_and_selectors_reader_ignores_jsonld():
    selectors = spec().selectors
    structured = CatalogSpec(name="shop", start_urls=["https://shop.example.com/robots.txt"], selectors=selectors)
    assert read_product(PAGE, structured, URL).found_by == "selectors"
    with_ld = PAGE.replace("<body>", '<body><script type="application/ld+json">' + json.dumps(
        {"@type": "Product", "name": "From JSON-LD", "image": "/ld.jpg"}) + "</script>")
    assert read_product(with_ld, structured, URL).label == "From JSON-LD"
    assert read_product(with_ld, spec(), URL).label == "Toggle Clamp 900 N"


def test_missing_title_or_images_via_selectors():
    assert read_product(PAGE, spec(title="h1.nope::text"), URL).problem() == "no title"
    assert read_product(PAGE, spec(images="div.nope img::attr(src)"), URL).problem() == "no image"
