"""JSON-LD as real templates write it: comments, control characters, trailing commas, entities,
several blocks and objects, @graph and @id references across blocks (no network)."""

from __future__ import annotations

import json

import pytest

from ilid_ray.catalogs.lenient_json import escape_controls_in_strings, load_block
from ilid_ray.catalogs.reader import read_product
from ilid_ray.config import CatalogSpec

URL = "https://shop.example.com/p/clamp.html"
SPEC = CatalogSpec(name="shop", start_urls=["https://shop.example.com/robots.txt"], heuristic_fallback=False)


def script(text: str) -> str:
    return f'<html><head><script type="application/ld+json">{text}</script></head><body></body></html>'


@pytest.mark.parametrize("text, parser", [
    ('{"@type": "Product", "name": "Clamp", "image": "c.jpg"}', "json"),
    ('{"@type": "Product", "name": "Clamp",\n "description": "line one\nline two", "image": "c.jpg"}', "json"),
    ('{\n  // theme snippet\n  "@type": "Product", /* name */ "name": "Clamp", "image": "c.jpg"\n}', "json5"),
    ('{"@type": "Product", "name": "Clamp", "image": ["c.jpg",],}', "json5"),
    ('{\n // comment\n "@type": "Product", "name": "Clamp", "description": "a\nb", "image": "c.jpg"}', "json5"),
    ('{&quot;@type&quot;: &quot;Product&quot;, &quot;name&quot;: &quot;Clamp&quot;, &quot;image&quot;: &quot;c.jpg&quot;}',
     "json+repair"),
    ('{"@type": "Product", "name": "Clamp \\ 40", "image": "c.jpg"}', "json5"),  # a stray backslash, read as JS does
    ('{"@type": "BreadcrumbList"}\n{"@type": "Product", "name": "Clamp", "image": "c.jpg"}', "chompjs"),
    ("<!--\n{\"@type\": \"Product\", \"name\": \"Clamp\", \"image\": \"c.jpg\"}\n-->", "json"),
])
def test_every_quirk_reads_and_names_its_parser(text, parser):
    loaded = load_block(text)
    assert loaded is not None and loaded[1] == parser
    record = read_product(script(text), SPEC, URL)
    assert record.found_by == "json-ld" and record.label.startswith("Clamp"), record
    assert record.image_urls == ["https://shop.example.com/p/c.jpg"]


def test_unreadable_blocks_give_none():
    assert load_block("") is None
    assert load_block('{"name": "Shop "Best" GmbH"}') is None
    assert load_block("not json at all") is None


def test_control_characters_are_escaped_only_inside_strings():
    assert escape_controls_in_strings('{"a": "x\ny",\n"b": \'\t\'}') == '{"a": "x\\ny",\n"b": \'\\t\'}'
    assert escape_controls_in_strings('{"a": "q\\"\n"}') == '{"a": "q\\"\\n"}'


def test_entities_in_values_are_decoded():
    text = json.dumps({"@type": "Product", "name": "Hinge &amp; Pin &#8211; 40&reg;", "image": "h.jpg"})
    assert read_product(script(text), SPEC, URL).label == "Hinge & Pin – 40®"


def test_product_split_over_blocks_by_id_and_images_by_reference():
    pid, iid = "https://shop.example.com/p#product", "https://shop.example.com/p#img"
    first = json.dumps({"@context": "https://schema.org", "@type": "Product", "@id": pid, "name": "Foot",
                        "license": "https://creativecommons.org/licenses/by/4.0/"})
    second = json.dumps({"@context": "https://schema.org", "@graph": [
        {"@id": pid, "image": {"@id": iid}, "material": "zinc die-cast"},
        {"@type": "ImageObject", "@id": iid, "contentUrl": "https://cdn.example.com/foot.jpg",
         "copyrightHolder": {"@type": "Organization", "name": "Maker GmbH"}}]})
    html = script(first).replace("</head>", f'<script type="application/ld+json">{second}</script></head>')
    record = read_product(html, SPEC, URL)
    assert (record.label, record.image_urls) == ("Foot", ["https://cdn.example.com/foot.jpg"])
    assert "Material: zinc die-cast" in record.data
    assert record.rights == ("license: https://creativecommons.org/licenses/by/4.0/; "
                             "copyright: Maker GmbH")


def test_main_product_is_the_named_one_with_an_image_and_groups_borrow_from_variants():
    related_first = json.dumps([{"@type": "Product", "name": "Accessory"},
                                {"@type": "Product", "name": "Main", "image": "m.jpg"}])
    assert read_product(script(related_first), SPEC, URL).label == "Main"
    group = json.dumps({"@type": "ProductGroup", "name": "Knob family", "hasVariant": [
        {"@type": "Product", "name": "Knob M6", "image": "k6.jpg"}, {"@type": "Product", "name": "Knob M8"}]})
    record = read_product(script(group), SPEC, URL)
    assert (record.label, record.image_urls) == ("Knob family", ["https://shop.example.com/p/k6.jpg"])


def test_page_licence_link_is_the_fallback_and_no_statement_gives_none():
    text = json.dumps({"@type": "Product", "name": "Pin", "image": "p.jpg"})
    assert read_product(script(text), SPEC, URL).rights is None
    with_link = script(text).replace("</head>", '<link rel="license" href="https://example.org/terms"></head>')
    assert read_product(with_link, SPEC, URL).rights == "license: https://example.org/terms"
