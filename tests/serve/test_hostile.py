"""A valid but huge upload (a 40-megapixel JPEG, threshold 0: every mask back at full resolution)
must not stall the replica for everyone else: /healthz and a small request still answer fast."""

from __future__ import annotations

import io
import threading
import time

import pytest
import requests
from PIL import Image

pytestmark = pytest.mark.slow
BOUND_S = 1.0  # the bound for /healthz and a small request while the big one runs


def huge_jpeg() -> bytes:
    """6300 x 6300 (39.7 megapixels, under the 40 M limit) yet a small file: a smooth gradient."""
    image = Image.linear_gradient("L").resize((6300, 6300)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 60, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_huge_upload_does_not_hold_up_healthz_or_a_small_request(serve_app):
    data = huge_jpeg()
    assert len(data) < serve_app.max_upload
    done: dict = {}

    def hostile():
        done["response"] = requests.post(f"{serve_app.base}/v1/segment", files={"image": ("big.jpg", data, "image/jpeg")},
                                         data={"prompts": ["part"], "threshold": "0"}, timeout=300)
        done["at"] = time.perf_counter()

    worker = threading.Thread(target=hostile)
    worker.start()
    time.sleep(0.5)  # the upload is in: the ingress is decoding / encoding it
    probes = []
    while worker.is_alive() and len(probes) < 10:
        t0 = time.perf_counter()
        health = requests.get(f"{serve_app.base}/healthz", timeout=60)
        t1 = time.perf_counter()
        small = requests.post(f"{serve_app.base}/v1/classify", files={"image": ("s.png", small_png(), "image/png")},
                              data={"labels": ["steel", "brass"]}, timeout=60)
        t2 = time.perf_counter()
        assert health.status_code == 200 and small.status_code == 200, small.text
        probes.append((t1 - t0, t2 - t1, t2))
    worker.join()
    big = done["response"]
    assert big.status_code == 200, big.text[:500]
    body = big.json()
    assert (body["width"], body["height"]) == (6300, 6300) and 0 < len(body["masks"]) <= 16
    during = [p for p in probes if p[2] < done["at"]]
    assert during, "the big request finished before any probe: nothing was measured"
    assert max(h for h, _, _ in during) < BOUND_S, probes
    assert max(s for _, s, _ in during) < BOUND_S, probes


def test_masks_per_response_are_capped(serve_app):
    headers = {"X-API-Key": serve_app.api_key}
    response = requests.post(f"{serve_app.guarded}/v1/segment", headers=headers, timeout=120,
                             files={"image": ("s.png", small_png(), "image/png")},
                             data={"prompts": ["part"], "threshold": "0"})
    body = response.json()
    assert response.status_code == 200, body
    assert len(body["masks"]) == 2 and body["num_matched"] == body["num_candidates"] > 2  # max_returned: 2
    assert body["truncated"] is True
