"""End to end on a generated inspection folder (scarce, monotonous, one rare class): `run_import`
twice (the second adds only the new files), `ilid cv` in class mode (eval.classes) on the feature
cache: a trained variant and a baseline beat zero-shot on macro F1 over the classes, each run with
its classes.json and confusion PNGs; then `evaluate_classes` of a run's checkpoint on a held-out
folder."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from ilid_ray.config import DownloadConfig, ImportConfig
from ilid_ray.models import TINY_MODEL
from ilid_ray.testing.defects import write_defect_folder

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")
EPOCHS = 20


@pytest.mark.slow
def test_import_train_and_classify_defects(ray_local, tmp_path):
    import pyarrow.parquet as pq

    from ilid_ray.dataset.importer import run_import
    from ilid_ray.dataset.manifest import Versions
    from ilid_ray.storage import Store
    from ilid_ray.train.classes import dataset_classes, evaluate_classes, folder_samples
    from ilid_ray.train.config import TrainConfig
    from ilid_ray.train.cv import cross_validate, format_summary

    photos, root = tmp_path / "photos", tmp_path / "data"
    write_defect_folder(photos, per_class=24, rare=6, size=64, seed=0, classes=("good", "scratch", "dent", "stain"))
    (photos / "good" / "notes.jpg").write_text("not an image")
    shutil.copy(photos / "dent" / "dent_0000.jpg", photos / "stain" / "copy.jpg")
    cfg = ImportConfig.model_validate({"source": {"folder": str(photos), "name": "line-1"},
                                       "dataset": {"root": str(root), "folds": 5}, "download": {"image_size": 64}})
    first = run_import(cfg).record
    assert (first["added"], first["rejected"]) == (96, 2)
    assert first["rejected_per_stage"] == {"import": 1, "dedupe": 1}

    write_defect_folder(photos, per_class=24, rare=6, size=64, seed=0, classes=("crack",))  # the rare class arrives
    second = run_import(cfg).record
    assert (second["version"], second["added"], second["total"]) == ("v0002", 6, 102)
    # v0001's files and the copy are dedupe rejects; the broken file is rejected again on its own merits
    assert second["rejected_per_stage"] == {"dedupe": 97, "import": 1}
    manifest = Versions(Store(str(root))).manifest()
    crack_folds = Counter(f for f, l in zip(manifest.column("fold").to_pylist(),
                                            manifest.column("label_short").to_pylist()) if l == "crack")
    assert sorted(crack_folds.values()) == [1, 1, 1, 1, 2]  # stratified: the rare class is in every fold
    rejects = pq.read_table(root / "rejects" / f"{first['build_id']}.parquet").to_pylist()
    assert {r["reason"] for r in rejects} >= {"not an image: unrecognised data"}

    train = TrainConfig.model_validate({
        "model": {"name": TINY_MODEL, "pretrained": None},
        "data": {"root": str(root), "folds": 5, "batch_size": 16, "crop_scale": [0.8, 1.0]},
        "optim": {"lr": 0.5, "epochs": EPOCHS, "warmup_epochs": 1},
        "loss": {"multi_positive": True},
        "scaling": {"num_workers": 1, "cpus_per_worker": 0.5},
        "feature_cache": {"enabled": True, "views": 4},
        "eval": {"every_epochs": EPOCHS, "train_split": False, "tsne_samples": 0, "classes": True},
        "output": {"storage_path": str(tmp_path / "runs"), "name": "cv", "progress": False},
        "cv": {"variants": ["coopiata", "linearprobe"], "folds": [0], "max_parallel": 1},  # suite time: one fold
    })
    out = cross_validate(train)
    summary = out.summary
    for trained in ("coopiata", "linearprobe"):
        assert summary[trained]["folds"] == 1
        assert summary[trained]["class_f1"] > summary["zeroshot"]["class_f1"] + 0.05, summary
    assert "class macro F1" in format_summary(summary)
    for run, model in (("coopiata-fold0", "coopiata"), ("linearprobe-fold0", "linearprobe")):
        folder = tmp_path / "runs" / "cv" / run
        report = json.loads((folder / "classes.json").read_text())["models"]
        assert list(report) == ["zeroshot", model]
        assert [p["class"] for p in report[model]["per_class"]] == ["crack", "dent", "good", "scratch", "stain"]
        assert report[model]["n"] == sum(map(sum, report[model]["confusion"])) > 0
        assert sorted(p.name for p in folder.glob("confusion-*.png")) == [f"confusion-{model}.png",
                                                                         "confusion-zeroshot.png"]
        rows = json.loads((folder / "metrics.json").read_text())["rows"]
        assert {r["variant"]: r["class_f1"] for r in rows if r["class_f1"] is not None} == {
            name: r["macro_f1"] for name, r in report.items()}

    write_defect_folder(tmp_path / "held-out", per_class=10, rare=4, size=64, seed=1)
    skipped = Counter()
    samples = list(folder_samples(str(tmp_path / "held-out"), DownloadConfig(image_size=64), skipped))
    classes = dataset_classes(str(root))
    assert classes == ["crack", "dent", "good", "scratch", "stain"] and not skipped
    checkpoint = tmp_path / "runs" / "cv" / "coopiata-fold0" / "model.safetensors"
    reports = evaluate_classes(samples, classes, [str(checkpoint)], model_name=TINY_MODEL, pretrained=None)
    zero_shot, trained = reports["zeroshot"], reports["coopiata"]
    assert zero_shot["n"] == trained["n"] == 44
    assert trained["macro_f1"] > zero_shot["macro_f1"] + 0.05, (trained["macro_f1"], zero_shot["macro_f1"])
