"""The gold set, the scorer and the paper's rules: what counts as a code, which cross-field rules
an answer is held to, and how a finished sample is scored."""

from __future__ import annotations

import json

import pytest

from ilid_ray import records
from ilid_ray.dataset.extract.consistency import distinct_labels, enforce_rules, settle_with_markup
from ilid_ray.dataset.extract.hints import code_forms, is_code, page_hints, strip_codes
from ilid_ray.dataset.extract.parse import parse_answer
from ilid_ray.dataset.extract.quality import field_score, normalize, rule_breaks, score, token_f1
from ilid_ray.testing.gold import GoldRecord, load_gold


@pytest.mark.parametrize("word, code", [
    ("AISI", True), ("ZAMAK", True), ("CuZn39Pb3", True), ("AlMgSi", True), ("M10x1", True), ("Dx", True),
    ("mm", True), ("M", True), ("steel", False), ("Stainless", False), ("à", False), ("a", False),
    ("ox", False), ("zinc-plated", False), ("die-cast", False),
])
def test_what_counts_as_a_code(word, code):
    assert is_code(word) is code


def test_codes_are_stripped_from_markup_values_and_recognised_in_lower_case():
    assert strip_codes("stainless steel AISI 304") == "stainless steel"
    assert strip_codes("technopolymer PA 66 GF30") == "technopolymer"
    assert strip_codes("grey RAL 7035, matte") == "grey matte"
    assert code_forms("STEEL knob AISI, steel") == {"aisi"}  # "steel" is also written as a word
    assert page_hints(["Hinge for doors.", "Material: zinc die-cast ZAMAK", "Colour: black, matte"]) == {
        "material": "zinc die-cast", "material_finish": "black, matte"}
    assert page_hints(["Made of steel, zinc plated."]) == {}


SOURCE = "Quick Release Pin Dx Steel. Self-locking pin with balls. Material: steel. Finish: plain, oiled"


def fields(**values) -> dict:
    return {name: values.get(name) for name in records.FIELDS}


def test_labels_lose_their_codes_and_come_in_the_right_order():
    out, notes = enforce_rules(fields(label_long="Pin Dx", label_short="Quick Release Pin Dx Steel"), SOURCE)
    assert (out["label_long"], out["label_short"]) == ("Quick Release Pin Steel", "Pin")
    assert any("dropped codes Dx" in n for n in notes) and any("swapped" in n for n in notes)


def test_copies_and_invented_materials_are_dropped():
    out, notes = enforce_rules(fields(label_long="steel quick release pin", label_short="release pin",
                                      description="release pin", material="steel", material_finish="Steel"), SOURCE)
    assert out["material_finish"] is None and out["description"] is None and out["material"] == "steel"
    out, notes = enforce_rules(fields(label_long="steel pin", label_short="pin", material="gumroad"), SOURCE)
    assert out["material"] is None and notes == ["material dropped: gumroad not in the record"]


def test_loops_are_said_once_and_labels_do_not_end_on_a_connective():
    out, notes = enforce_rules(fields(label_long="aluminium u-handle with roll-over roll-over Roll-over",
                                      label_short="ergonomic grip with a", description="Pin pin for doors"), SOURCE)
    assert out["label_long"] == "aluminium u-handle with roll-over" and out["label_short"] == "ergonomic grip"
    assert out["description"] == "Pin for doors"  # any field: a word twice in a row is a loop
    assert "label_long: repeated words said once" in notes and "label_short: connective at an end dropped" in notes
    out, notes = enforce_rules(fields(label_long="hinge with pin", label_short="hinge"), SOURCE)
    assert (out["label_long"], notes) == ("hinge with pin", [])


@pytest.mark.parametrize("short, long_, material, want_short, want_long", [
    ("stainless steel hinge", "Stainless-Steel hinge", "stainless steel", "hinge", "Stainless-Steel hinge"),
    ("star grip", "star grip", "technopolymer", "star grip", "technopolymer star grip"),
    ("star grip", "star grip", "AISI", "star grip", "star grip"),  # a code names no material
    ("star grip", "star grip", None, "star grip", "star grip"),  # nothing to tell them apart by
    ("star grip", "star grip", "approx. steel", "star grip", "star grip"),  # not words a label is made of
    ("star grip", "star grip", "steel, zinc plated", "star grip", "steel zinc plated star grip"),
    ("u-handle in aluminium", "u-handle in aluminium", "aluminium", "u-handle", "u-handle in aluminium"),
    ("stainless steel", "vertical toggle clamp", "stainless steel", "vertical toggle clamp",
     "stainless steel vertical toggle clamp"),  # the material is no product name: the other label stands in
    ("hinge", "zinc die-cast", "zinc die-cast", "hinge", "zinc die-cast hinge"),
    ("steel", "steel", "steel", None, None),  # nothing names the product: no labels (the item is rejected)
    ("star grip", "steel star grip", "steel", "star grip", "steel star grip"),  # already distinct
])
def test_equal_labels_are_told_apart_by_the_material(short, long_, material, want_short, want_long):
    out, notes = distinct_labels(fields(label_short=short, label_long=long_, material=material), {"material"},
                                 "Star grip AISI")
    assert (out["label_short"], out["label_long"]) == (want_short, want_long)
    assert bool(notes) == ((want_short, want_long) != (short, long_))


def test_once_markup_is_in_an_answers_copy_of_it_goes_and_the_markup_stays():
    answer = fields(label_short="star grip", label_long="technopolymer star grip", material="technopolymer",
                    material_finish="technopolymer")  # the page's material row said so; the model copied it
    out, notes = settle_with_markup(answer, {"material"}, "Star grip")
    assert out["material"] == "technopolymer" and out["material_finish"] is None
    assert notes == ["material_finish dropped: a copy of material"]


def test_the_parser_applies_the_rules_to_every_answer_form():
    parsed = parse_answer('{"label_long": "Release Pin Dx", "label_short": "pin", "description": null, '
                          '"material": "zamak", "material_finish": null}', source=SOURCE)
    assert parsed.fields["label_long"] == "Release Pin" and parsed.fields["material"] is None


def test_scores_after_normalisation_and_null_where_the_record_states_nothing():
    assert normalize("Zinc-Plated, blue!") == "zinc plated blue"
    assert token_f1("black anodized aluminium", "aluminium black") == pytest.approx(0.8)
    assert field_score("Lift-off hinge", ["lift off hinge", "hinge"]) == (True, 1.0)
    assert field_score("hinge", ["lift-off hinge"]) == (False, 0.5)  # 3 tokens after normalisation
    assert field_score(None, []) == (True, 1.0) and field_score("steel", []) == (False, 0.0)
    assert field_score(None, ["steel"]) == (False, 0.0)


def test_rule_breaks_name_each_broken_rule():
    source = "Knob AISI 304 with insert. Material: stainless steel AISI 304"
    assert rule_breaks(fields(label_long="stainless steel knob", label_short="knob"), source) == []
    broken = rule_breaks(fields(label_long="aisi knob", label_short="aisi knob with threaded insert bush",
                                description=" ".join(["word"] * 21), material="zamak", material_finish="zamak"),
                         source)
    assert broken == ["code in label_long: aisi", "code in label_short: aisi", "label_short over 4 words",
                      "label_short not shorter than label_long", "description over its word limit",
                      "material_finish copies material"]


def test_report_counts_rejects_as_zero_and_breaks_over_accepted():
    want = [fields(label_long=["steel knob"], label_short=["knob"]) | {"description": [], "material": ["steel"],
                                                                     "material_finish": []}] * 2
    good = fields(label_long="steel knob", label_short="knob", material="steel")
    report = score([good, None], want, ["Steel knob. Material: steel"] * 2).as_dict()
    assert report["accepted_share"] == 0.5 and report["exact"]["label_short"] == 0.5
    assert report["token_f1"]["material_finish"] == 0.5 and report["breaking_share_of_accepted"] == 0.0


def test_gold_set_is_large_varied_and_keeps_the_rules_it_scores():
    gold = load_gold()
    assert len(gold) >= 150 and len({g.id for g in gold}) == len(gold)
    styles = {g.style for g in gold}
    assert {"jsonld", "selectors", "opengraph"} <= styles and sum(s.startswith("lang-") for s in styles) >= 4
    for record in gold:
        canonical = {name: (answers[0] if answers else None) for name, answers in record.expected.items()}
        assert canonical["label_long"] and canonical["label_short"], record.id
        assert rule_breaks(canonical, " ".join([record.label, *record.data])) == [], record.id


def test_a_gold_record_without_its_fields_is_refused_with_its_id():
    with pytest.raises(ValueError, match="gold record 'x'.*material_finish"):
        GoldRecord.from_json(json.loads('{"id": "x", "style": "s", "label": "Knob", "data": ["Knob."], '
                                        '"expected": {"label_long": [], "label_short": [], "description": [], '
                                        '"material": []}}'))
