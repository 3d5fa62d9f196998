"""Prompt, schema and parser agree: every field the schema requires is asked for and parsed, and
any schema-valid answer parses back to the same fields."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest

from ilid_ray import records
from ilid_ray.dataset.extract import prompt
from ilid_ray.dataset.extract.consistency import enforce_rules
from ilid_ray.dataset.extract.parse import parse_answer
from ilid_ray.dataset.extract.engine import build_request
from ilid_ray.dataset.extract.hints import label_words
from ilid_ray.dataset.extract.schema import (EXTRACTION_SCHEMA, FIELD_SPECS, GENERATION_ORDER, SPECS, record_schema,
                                             schema_json)

VOCABULARY = ("steel", "stainless", "clamp", "plunger", "clamping", "lever", "ball", "indexing", "adjustable",
              "aluminium", "handle", "knob", "hinge", "zinc-plated", "black", "anodised", "technopolymer",
              "lock", "pin", "with", "ring", "bright", "matte", "for", "doors", "machine", "guards")


def test_schema_fields_are_the_row_schema_fields_generated_short_label_first():
    assert tuple(SPECS) == records.FIELDS
    assert sorted(GENERATION_ORDER) == sorted(records.FIELDS) and GENERATION_ORDER[0] == "label_short"
    assert tuple(EXTRACTION_SCHEMA["properties"]) == GENERATION_ORDER
    assert EXTRACTION_SCHEMA["required"] == list(GENERATION_ORDER)
    assert EXTRACTION_SCHEMA["additionalProperties"] is False
    jsonschema.Draft202012Validator.check_schema(EXTRACTION_SCHEMA)


def test_schema_limits_follow_the_paper_word_limits():
    assert {name: spec.max_words for name, spec in SPECS.items()} == {
        "label_long": 12, "label_short": 4, "description": 20, "material": 5, "material_finish": 5}
    for spec in FIELD_SPECS:
        string = EXTRACTION_SCHEMA["properties"][spec.name]["anyOf"][0]
        assert string["pattern"] == spec.pattern and "maxLength" not in string  # vLLM refuses both
        # room for the allowed words at an ordinary word length, so the word limit binds first
        assert spec.max_chars >= spec.max_words * 9


def test_every_required_key_and_instruction_is_in_the_prompt():
    system = prompt.build_messages("Ball lock pin", ["Material: steel"])[0]["content"]
    for number, spec in enumerate(FIELD_SPECS, start=1):
        assert f'"{spec.name}"' in system
        assert f"({number}) {spec.instruction}" in system
        assert str(spec.max_words) in spec.instruction or spec.name == "label_long"


def test_messages_follow_the_paper_listings():
    messages = prompt.build_messages("Lift-off hinge", ["Hinge for doors.", "Material: zinc die-cast"])
    system, user = messages[0], messages[-1]
    assert system["role"] == "system" and user["role"] == "user"
    assert "company that sells industrial products" in system["content"]
    assert "Do not ask for further details or state additional questions" in system["content"]
    assert "Do not add additional information" in system["content"]
    assert "'Label: Lift-off hinge\nText: Hinge for doors., Material: zinc die-cast'" in user["content"]


def test_few_shot_turns_are_a_prefix_shared_by_every_record():
    first = prompt.build_messages("Lift-off hinge", ["Hinge for doors.", "Material: zinc die-cast"])
    other = prompt.build_messages("Star knob", ["Knob for clamping."])
    shots = len(prompt.FEW_SHOT)
    assert first[:1 + 2 * shots] == other[:1 + 2 * shots] and len(first) == 2 + 2 * shots
    assert [m["role"] for m in first[1:-1]] == ["user", "assistant"] * shots
    for (label, data, answer), turn in zip(prompt.FEW_SHOT, first[2::2]):
        jsonschema.validate(answer, EXTRACTION_SCHEMA)  # the examples keep the rules they teach
        assert json.loads(turn["content"]) == answer


def test_few_shot_answers_keep_the_grammar_they_teach():
    for label, data, answer in prompt.FEW_SHOT:
        jsonschema.validate(answer, json.loads(build_request({"label": label, "data": data}).schema))
        assert json.loads(prompt.answer_text(answer)) == answer
        assert list(json.loads(prompt.answer_text(answer))) == list(GENERATION_ORDER)


def test_markup_hints_are_named_in_the_prompt_without_codes():
    user = prompt.build_user_prompt("Star grip", ["Grip knob.", "Material: technopolymer PA GF", "Colour: black"])
    assert user.endswith("The page's product data gives: material = technopolymer; finish = black.")
    assert "product data gives" not in prompt.build_user_prompt("Star grip", ["Grip knob."])


@pytest.mark.parametrize("name, value, ok", [
    ("label_short", "star grip knob", True), ("label_short", "Scharnier für Türen", True),
    ("label_short", "one two three four five", False), ("label_short", "AISI grip", False),
    ("label_short", "grip M8", False), ("label_long", "CuZn gear wheel", False),
    ("label_long", "gear  wheel", False), ("description", "A knob, for hands.", True),
    ("description", "Knob of 8 mm.", False), ("description", " ".join(["word"] * 21), False),
    ("material", "zinc plated, blue", True), ("material_finish", "RAL 9005", False),
])
def test_schema_patterns_encode_the_paper_rules(name, value, ok):
    answer = {field: None for field in records.FIELDS} | {name: value}
    if ok:
        jsonschema.validate(answer, EXTRACTION_SCHEMA)
    else:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(answer, EXTRACTION_SCHEMA)


def test_labels_may_only_use_the_titles_words_and_the_stated_material():
    """The per-record schema: the title's words (not its codes), the long label also the material
    the page's markup states; other fields keep the generic patterns."""
    data = ["Spring-loaded plunger for index tables.", "Material: stainless steel AISI"]
    words = label_words("Indexing Plunger Mx pin mm | TRB .-", data)
    assert set(words["label_short"]) == {"Indexing", "indexing", "Plunger", "plunger", "pin"}
    assert set(words["label_long"]) == set(words["label_short"]) | {"stainless", "steel"}
    schema = record_schema(words)
    assert tuple(schema["properties"]) == GENERATION_ORDER
    assert schema["properties"]["description"] == EXTRACTION_SCHEMA["properties"]["description"]
    valid = {"label_short": "indexing plunger", "label_long": "stainless steel indexing plunger",
             "description": "Spring-loaded plunger", "material": "stainless steel", "material_finish": None}
    jsonschema.validate(valid, schema)
    for name, value in (("label_short", "stainless plunger"), ("label_long", "spring-loaded indexing plunger"),
                        ("label_short", "TRB plunger"), ("label_short", "indexing plungers"),
                        ("label_long", "indexing plunger " + "pin " * 12)):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**valid, name: value}, schema)
    assert build_request({"label": "Indexing Plunger Mx pin mm | TRB .-", "data": data}).schema == schema_json(words)


def test_a_title_of_codes_only_leaves_the_labels_to_the_records_words():
    words = label_words("TRB .- Mx", ["Hinge for doors."])
    assert set(words["label_short"]) == {"Hinge", "hinge", "for", "doors"}


def test_long_data_is_capped_explicitly_at_a_word_boundary():
    data = ["word " * 1000, "Material: steel"]
    user = prompt.build_user_prompt("Hinge", data)
    text = user.split("Text: ", 1)[1].split("'\n", 1)[0]
    assert len(text) <= prompt.MAX_DATA_CHARS
    assert text.endswith("word" + prompt.TRUNCATION_MARK)
    assert prompt.build_user_prompt("Hinge", ["short text"]).count(prompt.TRUNCATION_MARK) == 0


def test_label_cap_and_blank_blocks():
    user = prompt.build_user_prompt("x" * 1000, ["", "  ", "Material: steel"])
    label = user.split("Label: ", 1)[1].split("\n", 1)[0]
    assert len(label) <= prompt.MAX_LABEL_CHARS
    assert "Text: Material: steel'" in user


def test_prompt_version_is_stable_and_tracks_every_part(monkeypatch):
    assert prompt.PROMPT_VERSION == prompt.prompt_version()
    assert prompt.PROMPT_VERSION.startswith("ilid-") and len(prompt.PROMPT_VERSION) == 17
    monkeypatch.setattr(prompt, "SYSTEM_PROMPT", prompt.SYSTEM_PROMPT + " Be brief.")
    changed_system = prompt.prompt_version()
    monkeypatch.undo()
    monkeypatch.setattr(prompt, "MAX_DATA_CHARS", prompt.MAX_DATA_CHARS + 1)
    changed_cap = prompt.prompt_version()
    monkeypatch.undo()
    monkeypatch.setattr(prompt, "schema_json", lambda: schema_json().replace("{0,19}", "{0,18}"))
    changed_schema = prompt.prompt_version()
    assert len({prompt.PROMPT_VERSION, changed_system, changed_cap, changed_schema}) == 4


def random_value(rng: random.Random, name: str) -> str | None:
    if rng.random() < 0.2:
        return None
    spec = SPECS[name]
    words = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, spec.max_words))]
    return " ".join(words)[: spec.max_chars].strip()


@pytest.mark.parametrize("seed", range(200))
def test_schema_valid_answers_parse_to_the_same_fields(seed):
    """Any schema-valid answer that keeps the cross-field rules (consistency.py) parses unchanged."""
    rng = random.Random(seed)
    answer = {name: random_value(rng, name) for name in records.FIELDS}
    while enforce_rules(answer, "")[1]:  # labels the wrong way round, or a copied value
        answer = {name: random_value(rng, name) for name in records.FIELDS}
    jsonschema.validate(answer, EXTRACTION_SCHEMA)
    text = json.dumps(answer, indent=rng.choice([None, 2]))
    parsed = parse_answer(text)
    assert parsed.ok and parsed.form == "json"
    assert parsed.fields == answer
    assert parsed.notes == ()


def test_schema_rejects_what_the_parser_would_have_to_repair():
    too_long = {name: None for name in records.FIELDS} | {"label_short": "x" * 49}
    extra = {name: None for name in records.FIELDS} | {"colour": "red"}
    missing = {"label_long": "Hinge"}
    for invalid in (too_long, extra, missing, {name: "" for name in records.FIELDS}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(invalid, EXTRACTION_SCHEMA)
