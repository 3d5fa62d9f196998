"""Real HTTP requests against the running Serve app (tiny SAM + tiny CLIP, random weights)."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

from ilid_ray.serve.masks import decode_rle, mask_boxes

pytestmark = pytest.mark.slow
TIMEOUT = 120
PHOTO = Path(__file__).resolve().parents[1] / "data" / "real-photos" / "levelling_foot.png"
MAX_UPLOAD = 2 * 1024 * 1024  # as the serve_app fixture configures the main app


def photo_bytes() -> bytes:
    return PHOTO.read_bytes()


def png(size=(64, 48), color=(120, 60, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    data = bytearray(png((1, 1)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def segment(url, image: bytes, prompts, headers=None, **fields):
    data = {"prompts": prompts, **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}}
    return requests.post(f"{url}/v1/segment", files={"image": ("photo.png", image, "image/png")},
                         data=data, headers=headers, timeout=TIMEOUT)


def classify(url, image: bytes, labels, headers=None):
    return requests.post(f"{url}/v1/classify", files={"image": ("photo.png", image, "image/png")},
                         data={"labels": labels}, headers=headers, timeout=TIMEOUT)


def test_healthz_page_and_openapi(serve_app):
    health = requests.get(f"{serve_app.base}/healthz", timeout=TIMEOUT)
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["sam"]["model_type"] == "tiny"
    page = requests.get(f"{serve_app.base}/", timeout=TIMEOUT)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="image"' in page.text and "/v1/segment" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # offline: nothing external
    paths = requests.get(f"{serve_app.base}/openapi.json", timeout=TIMEOUT).json()["paths"]
    assert {"/v1/segment", "/v1/classify", "/healthz"} <= set(paths)


def test_segment_returns_masks_in_the_uploads_frame(serve_app):
    upload = Image.open(PHOTO)
    response = segment(serve_app.base, photo_bytes(), ["levelling foot", "screw"], threshold=0.0, overlay=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == upload.size
    assert body["num_candidates"] > 0
    assert len(body["masks"]) == body["num_candidates"]  # threshold 0 keeps every candidate
    scores = [m["score"] for m in body["masks"]]
    assert scores == sorted(scores, reverse=True)
    for m in body["masks"]:
        mask = decode_rle(m["rle"])
        assert mask.shape == (upload.height, upload.width)
        assert m["area"] == int(mask.sum()) > 0
        x0, y0, x1, y1 = mask_boxes(mask[None])[0]
        assert m["box"] == [x0, y0, x1 - x0, y1 - y0]
        assert m["prompt"] in ("levelling foot", "screw")
        probs = m["probabilities"]
        assert set(probs) == {"levelling foot", "screw"}  # the empty prompt is never among the user's
        assert abs(sum(probs.values()) + m["none_of_the_prompts"] - 1) < 1e-4
        assert m["score"] == max(probs["levelling foot"], probs["screw"])
    overlay = Image.open(io.BytesIO(base64.b64decode(body["overlay_png"])))
    assert overlay.format == "PNG" and max(overlay.size) <= 256  # drawn at SAM's working size
    timing = body["timing"]
    assert set(timing) == {"sam_s", "sam_compute_s", "score_s", "total_s"}
    assert 0 < timing["sam_compute_s"] <= timing["sam_s"] <= timing["total_s"]


def test_threshold_keeps_exactly_the_masks_scoring_at_least_it(serve_app):
    # without background the crops differ even where masks share a box, so scores differ more
    everything = segment(serve_app.base, photo_bytes(), ["foot"], threshold=0.0,
                         with_background=False).json()["masks"]
    scores = sorted({m["score"] for m in everything})
    gaps = [(b - a, (a + b) / 2) for a, b in zip(scores, scores[1:])]
    # a threshold far from any score (float noise cannot flip a mask), else one above them all
    cut = max(gaps)[1] if gaps and max(gaps)[0] > 1e-3 else min(1.0, scores[-1] + 1e-3)
    kept = segment(serve_app.base, photo_bytes(), ["foot"], threshold=cut, with_background=False).json()["masks"]
    expected = sorted(m["score"] for m in everything if m["score"] >= cut)
    assert sorted(m["score"] for m in kept) == pytest.approx(expected, abs=1e-4)
    assert len(kept) < len(everything)


def test_segment_without_background_and_default_threshold(serve_app):
    body = segment(serve_app.base, photo_bytes(), ["foot"], with_background=False).json()
    assert body["with_background"] is False and body["threshold"] == 0.5  # the tiny config's default
    assert all(m["score"] >= 0.5 for m in body["masks"]) and "overlay_png" not in body


def test_classify_ranks_the_labels(serve_app):
    labels = ["stainless steel", "brass", "plastic"]
    response = classify(serve_app.base, photo_bytes(), labels)
    assert response.status_code == 200, response.text
    body = response.json()
    probs = body["probabilities"]
    assert set(probs) == set(labels) and abs(sum(probs.values()) - 1) < 1e-4
    assert body["best"] == max(probs, key=probs.get) == body["ranking"][0]["label"]


BAD_SEGMENT_INPUTS = [
    ("not an image", dict(image=b"this is a text file, not a picture"), 415, "not_an_image"),
    ("truncated image", dict(image=lambda: photo_bytes()[:20_000]), 400, "corrupt_image"),
    ("empty file", dict(image=b""), 400, "empty_file"),
    ("too many pixels", dict(image=png_claiming(30_000, 30_000)), 413, "too_many_pixels"),
    ("upload over the limit", dict(image=b"\x89PNG" + b"\0" * (MAX_UPLOAD + 1)), 413, "upload_too_large"),
    ("request over the limit", dict(image=b"\0" * (MAX_UPLOAD * 2)), 413, "upload_too_large"),
    ("empty prompt", dict(prompts=["  "]), 422, "empty_text"),
    ("overlong prompt", dict(prompts=["x" * 201]), 422, "text_too_long"),
    ("too many prompts", dict(prompts=["a", "b", "c", "d", "e"]), 422, "too_many_prompts"),
    ("duplicate prompts", dict(prompts=["knob", "knob"]), 422, "duplicate_text"),
    ("no prompt", dict(prompts=[]), 422, "too_few_prompts"),
    ("threshold above 1", dict(threshold="1.5"), 422, "invalid_request"),
    ("threshold not a number", dict(threshold="high"), 422, "invalid_request"),
]


@pytest.mark.parametrize("case, change, status, code", BAD_SEGMENT_INPUTS, ids=[c[0] for c in BAD_SEGMENT_INPUTS])
def test_bad_segment_input_is_a_clear_4xx(serve_app, case, change, status, code):
    image = change.get("image", png())
    image = image() if callable(image) else image
    fields = {"threshold": change["threshold"]} if "threshold" in change else {}
    response = segment(serve_app.base, image, change.get("prompts", ["knob"]), **fields)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and len(error["message"]) > 10


def test_malformed_requests_are_4xx(serve_app):
    no_image = requests.post(f"{serve_app.base}/v1/segment", data={"prompts": ["knob"]}, timeout=TIMEOUT)
    assert no_image.status_code == 422 and "image" in no_image.json()["error"]["message"]
    one_label = classify(serve_app.base, png(), ["steel"])
    assert one_label.status_code == 422 and one_label.json()["error"]["code"] == "too_few_labels"
    chunked = requests.post(f"{serve_app.base}/v1/segment", data=iter([b"--x\r\n", b"junk"]),
                            headers={"Content-Type": "multipart/form-data; boundary=x"}, timeout=TIMEOUT)
    assert chunked.status_code == 411 and chunked.json()["error"]["code"] == "length_required"
    unknown = requests.get(f"{serve_app.base}/v1/nothing", timeout=TIMEOUT)
    assert unknown.status_code == 404 and "error" in unknown.json()


def test_concurrent_requests_all_succeed_and_replicas_survive_bad_input(serve_app):
    image = png((300, 200), (10, 200, 90))

    def one(i):
        if i % 3 == 0:
            return segment(serve_app.base, image, ["part"], threshold=0.0).status_code
        if i % 3 == 1:
            return classify(serve_app.base, image, ["steel", "brass"]).status_code
        return segment(serve_app.base, b"garbage", ["part"]).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, range(16)))
    assert not [c for c in codes if c >= 500], codes
    assert codes.count(200) == 11 and codes.count(415) == 5
    # the replicas are the same healthy ones: a good request still works
    assert segment(serve_app.base, image, ["part"]).status_code == 200


def test_api_key_is_required_when_configured(serve_app):
    assert requests.get(f"{serve_app.guarded}/healthz", timeout=TIMEOUT).status_code == 200
    missing = classify(serve_app.guarded, png(), ["a", "b"])
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    assert classify(serve_app.guarded, png(), ["a", "b"], headers={"X-API-Key": "wrong"}).status_code == 401
    ok = classify(serve_app.guarded, png(), ["a", "b"], headers={"Authorization": f"Bearer {serve_app.api_key}"})
    assert ok.status_code == 200, ok.text


def test_overload_gives_503_with_retry_after_not_timeouts(serve_app):
    headers = {"X-API-Key": serve_app.api_key}
    image = photo_bytes()

    def one(_):
        return segment(serve_app.guarded, image, ["foot"], headers=headers)

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(one, range(10)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}, codes
    assert codes.count(200) >= 1 and codes.count(503) >= 1, codes
    for r in responses:
        if r.status_code == 503:
            # from Serve's proxy (ingress queue full) or from the ingress (SAM's queue full)
            assert r.headers["Retry-After"] in (str(serve_app.retry_after), "4"), r.headers
