"""End to end: an imported dataset -> `run_synth` (Ray Data) -> `evaluate_scenes` through the
serving pipeline. Oracle backends (true masks in, right prompt out) score 1 and an empty answer
scores 0, so the harness is checked on known answers; then the real tiny SAM + CLIP run it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ilid_ray.serve import masks as M
from ilid_ray.serve.runner import load_serve_config
from ilid_ray.synth.config import SynthConfig
from ilid_ray.synth.evaluate import evaluate_scenes

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")


class OracleBackends:
    """SAM that returns the scene's true instance masks; a scorer that names each crop's own value
    of `kind` (or the empty prompt). `empty=True`: no masks at all."""

    def __init__(self, coco: dict, kind: str, empty: bool = False):
        self.by_size, self.kind, self.empty, self.labels = {}, kind, empty, []
        self.per_image: dict[int, list[dict]] = {}
        for ann in coco["annotations"]:
            self.per_image.setdefault(ann["image_id"], []).append(ann)
        self.images = {info["id"]: info for info in coco["images"]}
        self.scene_store = None

    def load(self, store):
        from ilid_ray.imaging import decode

        self.pixels = {}
        for image_id, info in self.images.items():
            self.pixels[image_id] = np.asarray(decode(store.get_bytes(info["file_name"]), 10**8).image)

    async def generate_masks(self, image: np.ndarray) -> dict:
        image_id = next(i for i, px in self.pixels.items() if px.shape == image.shape and (px == image).all())
        anns = [] if self.empty else self.per_image.get(image_id, [])
        self.labels = [a[self.kind] for a in anns]
        masks = np.stack([M.decode_rle(a["segmentation"]) for a in anns]) if anns else \
            np.zeros((0, *image.shape[:2]), bool)
        return {"packed": M.pack_masks(masks), "num_generated": len(masks), "seconds": 0.0}

    async def score(self, request, model_id: str = "") -> np.ndarray:
        logits = np.zeros((len(request.crops), len(request.texts)))
        for k, label in enumerate(self.labels):
            logits[k, request.texts.index(label) if label in request.texts else -1] = 20.0
        return logits


@pytest.mark.slow
def test_synth_scenes_then_eval_segment(ray_local, tmp_path):
    from ilid_ray.config import ImportConfig
    from ilid_ray.dataset.importer import run_import
    from ilid_ray.storage import Store
    from ilid_ray.synth.scenes import run_synth
    from ilid_ray.testing.defects import write_defect_folder

    write_defect_folder(tmp_path / "photos", per_class=3, rare=2, size=64, classes=("good", "stain", "crack"))
    (tmp_path / "classes.yaml").write_text("stain: {material: steel}\ngood: {material: aluminium}\n")
    run_import(ImportConfig.model_validate({
        "source": {"folder": str(tmp_path / "photos"), "descriptions": str(tmp_path / "classes.yaml")},
        "dataset": {"root": str(tmp_path / "data")}, "download": {"image_size": 96}}))

    cfg = SynthConfig(root=str(tmp_path / "data"), out=str(tmp_path / "scenes"), scenes=3, scene_size=128,
                      min_objects=2, max_objects=3, scenes_per_task=2)
    summary = run_synth(cfg)
    assert summary["scenes"] == 3 and summary["cutouts"] == 8 and summary["cutouts_rejected"] == 0
    store = Store(cfg.out)
    coco = json.loads(store.get_bytes("annotations.json"))
    assert {c["name"] for c in coco["categories"]} <= {"good", "stain", "crack"}
    assert len(coco["annotations"]) >= 3 and all(store.exists(i["file_name"]) for i in coco["images"])

    app = load_serve_config(None).app
    for kind in ("label_short", "material"):
        oracle = OracleBackends(coco, kind)
        oracle.load(store)
        perfect = evaluate_scenes(cfg.out, app, 0.5, backends=oracle)["per_type"][kind]
        assert perfect["miou"] == 1.0 and perfect["recall"] == 1.0 and perfect["precision"] == 1.0
        silent = OracleBackends(coco, kind, empty=True)
        silent.load(store)
        nothing = evaluate_scenes(cfg.out, app, 0.5, backends=silent)["per_type"][kind]
        assert nothing["miou"] == 0.0 and nothing["recall"] == 0.0 and nothing["tp"] == 0

    real = evaluate_scenes(cfg.out, app, 0.0, overlays=2, out=str(tmp_path / "eval"))
    assert real["scenes"] == 3 and len(real["overlays"]) == 2
    assert (tmp_path / "eval" / "overlays" / "scene_00000.png").read_bytes()[:4] == b"\x89PNG"
    labels = real["per_type"]["label_short"]
    assert labels["tp"] + labels["fp"] > 0  # at threshold 0 the random models answer something
    assert 0.0 <= labels["miou"] <= 1.0
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written["per_type"] == real["per_type"]
