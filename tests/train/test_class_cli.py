"""`ilid eval classes` as a user runs it (a subprocess, no Ray): a generated defect folder scored by
zero-shot CLIP and a checkpoint, the files it writes, and its common mistakes."""

from __future__ import annotations

import json

import pytest

from tests.test_cli_errors import error_line, ilid

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")
CLASSES = ("good", "stain", "crack")


def test_eval_classes_on_a_folder_writes_reports_and_confusion_pngs(tmp_path):
    from ilid_ray.models import TINY_MODEL, load_clip, save_trainable
    from ilid_ray.testing.defects import write_defect_folder

    write_defect_folder(tmp_path / "photos", per_class=3, rare=2, size=40, classes=CLASSES)
    checkpoint = save_trainable(load_clip(None, model_name=TINY_MODEL, pretrained=None, variant="coopiata"),
                                tmp_path / "ckpt")
    done = ilid("eval", "classes", "--folder", str(tmp_path / "photos"), "--checkpoint", str(checkpoint),
                "--model-name", TINY_MODEL, "--pretrained", "none", "--image-size", "40", "--out", str(tmp_path / "out"),
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "macroF1" in done.stdout and "coopiata" in done.stdout
    written = json.loads(done.stdout[done.stdout.index("{"):])["outputs"]
    report = json.loads((tmp_path / "out" / "classes.json").read_text())
    assert list(report["models"]) == ["zeroshot", "coopiata"] and report["skipped"] == {}
    for model in report["models"].values():
        assert model["n"] == 8 and 0 <= model["macro_f1"] <= 1
        assert [p["class"] for p in model["per_class"]] == sorted(CLASSES)
        assert {p["class"]: p["support"] for p in model["per_class"]} == {"crack": 2, "good": 3, "stain": 3}
        assert all(set(p) >= {"precision", "recall", "f1"} for p in model["per_class"])
    pngs = sorted(p.name for p in (tmp_path / "out").glob("confusion-*.png"))
    assert pngs == ["confusion-coopiata.png", "confusion-zeroshot.png"]
    assert all((tmp_path / "out" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert sorted(written) == sorted(str(p) for p in (tmp_path / "out").iterdir())


def test_eval_classes_without_images_or_a_source(tmp_path):
    done = ilid("eval", "classes", cwd=tmp_path)
    assert done.returncode == 2
    assert "give --root (dataset folds) or --folder" in error_line(done)

    (tmp_path / "photos" / "good").mkdir(parents=True)
    (tmp_path / "photos" / "good" / "notes.jpg").write_text("not an image")
    done = ilid("eval", "classes", "--folder", str(tmp_path / "photos"), "--model-name", "ilid-tiny-clip",
                "--pretrained", "none", cwd=tmp_path)
    assert done.returncode == 1
    line = error_line(done)
    assert f"no usable image in {tmp_path / 'photos'}" in line and "not an image" in line
