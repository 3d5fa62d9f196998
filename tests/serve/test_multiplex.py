"""Customer adapters over HTTP: the `serve_multiplexed_model_id` header picks the checkpoint that
scores, on the one scorer replica (Serve model multiplexing, LRU of 2 over a registry of 3)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from PIL import Image

from ilid_ray.models import load_clip
from ilid_ray.serve import masks as M
from ilid_ray.serve.runner import load_serve_config
from ilid_ray.serve.scorer import ClipScorer, ScoreRequest
from tests.serve.conftest import ADAPTER_IDS

pytestmark = pytest.mark.slow
LABELS = ["stainless steel", "brass", "plastic"]


def photo_png() -> bytes:
    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def classify(serve_app, model_id: str | None):
    headers = {"serve_multiplexed_model_id": model_id} if model_id else {}
    return requests.post(f"{serve_app.base}/v1/classify", headers=headers, timeout=120,
                         files={"image": ("p.png", photo_png(), "image/png")}, data={"labels": LABELS})


def expected_probabilities(checkpoint) -> list[float]:
    """What the checkpoint itself says, computed here without Serve."""
    cfg = load_serve_config().app
    work = np.asarray(M.shrink_to_long_side(Image.open(io.BytesIO(photo_png())).convert("RGB"),
                                            cfg.sam.image_long_side))
    scorer = ClipScorer(cfg.clip, model=load_clip(checkpoint))
    return M.softmax(scorer.logits([ScoreRequest([work], LABELS)])[0].astype(np.float64))[0].tolist()


def test_models_are_listed_and_each_header_scores_with_its_own_checkpoint(serve_app, adapter_registry):
    listed = requests.get(f"{serve_app.base}/v1/models", timeout=60).json()
    assert listed["models"] == sorted(ADAPTER_IDS) and listed["header"] == "serve_multiplexed_model_id"
    answers = {}
    for model_id in [*ADAPTER_IDS, ADAPTER_IDS[0]]:  # 3 adapters through an LRU of 2, then the evicted one
        response = classify(serve_app, model_id)
        assert response.status_code == 200, response.text
        answers.setdefault(model_id, []).append([response.json()["probabilities"][label] for label in LABELS])
    for model_id, got in answers.items():
        want = expected_probabilities(adapter_registry / model_id)
        for probs in got:
            assert probs == pytest.approx(want, abs=1e-4), model_id
    assert len({tuple(round(p, 4) for p in a[0]) for a in answers.values()}) == len(ADAPTER_IDS)
    default = classify(serve_app, None).json()["probabilities"]
    assert [default[label] for label in LABELS] != pytest.approx(answers[ADAPTER_IDS[0]][0], abs=1e-4)


def test_an_unknown_model_is_a_404(serve_app):
    response = classify(serve_app, "nobody")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_model"
