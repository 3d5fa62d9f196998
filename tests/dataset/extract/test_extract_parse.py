"""The answer parser: JSON in its many wrappings, the paper's numbered list, truncation, null-likes,
parroted instructions and word limits."""

from __future__ import annotations

import json

import pytest

from ilid_ray.dataset.extract.parse import parse_answer
from ilid_ray.dataset.extract.schema import SPECS

FULL = {"label_long": "Stainless steel ball lock pin with ring", "label_short": "Ball lock pin",
        "description": "Pin for quick connection of components", "material": "stainless steel",
        "material_finish": "bright"}


def assert_full(parsed, form="json"):
    assert parsed.ok, parsed.error
    assert parsed.form == form
    assert parsed.fields == FULL


# --------------------------------------------------------------------------- JSON forms


def test_plain_json():
    assert_full(parse_answer(json.dumps(FULL)))


def test_markdown_fence_and_prose_around():
    text = f"Sure! Here is the summary:\n```json\n{json.dumps(FULL, indent=2)}\n```\nLet me know if you need more."
    assert_full(parse_answer(text))


def test_first_complete_object_wins():
    other = dict(FULL, label_long="Something else entirely")
    assert_full(parse_answer(json.dumps(FULL) + "\n" + json.dumps(other)))


def test_stray_braces_before_the_object_are_skipped():
    assert_full(parse_answer("Use {curly} braces, { here: " + json.dumps(FULL)))


def test_trailing_commas_tolerated():
    text = json.dumps(FULL)[:-1] + ",}"
    assert_full(parse_answer(text))


def test_python_style_single_quotes_and_none():
    literal = repr(dict(FULL, description=None))
    parsed = parse_answer(literal)
    assert parsed.ok and parsed.form == "json"
    assert parsed.fields == dict(FULL, description=None)


def test_single_quoted_with_json_null():
    parsed = parse_answer("{'label_long': 'Hinge with lock', 'label_short': 'Hinge', 'description': null, "
                          "'material': null, 'material_finish': null}")
    assert parsed.fields == {"label_long": "Hinge with lock", "label_short": "Hinge", "description": None,
                             "material": None, "material_finish": None}


def test_key_spellings_are_mapped_and_unknown_keys_noted():
    parsed = parse_answer('{"Long label": "Lift-off hinge", "short_label": "Hinge", "Finish": "black", '
                          '"weight": "light"}')
    assert parsed.fields == {"label_long": "Lift-off hinge", "label_short": "Hinge", "description": None,
                             "material": None, "material_finish": "black"}
    assert "ignored keys: weight" in parsed.notes


def test_object_without_any_field_is_a_failure_with_reason():
    parsed = parse_answer('{"name": "Hinge", "price": "cheap"}')
    assert not parsed.ok
    assert parsed.error.startswith("JSON object has none of the keys label_long, label_short")


def test_non_string_values():
    parsed = parse_answer('{"label_long": "Hinge", "label_short": "Hinge", "material": ["steel", "zinc"], '
                          '"material_finish": {"a": 1}, "description": true}')
    assert parsed.fields["material"] == "steel, zinc"
    assert parsed.fields["material_finish"] is None
    assert parsed.fields["description"] is None


def test_escaped_quotes_and_braces_inside_strings():
    parsed = parse_answer(r'{"label_long": "Knob \"star\" {grip}", "label_short": "Knob"}')
    assert parsed.fields["label_long"] == 'Knob "star" {grip}'


# --------------------------------------------------------------------------- truncation


def test_truncated_json_keeps_complete_leading_pairs():
    text = json.dumps(FULL)
    cut = text[: text.index('"description"') + len('"description": "Pin for qu')]
    parsed = parse_answer(cut)
    assert parsed.ok and parsed.form == "json-partial"
    assert parsed.fields == {"label_long": FULL["label_long"], "label_short": FULL["label_short"],
                             "description": None, "material": None, "material_finish": None}
    assert any("no complete value for description, material, material_finish" in n for n in parsed.notes)


def test_json_cut_inside_the_first_value_is_a_failure_with_reason():
    parsed = parse_answer('{"label_long": "AISI 10666-1066-1066-1066-1066-1066')
    assert not parsed.ok
    assert parsed.error.startswith("JSON object never closed: ")
    assert "AISI" in parsed.error


def test_prose_only_is_a_failure_with_reason():
    parsed = parse_answer("I am sorry, I cannot summarize this product.")
    assert not parsed.ok
    assert parsed.error.startswith("no JSON object and no numbered list: 'I am sorry")


@pytest.mark.parametrize("text", ["", "   \n", None])
def test_empty_answer(text):
    assert parse_answer(text).error == "empty answer"


def test_error_snippet_is_bounded():
    parsed = parse_answer("blah " * 500)
    assert len(parsed.error) < 160


# --------------------------------------------------------------------------- numbered lists


PAPER_STYLE = """Here is the summary:
1. Long label: Stainless steel ball lock pin with ring
2. Short label: Ball lock pin
3. Description: Pin for quick connection of components.
4. Material: stainless steel
5. Material finish/color: bright"""


def test_paper_numbered_list():
    assert_full(parse_answer(PAPER_STYLE), form="list")


def test_parenthesised_numbers_dashes_and_bold():
    text = """(1) **Long label** - Stainless steel ball lock pin with ring
(2) **Short label** - Ball lock pin
(3) **Description of the product** - Pin for quick connection of components
(4) **Material** - stainless steel
(5) **Material finish/color** - bright"""
    assert_full(parse_answer(text), form="list")


def test_inline_parenthesised_items_on_one_line():
    text = ("(1) Stainless steel ball lock pin with ring (2) Ball lock pin (3) Pin for quick connection of "
            "components (4) stainless steel (5) bright")
    assert_full(parse_answer(text), form="list")


def test_numbers_without_headers_and_value_on_next_line():
    text = "1)\nStainless steel ball lock pin with ring\n2) Ball lock pin\n3: Pin for quick connection of components"
    parsed = parse_answer(text)
    assert parsed.form == "list"
    assert parsed.fields["label_long"] == FULL["label_long"]
    assert parsed.fields["label_short"] == "Ball lock pin"
    assert parsed.fields["description"] == FULL["description"]


def test_headers_without_numbers_and_generic_label_order():
    text = ("Label: Stainless steel ball lock pin with ring\nName: Ball lock pin\nColour: bright\n"
            "Material: stainless steel")
    parsed = parse_answer(text)
    assert parsed.fields == dict(FULL, description=None)


def test_echoed_instruction_headers_are_recognised():
    text = ("(1) a long label or name of the product without ids, numbers, codes, or sizes: Lift-off hinge\n"
            "(2) a short label or name of the product with a maximum of 4 words and shorter than the long label: "
            "Hinge\n(5) material finish/color with a maximum of 5 words: black")
    parsed = parse_answer(text)
    assert (parsed.fields["label_long"], parsed.fields["label_short"], parsed.fields["material_finish"]) == (
        "Lift-off hinge", "Hinge", "black")


def test_decimal_numbers_are_not_list_markers():
    parsed = parse_answer("1.5 times stronger than before.\nNothing else.")
    assert not parsed.ok


def test_truncated_json_is_not_misread_as_a_list():
    parsed = parse_answer('{"label_long": "Ball lock pin", "label_short": "Ball')
    assert parsed.form == "json-partial"
    assert parsed.fields["label_long"] == "Ball lock pin"
    assert parsed.fields["label_short"] is None


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("null_like", ["none", "None.", "NONE given", "null", "N/A", "n/a (not in text)", "NA",
                                      "unknown", "Unknown material", "-", "--", "—", "?", "...", "",
                                      "not", "Not.", "not given", "Not specified", "not mentioned in the text",
                                      "not applicable",
                                      "No information", "no material given", "  ", "**None**", "`null`"])
def test_null_likes_are_missing(null_like):
    parsed = parse_answer(json.dumps(dict(FULL, material=null_like)))
    assert parsed.fields["material"] is None


@pytest.mark.parametrize("real", ["knot-free steel", "notched steel", "nonmagnetic steel", "annealed", "nylon",
                                  "Nickel-plated", "nothing but steel"])
def test_real_values_that_merely_contain_null_words_survive(real):
    assert parse_answer(json.dumps(dict(FULL, material=real))).fields["material"] == real


def test_whitespace_quotes_and_trailing_period_are_cleaned():
    parsed = parse_answer(json.dumps(dict(FULL, description="  \"Pin for quick\n connection of components.\"  ")))
    assert parsed.fields["description"] == FULL["description"]


@pytest.mark.parametrize("name", list(SPECS))
def test_word_limits_truncate_to_the_first_words(name):
    limit = SPECS[name].max_words
    words = [f"word{chr(97 + i % 26)}" for i in range(limit + 3)]
    parsed = parse_answer(json.dumps(dict(FULL, **{name: " ".join(words)})))
    assert parsed.fields[name] == " ".join(words[:limit])
    assert f"{name} cut from {limit + 3} to {limit} words" in parsed.notes


def test_values_within_limits_are_not_noted():
    assert parse_answer(json.dumps(FULL)).notes == ()


def test_parroted_instructions_are_missing():
    answer = dict(FULL, label_long="A long label or name of the product without ids",
                  material="material with a maximum of 5 words")
    parsed = parse_answer(json.dumps(answer))
    assert parsed.fields["label_long"] is None
    assert parsed.fields["material"] is None
    assert "label_long repeats the prompt's instructions" in parsed.notes


def test_quoting_the_record_itself_is_not_parroting():
    description = "Clamp with a maximum of force for heavy parts"
    answer = dict(FULL, description=description)
    assert parse_answer(json.dumps(answer)).fields["description"] is None
    parsed = parse_answer(json.dumps(answer), source=f"Toggle clamp. {description}.")
    assert parsed.fields["description"] == description
