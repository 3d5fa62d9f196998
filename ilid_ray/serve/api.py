"""The HTTP API (FastAPI): routes, limits, auth and one JSON error shape for every refusal.

Errors are always `{"error": {"code": ..., "message": ...}}` with a 4xx for anything the client
sent wrong, a 503 + Retry-After when a model deployment is saturated, and a 500 only for a bug
(the message is "internal error" and an id under which the log holds the exception).
Decoding and pixel work run in worker threads, so a large upload never holds up the event loop.
The size of a request is checked from its Content-Length before the body is read.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import uuid
from importlib import resources

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ilid_ray.serve import pipeline
from ilid_ray.serve.adapters import AdapterRegistry
from ilid_ray.serve.config import ServeAppConfig
from ilid_ray.serve.inputs import FORMAT_NAMES, InputError, clean_texts, decode_upload

FORM_OVERHEAD_BYTES = 256 * 1024  # multipart boundaries, headers and the text fields
log = logging.getLogger("ilid_ray.serve")
MODEL_HEADER = "serve_multiplexed_model_id"  # Ray Serve's model multiplexing header
PUBLIC_PATHS = ("/", "/healthz", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


class Overloaded(Exception):
    """A model deployment refused the request (queue full or no replica): 503, retry later."""


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class RequestSizeLimit:
    """ASGI middleware: POST bodies need a Content-Length no larger than the limit (411 / 413)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            response = None
            if length is None or not length.isdigit():
                response = error_response(411, "length_required", "send the request with a Content-Length")
            elif int(length) > self.max_bytes:
                response = error_response(413, "upload_too_large",
                                          f"the request is {int(length)} bytes; the limit is {self.max_bytes}")
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def api_key_from(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def load_page(root_path: str) -> str:
    html = resources.files("ilid_ray.serve").joinpath("page.html").read_text(encoding="utf-8")
    return html.replace("{{ROOT}}", root_path.rstrip("/"))


def create_api(cfg: ServeAppConfig, backends: pipeline.Backends, info: dict | None = None) -> FastAPI:
    """The FastAPI app over the given model backends; `info` is shown by /healthz."""
    api = FastAPI(title=cfg.title, version="1", description=(
        "Language-guided segmentation: SAM proposes masks, an ILID-adapted CLIP picks those that "
        "match the prompts. Errors are JSON: {\"error\": {\"code\", \"message\"}}."))
    api.add_middleware(RequestSizeLimit, max_bytes=cfg.limits.max_upload_bytes + FORM_OVERHEAD_BYTES)
    limits = cfg.limits

    @api.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        return error_response(exc.status, exc.code, exc.message)

    @api.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded):
        return error_response(503, "overloaded", str(exc), {"Retry-After": str(cfg.retry_after_s)})

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
                             for e in exc.errors())
        return error_response(422, "invalid_request", problems or "invalid request")

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail), exc.headers)

    @api.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        """A bug: the client gets an id to quote, the log gets the exception under that id."""
        error_id = uuid.uuid4().hex[:16]
        log.error("internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": {"code": "internal_error", "message": f"internal error (id {error_id})",
                                       "id": error_id}}, status_code=500)

    @api.middleware("http")
    async def _auth(request: Request, call_next):
        expected = os.environ.get(cfg.api_key_env, "")
        path = request.url.path.removeprefix(request.scope.get("root_path", "")) or "/"
        if expected and path not in PUBLIC_PATHS:
            given = api_key_from(request) or ""
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return error_response(401, "unauthorized", "send the API key as 'Authorization: Bearer "
                                      "<key>' or 'X-API-Key: <key>'", {"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request):
        return HTMLResponse(load_page(request.scope.get("root_path", "")))

    registry = AdapterRegistry(cfg.clip.adapters, cfg.storage) if cfg.clip.adapters else None

    async def chosen_model(request: Request) -> str:
        """The adapter a request names (Serve's multiplexing header), checked against the registry."""
        model_id = request.headers.get(MODEL_HEADER, "").strip()
        if model_id and registry is None:
            raise InputError(404, "unknown_model", "this server has no adapter registry (clip.adapters); "
                             f"send no {MODEL_HEADER} header")
        if model_id:
            await asyncio.to_thread(registry.checkpoint, model_id)
        return model_id

    @api.get("/v1/models")
    async def models():
        """The adapters a request may name in the `serve_multiplexed_model_id` header."""
        ids = await asyncio.to_thread(registry.ids) if registry else []
        return {"header": MODEL_HEADER, "default": (info or {}).get("clip"), "models": ids}

    @api.get("/healthz")
    async def healthz():
        """Liveness of the ingress plus what it serves."""
        return {"status": "ok", **(info or {})}

    @api.post("/v1/segment")
    async def segment(
        image: UploadFile = File(..., description=f"the image: {FORMAT_NAMES}"),
        prompts: list[str] | None = Form(None, description="one or more query prompts (repeat the field)"),
        threshold: float | None = Form(None, ge=0.0, le=1.0, description="keep masks whose query "
                                       "probability is at least this (default from the config)"),
        with_background: bool | None = Form(None, description="crop with background (default config)"),
        overlay: bool = Form(False, description="also return a PNG overlay (base64) of the kept masks"),
        model_id: str = Depends(chosen_model),
    ):
        """Masks of the image that match the prompts: COCO RLE, box (x, y, w, h), area, score, prompt."""
        texts = clean_texts(prompts, limits, field="prompts", max_count=limits.max_prompts)
        data = await image.read()
        picture, frame = await asyncio.to_thread(decode_upload, data, limits, cfg.sam.image_long_side)
        return await pipeline.segment(
            picture, texts, cfg.masks.default_threshold if threshold is None else threshold,
            cfg=cfg, backends=backends, with_background=with_background, overlay=overlay, frame=frame,
            model_id=model_id)

    @api.post("/v1/classify")
    async def classify(
        image: UploadFile = File(...),
        labels: list[str] | None = Form(None, description="two or more candidate labels (repeat the field)"),
        model_id: str = Depends(chosen_model),
    ):
        """Probabilities of the candidate labels for the whole image (e.g. materials)."""
        texts = clean_texts(labels, limits, field="labels", max_count=limits.max_labels, min_count=2)
        data = await image.read()
        picture, _ = await asyncio.to_thread(decode_upload, data, limits, cfg.sam.image_long_side)
        return await pipeline.classify(picture, texts, cfg=cfg, backends=backends, model_id=model_id)

    return api
