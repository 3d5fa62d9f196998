"""Classification on a fixed label set: the report on known answers, the plot, the samples."""

from __future__ import annotations

from collections import Counter

import pytest

from ilid_ray.config import DownloadConfig
from ilid_ray.models import TINY_MODEL
from ilid_ray.testing.defects import write_defect_folder
from ilid_ray.train.classes import class_report, confusion_png, evaluate_classes, folder_samples, format_reports

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")


def test_report_on_known_answers():
    classes = ["dent", "good", "crack"]
    perfect = class_report(["dent", "good", "crack"], ["dent", "good", "crack"], classes)
    assert perfect["macro_f1"] == 1.0 and perfect["accuracy"] == 1.0
    assert perfect["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    # everything called "good": good has precision 1/3, recall 1; the others 0
    lazy = class_report(["dent", "good", "crack"], ["good", "good", "good"], classes)
    good = next(p for p in lazy["per_class"] if p["class"] == "good")
    assert good["precision"] == pytest.approx(1 / 3) and good["recall"] == 1.0
    assert lazy["macro_f1"] == pytest.approx(0.5 / 3)  # F1(good) = 0.5, over three classes
    assert lazy["confusion"] == [[0, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_confusion_png_is_a_png():
    assert confusion_png([[3, 1], [0, 2]], ["dent", "good"], "t")[:8] == b"\x89PNG\r\n\x1a\n"


def test_folder_samples_are_normalised_and_bad_files_counted(tmp_path):
    write_defect_folder(tmp_path, per_class=2, rare=1, size=40, classes=("good", "crack"))
    (tmp_path / "good" / "notes.jpg").write_text("not an image")
    (tmp_path / "loose.jpg").write_bytes(b"x")
    skipped = Counter()
    samples = list(folder_samples(str(tmp_path), DownloadConfig(image_size=48), skipped))
    assert sorted(label for label, _ in samples) == ["crack", "good", "good"]
    assert skipped == Counter({"no class folder": 1, "not an image: unrecognised data": 1})
    from PIL import Image
    import io

    assert Image.open(io.BytesIO(samples[0][1])).size == (48, 48)


def test_evaluate_classes_scores_every_model_on_the_same_images(tmp_path):
    write_defect_folder(tmp_path, per_class=3, rare=2, size=40, classes=("good", "stain", "crack"))
    samples = list(folder_samples(str(tmp_path), DownloadConfig(image_size=40), Counter()))
    reports = evaluate_classes(samples, ["good", "stain", "crack"], [], model_name=TINY_MODEL, pretrained=None)
    assert list(reports) == ["zeroshot"]
    report = reports["zeroshot"]
    assert report["n"] == 8 and sum(map(sum, report["confusion"])) == 8
    assert [p["support"] for p in report["per_class"]] == [3, 3, 2]
    assert "macroF1" in format_reports(reports)
    with pytest.raises(ValueError, match="not among the classes"):
        evaluate_classes(samples, ["good", "stain"], [], model_name=TINY_MODEL, pretrained=None)
