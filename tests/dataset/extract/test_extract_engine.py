"""The shared row update: what an answer does to a row, and which reason a reject carries."""

from __future__ import annotations

import copy
import json
from typing import Sequence

import pytest

from ilid_ray.config import ExtractConfig
from ilid_ray import records
from ilid_ray.dataset.extract.engine import (ExtractionEngine, ExtractionRequest,
                                             apply_answer, apply_answers, build_request, extract_rows, make_engine)
from ilid_ray.dataset.extract.prompt import build_messages

GOOD = {"label_long": "Stainless steel ball lock pin", "label_short": "Ball lock pin",
        "description": "Pin for quick connection of components", "material": "stainless steel",
        "material_finish": "bright"}


def ok_row(n: int = 0, label: str = "Ball lock pin, stainless",
           data: Sequence[str] = ("Pin for quick connection, bright surface.", "Material: stainless steel")) -> dict:
    return records.raw_row(f"https://shop.example/p/{n}", "shop", label, list(data), [f"https://img/{n}.jpg"],
                           "2026-01-01T00:00:00Z")


def rejected_row(n: int = 99) -> dict:
    return records.reject(ok_row(n), "prefilter", "no text blocks left")


def test_ok_answer_fills_fields_and_provenance():
    row = apply_answer(ok_row(), json.dumps(GOOD), "some/model", "ilid-abc")
    assert records.is_ok(row)
    assert {k: row[k] for k in GOOD} == GOOD
    assert (row["model"], row["prompt_version"], row["llm_raw"]) == ("some/model", "ilid-abc", json.dumps(GOOD))


@pytest.mark.parametrize("answer, reason", [
    ("I cannot help with that.", "unparseable answer: no JSON object and no numbered list: 'I cannot help"),
    ('{"label_long": "Ball lock', "unparseable answer: JSON object never closed: "),
    ("", "unparseable answer: empty answer"),
    (None, "no answer from the engine"),
    (json.dumps(dict(GOOD, label_short=None)), "missing label_short (json answer)"),
    (json.dumps(dict(GOOD, label_long="N/A", label_short="unknown")), "missing label_long and label_short"),
    ("1. Long label: Ball lock pin\n4. Material: steel", "missing label_short (list answer)"),
    (json.dumps(dict(GOOD, label_short="a short label or name of the product")),
     "missing label_short (json answer; label_short repeats the prompt's instructions)"),
    ('{"label_long": "Ball lock pin", "label_sh', "missing label_short (json-partial answer)"),
])
def test_reject_reasons_are_specific(answer, reason):
    row = apply_answer(ok_row(), answer, "m", "p")
    assert row["status"] == records.REJECTED
    assert row["reject_stage"] == "extract"
    assert row["reject_reason"].startswith(reason), row["reject_reason"]
    assert row["llm_raw"] == answer and row["model"] == "m"


def test_optional_fields_may_be_missing():
    row = apply_answer(ok_row(data=["Pin for quick connection."]), json.dumps(dict(GOOD, description=None, material="none", material_finish="-")),
                       "m", "p")
    assert records.is_ok(row)
    assert (row["description"], row["material"], row["material_finish"]) == (None, None, None)


def test_markup_fields_win_over_the_answer_and_are_recorded():
    row = ok_row(data=["Pin for quick connection.", "Material: stainless steel AISI", "Colour: bright"])
    row = apply_answer(row, json.dumps(dict(GOOD, material="zamak", material_finish=None)), "m", "p")
    assert (row["material"], row["material_finish"]) == ("stainless steel", "bright")  # codes stripped
    assert row["fields_from_markup"] == ["material", "material_finish"]
    plain = apply_answer(ok_row(data=["Stainless steel pin for quick connection, bright."]), json.dumps(GOOD), "m", "p")
    assert plain["material"] == "stainless steel" and plain["fields_from_markup"] == []


def test_equal_labels_are_told_apart_by_the_material_the_markup_states():
    """The markup's material (not the model's "zamak") qualifies a long label that copied the short one."""
    row = ok_row(data=["Pin for quick connection.", "Material: stainless steel AISI"])
    row = apply_answer(row, json.dumps(dict(GOOD, label_long="ball lock pin", label_short="Ball lock pin",
                                            material="zamak")), "m", "p")
    assert (row["label_short"], row["label_long"]) == ("Ball lock pin", "stainless steel ball lock pin")
    assert records.is_ok(row) and row["fields_from_markup"] == ["material"]


def test_labels_that_only_name_the_material_reject_the_item_with_the_reason():
    row = ok_row(data=["Pin for quick connection.", "Material: stainless steel AISI", "Finish: bright"])
    row = apply_answer(row, json.dumps(dict(GOOD, label_long="Stainless steel", label_short="bright steel")), "m", "p")
    assert row["status"] == records.REJECTED and row["reject_stage"] == "extract"
    assert row["reject_reason"].startswith("missing label_long and label_short")
    assert "only material and finish words, no product named" in row["reject_reason"]


def test_rejected_rows_pass_untouched_and_lengths_must_match():
    rows = [ok_row(1), rejected_row(), ok_row(2)]
    before = copy.deepcopy(rows[1])
    out = apply_answers(rows, [json.dumps(GOOD), json.dumps(GOOD), "garbage"], "m", "p")
    assert out[1] == before
    assert records.is_ok(out[0]) and out[2]["status"] == records.REJECTED
    with pytest.raises(ValueError, match="2 answers for 3 rows"):
        apply_answers(rows, [None, None], "m", "p")


def test_long_raw_answers_are_bounded():
    row = apply_answer(ok_row(), json.dumps(GOOD) + " " * 10_000 + "tail", "m", "p")
    assert records.is_ok(row) and len(row["llm_raw"]) == 4000


class ScriptedEngine(ExtractionEngine):
    """Answers from a list, recording what it was asked (exercises the engine contract)."""

    name, model, prompt_version = "scripted", "scripted-model", "scripted-v1"

    def __init__(self, answers: list[str]):
        self.answers = answers
        self.calls: list[list[ExtractionRequest]] = []

    def generate(self, requests: Sequence[ExtractionRequest]) -> list[str]:
        self.calls.append(list(requests))
        return self.answers[: len(requests)]


def test_extract_rows_asks_only_ok_rows_in_one_call():
    rows = [ok_row(1, "First pin"), rejected_row(), ok_row(2, "Second pin")]
    engine = ScriptedEngine([json.dumps(GOOD), "no idea"])
    out = extract_rows(rows, engine)
    assert len(engine.calls) == 1
    assert [r.label for r in engine.calls[0]] == ["First pin", "Second pin"]
    assert engine.calls[0][0].messages == tuple(build_messages("First pin", rows[0]["data"]))
    assert [r["status"] for r in out] == ["ok", "rejected", "rejected"]
    assert out[1]["reject_stage"] == "prefilter"
    assert out[0]["model"] == "scripted-model" and out[0]["prompt_version"] == "scripted-v1"


def test_extract_rows_skips_the_engine_when_nothing_is_ok():
    engine = ScriptedEngine([])
    out = extract_rows([rejected_row()], engine)
    assert engine.calls == [] and out[0]["reject_stage"] == "prefilter"


def test_an_engine_returning_the_wrong_count_is_an_error():
    with pytest.raises(RuntimeError, match="returned 1 answers for 2 requests"):
        extract_rows([ok_row(1), ok_row(2)], ScriptedEngine([json.dumps(GOOD)]))


def test_build_request_tolerates_missing_data():
    request = build_request({"label": "Hinge", "data": None})
    assert request.data == () and "Label: Hinge" in request.messages[-1]["content"]


def test_vllm_is_a_ray_data_llm_stage_not_a_per_batch_engine():
    # its stage: test_vllm_rows.py (rows, config) and test_vllm_engine.py (a real build)
    with pytest.raises(ValueError, match="ray.data.llm stage"):
        make_engine(ExtractConfig(engine="vllm"))
