"""`ilid eval run` and `ilid eval prompts` through the real CLI (in-process, no cluster)."""

from __future__ import annotations

import json
import random

import pytest
import torch
from click.testing import CliRunner

from ilid_ray.cli import main
from ilid_ray.models import TINY_MODEL, load_clip, save_trainable
from ilid_ray.testing.synthetic import SyntheticSpec, render_shape, write_synthetic_dataset

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")


def trained_checkpoint(tmp_path) -> str:
    model = load_clip(model_name=TINY_MODEL, pretrained=None, variant="coopiata")
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return str(save_trainable(model, tmp_path / "ckpt", extra={"label_field": "material", "epoch": 7}))


def test_eval_prompts_table(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = random.Random(0)
    for name, (colour, shape) in {"a.png": ("red", "square"), "b.jpg": ("blue", "circle")}.items():
        render_shape(colour, shape, 48, rng).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps({"a.png": "red square", "b.jpg": "blue circle"}))
    result = CliRunner().invoke(main, [
        "eval", "prompts", "--folder", str(folder), "--prompts", "red square, blue circle",
        "--prompt", "green cross", "--checkpoint", trained_checkpoint(tmp_path), "--expected", str(expected)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "zero-shot" in lines[0] and "CoOpIATA" in lines[0]
    assert lines[2].startswith("a.png") and lines[3].startswith("b.jpg")
    assert lines[-1].startswith("right: zero-shot ") and "/2" in lines[-1]


def test_eval_prompts_needs_two_prompts(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    result = CliRunner().invoke(main, ["eval", "prompts", "--images", str(tmp_path), "--prompt", "only one",
                                       "--model-name", TINY_MODEL, "--pretrained", ""])
    assert result.exit_code == 1 and "at least two prompts" in result.output  # one Error: line


def test_eval_run_scores_checkpoint_and_zero_shot(tmp_path):
    write_synthetic_dataset(tmp_path / "data", SyntheticSpec(samples=40, image_size=32, corrupt_images=1))
    result = CliRunner().invoke(main, ["eval", "run", "--root", str(tmp_path / "data"), "--checkpoint",
                                       trained_checkpoint(tmp_path), "--folds", "0,1,2",
                                       "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "(material)" in result.output  # the checkpoint's label field is the default
    assert "zeroshot" in result.output and "coopiata" in result.output
    saved = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert [r["variant"] for r in saved["rows"]] == ["zeroshot", "coopiata"]
    assert saved["rows"][1]["epoch"] == 7 and saved["rows"][1]["n"] > 0
    assert (tmp_path / "eval/tsne.png").read_bytes()[:4] == b"\x89PNG"
