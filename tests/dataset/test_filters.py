import re

import pytest

from ilid_ray.dataset.postfilter import clean_field, postfilter_rows
from ilid_ray.dataset.prefilter import clean_text, compile_trade_names, prefilter_rows
from ilid_ray.records import OK, REJECTED, raw_row


def row(label, data, source="acme"):
    return raw_row(f"http://shop/{label}", source, label, data, ["http://shop/i.jpg"], "2026-01-01T00:00:00Z")


def test_clean_text_removes_escapes_digits_and_trade_names():
    names = re.compile(r"\bGN\b|Ganter", re.IGNORECASE)
    assert clean_text("GN 7336.8 Stainless\tSteel\nHinge 40x40 mm\\n", names) == ". Stainless Steel Hinge x mm"
    assert clean_text("ganter knob", names) == "knob"
    assert clean_text(None) == ""


def test_prefilter_cleans_ok_rows_and_rejects_with_reasons():
    trade = compile_trade_names({"acme": "acme|rapidgrip"})
    rows = [
        row("ACME Toggle Clamp 250", ["Material: steel\n", "   ", "12345", "RapidGrip quality"]),
        row("   ", ["text"]),
        row("4711", ["text"]),
        row("Hinge", ["  ", "\t", "99"]),
    ]
    out = prefilter_rows(rows, trade)
    assert out[0]["status"] == OK
    assert out[0]["label"] == "Toggle Clamp"
    assert out[0]["data"] == ["Material: steel", "quality"]
    assert [(r["status"], r["reject_reason"]) for r in out[1:]] == [
        (REJECTED, "empty label"),
        (REJECTED, "label empty after removing trade names and digits"),
        (REJECTED, "no text blocks left after cleaning"),
    ]
    assert all(r["reject_stage"] == "prefilter" for r in out[1:])


def test_prefilter_leaves_rejected_rows_untouched():
    r = row("Hinge 12", ["a 1"])
    r.update(status=REJECTED, reject_stage="crawl", reject_reason="http 404")
    assert prefilter_rows([r], {})[0]["label"] == "Hinge 12"


def test_bad_trade_name_regex_is_a_clear_error():
    with pytest.raises(ValueError, match="catalog 'acme'"):
        compile_trade_names({"acme": "(unclosed"})


def test_clean_field_keeps_only_word_chars_and_drops_short_values():
    assert clean_field("Stainless steel (AISI 304)!", 4) == "Stainless steel AISI 304"
    assert clean_field("a/b", 4) is None
    assert clean_field("zinc-plated, blue_passivated.", 4) == "zinc-plated blue_passivated."
    assert clean_field(None, 4) is None


def test_postfilter_lowercases_and_rejects_missing_labels():
    good = row("x", ["y"])
    good.update(label_long="Stainless Steel Hinge", label_short="Hinge", description="A Hinge for doors.",
                material="Stainless Steel", material_finish="Matt")
    bad = row("x", ["y"])
    bad.update(label_long="Toggle clamp", label_short="#!", material="steel")
    out = postfilter_rows([good, bad], 4)
    assert (out[0]["label_long"], out[0]["label_short"], out[0]["material"]) == ("stainless steel hinge", "hinge",
                                                                               "stainless steel")
    assert out[0]["description"] == "A Hinge for doors."
    assert out[0]["material_finish"] == "matt"
    assert out[1]["status"] == REJECTED and out[1]["reject_stage"] == "postfilter"
    assert "missing label_short" in out[1]["reject_reason"]
