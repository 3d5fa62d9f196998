"""Checking what a request carries before any replica works on it.

Every way an upload or a prompt can be wrong maps to one `InputError` with an HTTP status, a
stable code and a message a person can act on; the API turns it into a 4xx JSON body. Decoding is
fully done here (including the pixel data), so a truncated or hostile file fails in the ingress,
never inside SAM.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from ilid_ray.serve.config import LimitsConfig


class InputError(Exception):
    """A request the API refuses: `status` (4xx), `code` (stable, machine-readable), message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def decode_image(data: bytes, limits: LimitsConfig) -> Image.Image:
    """Upload bytes -> a fully decoded RGB image in its upright orientation, through the build's
    decoder (`ilid_ray.imaging.decode`: transparency on white, 16-bit scaled), so a model sees at
    serving time the pixels it was trained on."""
    from ilid_ray.imaging import ImageError, decode

    if not data:
        raise InputError(400, "empty_file", "the uploaded image file is empty")
    if len(data) > limits.max_upload_bytes:
        raise InputError(413, "upload_too_large",
                         f"the image is {len(data)} bytes; the limit is {limits.max_upload_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # decode checks max_pixels itself
            image = decode(data, max_pixels=limits.max_pixels).image
    except ImageError as exc:
        reason = exc.reason
        if reason.startswith("decompression bomb"):
            raise InputError(413, "too_many_pixels",
                             f"the image has too many pixels ({reason}); the limit is {limits.max_pixels}") from None
        if reason.startswith("not an image"):
            raise InputError(415, "not_an_image",
                             "the upload is not an image format this server reads (JPEG, PNG, WebP, ...)") from None
        raise InputError(400, "corrupt_image", f"the image data cannot be decoded: {reason}") from None
    width, height = image.size
    if min(width, height) < limits.min_side:
        raise InputError(422, "image_too_small",
                         f"the image is {width}x{height}; both sides must be at least {limits.min_side} px")
    return image


def clean_texts(texts: list[str] | None, limits: LimitsConfig, *, field: str, max_count: int,
                min_count: int = 1) -> list[str]:
    """Stripped prompts or labels, refusing empty, overlong, duplicate or too many."""
    texts = [t.strip() for t in texts or []]
    if len(texts) < min_count:
        raise InputError(422, f"too_few_{field}", f"{field}: need at least {min_count}, got {len(texts)}")
    if len(texts) > max_count:
        raise InputError(422, f"too_many_{field}", f"{field}: at most {max_count} allowed, got {len(texts)}")
    for i, text in enumerate(texts):
        if not text:
            raise InputError(422, "empty_text", f"{field}[{i}] is empty")
        if len(text) > limits.max_prompt_chars:
            raise InputError(422, "text_too_long",
                             f"{field}[{i}] has {len(text)} characters; the limit is {limits.max_prompt_chars}")
    seen: set[str] = set()
    for text in texts:
        if text in seen:
            raise InputError(422, "duplicate_text", f"{field} contains {text!r} twice")
        seen.add(text)
    return texts
