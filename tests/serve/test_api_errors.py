"""The API's answer to a bug, driven through its ASGI app in-process (no Serve needed): a 500 says
"internal error" and an id, the log holds the exception under that id, the client never sees it."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import requests
from PIL import Image

from ilid_ray.serve.api import create_api
from ilid_ray.serve.runner import load_serve_config


class BrokenScorer:
    """Model backends whose scorer has a bug."""

    async def generate_masks(self, image):
        raise AssertionError("classify never asks for masks")

    async def score(self, request, model_id=""):
        raise RuntimeError("secret detail: /srv/models/customer-a.safetensors")


def post_classify(app, image: bytes, labels: list[str]) -> tuple[int, dict]:
    prepared = requests.Request("POST", "http://test/v1/classify", files={"image": ("x.png", image, "image/png")},
                                data={"labels": labels}).prepare()
    headers = [(k.lower().encode(), v.encode()) for k, v in prepared.headers.items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/classify", "raw_path": b"/v1/classify", "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("test", 80)}
    messages = [{"type": "http.request", "body": prepared.body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    try:
        asyncio.run(app(scope, receive, send))
    except RuntimeError:  # Starlette re-raises a 500's exception to the server after answering
        pass
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


def test_a_bug_answers_internal_error_with_an_id_that_is_in_the_log(caplog):
    app = create_api(load_serve_config().app, BrokenScorer())
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buffer, format="PNG")
    with caplog.at_level(logging.ERROR, logger="ilid_ray.serve"):
        status, body = post_classify(app, buffer.getvalue(), ["steel", "brass"])
    assert status == 500
    error = body["error"]
    assert error["code"] == "internal_error" and error["message"] == f"internal error (id {error['id']})"
    assert "secret" not in json.dumps(body)
    logged = [r for r in caplog.records if error["id"] in r.getMessage()]
    assert logged and "secret detail" in str(logged[0].exc_info[1])
