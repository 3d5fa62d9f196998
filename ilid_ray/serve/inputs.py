"""Checking what a request carries before any replica works on it.

Every way an upload or a prompt can be wrong maps to one `InputError` with an HTTP status, a
stable code and a message a person can act on; the API turns it into a 4xx JSON body. Decoding is
fully done here (including the pixel data), so a truncated or hostile file fails in the ingress,
never inside SAM.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from ilid_ray.serve.config import LimitsConfig


class InputError(Exception):
    """A request the API refuses: `status` (4xx), `code` (stable, machine-readable), message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# The formats the page names; Pillow tries no other decoder (an EPS upload would start Ghostscript).
SERVE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
FORMAT_NAMES = "JPEG, PNG, WebP, BMP, TIFF or GIF"


def decode_image(data: bytes, limits: LimitsConfig) -> Image.Image:
    """Upload bytes -> a fully decoded RGB image in its upright orientation."""
    return decode_upload(data, limits)[0]


def decode_upload(data: bytes, limits: LimitsConfig,
                  work_long_side: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Upload bytes -> (RGB image, (width, height) of the upright upload). The pixels come from the
    build's decoder (`ilid_ray.imaging.decode`: transparency on white, 16-bit scaled), so a model
    sees at serving time the pixels it was trained on. With `work_long_side` a JPEG is decoded at
    the smallest 1/2, 1/4 or 1/8 scale still at least that long (JPEG draft mode): a 40-megapixel
    upload costs what a 1024 px one does. The size is the upload's frame."""
    from ilid_ray.imaging import DecodeBudgetError, ImageError, decode

    if not data:
        raise InputError(400, "empty_file", "the uploaded image file is empty")
    if len(data) > limits.max_upload_bytes:
        raise InputError(413, "upload_too_large",
                         f"the image is {len(data)} bytes; the limit is {limits.max_upload_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SERVE_FORMATS)
            width, height = image.size
    except UnidentifiedImageError:
        raise InputError(415, "not_an_image",
                         f"the upload is not an image format this server reads ({FORMAT_NAMES})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(413, "too_many_pixels",
                         f"the image has too many pixels; the limit is {limits.max_pixels}") from None
    except Exception as exc:  # noqa: BLE001 - a malformed header is the client's problem
        raise InputError(400, "corrupt_image", f"the image header cannot be read: {exc}") from None
    if width * height > limits.max_pixels:
        raise InputError(413, "too_many_pixels",
                         f"the image is {width}x{height} = {width * height} pixels; "
                         f"the limit is {limits.max_pixels}")
    if min(width, height) < limits.min_side:
        raise InputError(422, "image_too_small",
                         f"the image is {width}x{height}; both sides must be at least {limits.min_side} px")
    try:
        decoded = decode(data, limits.max_pixels, draft_size=work_long_side, max_bytes=limits.max_decode_bytes)
    except DecodeBudgetError as exc:
        raise InputError(413, "decode_too_large", f"{exc.reason}; send a smaller or 8-bit image") from None
    except ImageError as exc:  # truncated or corrupt pixel data
        raise InputError(400, "corrupt_image",
                         f"the image data cannot be decoded (truncated or corrupt): {exc.reason}") from None
    return decoded.image, (decoded.orig_width, decoded.orig_height)


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
