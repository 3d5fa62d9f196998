"""`ilid dataset import`: the pure parts (labels, listing, per-class texts, stratified folds).
The run itself (Ray, shards, growth) is exercised end to end in tests/train/test_classes_e2e.py."""

from __future__ import annotations

from collections import Counter

import pytest

from ilid_ray import records
from ilid_ray.config import ImportConfig, load_import_config
from ilid_ray.dataset.importer import (assign_stratified_folds, class_texts, clean_label, folder_entries, import_row,
                                       list_rows, table_entries)


def test_clean_label_makes_folder_names_readable():
    assert clean_label("Surface_Scratch-2") == "surface scratch 2"
    assert clean_label("  dent  ") == "dent"
    assert clean_label("###") is None
    assert clean_label(None) is None


def test_folder_listing_labels_by_first_folder_and_skips_hidden(tmp_path):
    (tmp_path / "scratch" / "deep").mkdir(parents=True)
    (tmp_path / "scratch" / "a.jpg").write_bytes(b"x")
    (tmp_path / "scratch" / "deep" / "b.jpg").write_bytes(b"x")
    (tmp_path / "loose.jpg").write_bytes(b"x")
    (tmp_path / "scratch" / ".DS_Store").write_bytes(b"x")
    entries = {e["rel"]: e["label"] for e in folder_entries(str(tmp_path))}
    assert entries == {"scratch/a.jpg": "scratch", "scratch/deep/b.jpg": "scratch", "loose.jpg": None}


def test_unlabelled_file_is_a_reject_with_a_reason():
    row = import_row({"rel": "loose.jpg", "location": "/x/loose.jpg", "label": None}, "factory", {}, "t")
    assert row["status"] == records.REJECTED and row["reject_stage"] == "import"
    assert "label" in row["reject_reason"]


def test_table_rows_and_yaml_texts_fill_the_fields(tmp_path):
    (tmp_path / "classes.yaml").write_text("Surface_Scratch: thin lines\nstain: {description: brown, material: steel}\n")
    (tmp_path / "labels.csv").write_text("path,label,material\nimg/1.jpg,Surface_Scratch,aluminium\n"
                                         "/abs/2.jpg,stain,\n")
    source = {"table": str(tmp_path / "labels.csv"), "descriptions": str(tmp_path / "classes.yaml"), "name": "f"}
    cfg = ImportConfig.model_validate({"source": source})
    rows = {r["url"]: r for r in list_rows(cfg, "t")}
    first, second = rows["import://f/img/1.jpg"], rows["import://f//abs/2.jpg"]
    assert first["image_urls"] == [f"{tmp_path}/img/1.jpg"] and second["image_urls"] == ["/abs/2.jpg"]
    assert (first["label_short"], first["description"], first["material"]) == ("surface scratch", "thin lines",
                                                                               "aluminium")
    assert (second["label_short"], second["description"], second["material"]) == ("stain", "brown", "steel")
    assert first["label_long"] == "surface scratch"


def test_table_without_its_columns_says_which(tmp_path):
    (tmp_path / "t.csv").write_text("file,class\na.jpg,x\n")
    cfg = ImportConfig.model_validate({"source": {"table": str(tmp_path / "t.csv")}})
    with pytest.raises(ValueError, match=r"missing column\(s\) \['path', 'label'\]"):
        table_entries(cfg.source.table, cfg.source)


def test_unknown_class_text_fields_are_errors(tmp_path):
    (tmp_path / "c.yaml").write_text("dent: {colour: red}\n")
    with pytest.raises(ValueError, match="unknown fields"):
        class_texts(str(tmp_path / "c.yaml"))


def test_config_needs_exactly_one_input_and_resolves_paths_from_its_file(tmp_path):
    with pytest.raises(ValueError, match="exactly one of folder"):
        ImportConfig.model_validate({"source": {}})
    (tmp_path / "imp.yaml").write_text("source: {folder: photos, name: line-3}\n")
    cfg = load_import_config(tmp_path / "imp.yaml")
    assert cfg.source.folder == str(tmp_path / "photos") and cfg.source.name == "line-3"
    cfg = load_import_config(tmp_path / "imp.yaml", ["source.folder=null", "source.table=x.csv"])
    assert cfg.source.table == "x.csv" and cfg.source.folder is None


def _rows(label: str, n: int) -> list[dict]:
    out = []
    for i in range(n):
        row = import_row({"rel": f"{label}/{i}.jpg", "location": f"/p/{label}/{i}.jpg", "label": label}, "f", {}, "t")
        out.append(row)
    return out


def test_stratified_folds_spread_every_class_evenly_and_keep_existing_folds():
    rows = _rows("good", 30) + _rows("crack", 6)
    assign_stratified_folds(rows, records.MANIFEST_SCHEMA.empty_table(), folds=6)
    per = Counter((r["label_short"], r["fold"]) for r in rows)
    assert [per[("crack", f)] for f in range(6)] == [1] * 6  # the rare class is in every fold
    assert [per[("good", f)] for f in range(6)] == [5] * 6
    again = _rows("good", 30) + _rows("crack", 6)
    assign_stratified_folds(again, records.MANIFEST_SCHEMA.empty_table(), folds=6)
    assert [r["fold"] for r in again] == [r["fold"] for r in rows]  # deterministic

    # growth: the manifest's samples keep their folds and count; new ones fill the emptiest folds
    import pyarrow as pa

    existing = pa.Table.from_pylist([{"id": f"old{i}", "label_short": "crack", "fold": i % 3} for i in range(3)],
                                    schema=pa.schema([("id", pa.string()), ("label_short", pa.string()),
                                                      ("fold", pa.int32())]))
    new = _rows("crack", 3)
    assign_stratified_folds(new, existing, folds=6)
    assert sorted(r["fold"] for r in new) == [3, 4, 5]


def test_shipped_import_config_loads_and_names_its_files():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "configs" / "import" / "defects.yaml"
    cfg = load_import_config(path)
    assert cfg.source.folder.endswith("defect-photos") and cfg.dataset.folds == 5
    texts = class_texts(cfg.source.descriptions)
    assert texts["stain"]["material"] == "steel" and texts["crack"]["label_long"] == "surface crack"
