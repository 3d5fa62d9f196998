"""The rules baseline on the fixture catalog's products (whose ground truth is known), after the
real pre-filter, through the shared parser and row update."""

from __future__ import annotations

import pytest

from ilid_ray.config import ExtractConfig
from ilid_ray import records
from ilid_ray.dataset.extract.engine import extract_rows, make_engine
from ilid_ray.dataset.extract.hints import strip_codes
from ilid_ray.dataset.extract.rules_engine import (RULES_MODEL, RULES_VERSION, RulesEngine, clean_label,
                                                   rules_answer, short_label)
from ilid_ray.dataset.prefilter import clean_text, compile_trade_names, prefilter_rows
from ilid_ray.testing.products import brand_for, make_product


def fixture_rows(n: int) -> tuple[list[dict], list]:
    products = [make_product("acme", 0, i) for i in range(n)]
    rows = [records.raw_row(f"https://acme.example/p/{p.slug}", "acme", p.title, p.text_blocks(), [], "now")
            for p in products]
    trade_names = compile_trade_names({"acme": brand_for("acme", 0).regex()})
    return prefilter_rows(rows, trade_names=trade_names), products


def test_rules_engine_reads_material_and_finish_of_fixture_products():
    rows, products = fixture_rows(40)
    out = extract_rows(rows, make_engine(ExtractConfig(engine="rules")))
    assert len(out) == len(products)
    for row, product in zip(out, products):
        assert records.is_ok(row), row["reject_reason"]
        # the page's material and finish rows, grade codes stripped ("AISI", "PA GF"), from markup
        assert row["material"] == " ".join(strip_codes(clean_text(product.material_spec)).split()[:5])
        assert row["material_finish"] == " ".join(strip_codes(clean_text(product.finish)).split()[:5])
        assert row["fields_from_markup"] == ["material", "material_finish"]
        assert row["label_long"] and row["label_short"]
        assert len(row["label_short"].split()) <= 4
        assert not any(ch.isdigit() for ch in row["label_long"])  # digits were removed by the pre-filter
        assert product.trade_name.lower() not in row["label_long"].lower()
        assert row["description"] and row["description"] in clean_text(" ".join(product.description))
        assert (row["model"], row["prompt_version"]) == (RULES_MODEL, RULES_VERSION)


def test_short_label_is_the_tail_of_the_head_phrase():
    assert short_label("Stainless steel ball lock pin with ring") == "steel ball lock pin"
    assert short_label("Lift-off hinge, zinc die-cast") == "Lift-off hinge"
    assert short_label("Star grip knob | black") == "Star grip knob"
    assert short_label("Toggle clamp - vertical") == "Toggle clamp"


def test_size_leftovers_and_symbols_are_dropped_from_labels():
    assert clean_label("® Lift-off Hinge x mm, stainless -") == "Lift-off Hinge, stainless"
    assert clean_label(".- Steel Index Bolt Mx. pin mm") == "Steel Index Bolt pin"
    assert clean_label("Cross Knob M D - matte black") == "Cross Knob - matte black"
    assert clean_label("Pinion, technopolymer, module . z") == "Pinion, technopolymer, module"


def test_missing_attributes_are_null_and_a_record_without_label_is_rejected():
    answer = rules_answer("Star grip knob", ["Grip knob for clamping. Very robust.", "Weight: light"])
    assert '"material": null' in answer and '"material_finish": null' in answer
    assert '"description": "Grip knob for clamping."' in answer
    prose_with_colon = rules_answer("Cam lever", ["Indexable cam lever: pull it up, turn it back.", "Material: steel"])
    assert '"description": "Indexable cam lever: pull it up, turn it back."' in prose_with_colon
    empty = records.raw_row("https://x/1", "x", "®", ["Material: steel"], [], "now")
    (row,) = extract_rows([empty], RulesEngine())
    assert row["status"] == records.REJECTED
    assert row["reject_reason"] == "missing label_long and label_short (json answer)"


@pytest.mark.parametrize("key", ["Surface", "Colour", "Color", "Coating", "Surface finish", "Finish"])
def test_finish_synonyms(key):
    answer = rules_answer("Knob", [f"{key}: black matte"])
    assert '"material_finish": "black matte"' in answer
