"""Synthetic image bytes for the download-stage tests and image benches: ordinary photos-to-be and
the awkward cases the stage must survive (CMYK, alpha, EXIF rotation, 16-bit, bombs, truncation)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

ORIENTATION_TAG = 0x0112


def gradient(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth, photo-like RGB image (compresses like a product shot, unlike noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def jpeg(width: int = 640, height: int = 480, seed: int = 0, quality: int = 90) -> bytes:
    return encode(gradient(width, height, seed), "JPEG", quality=quality)


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return encode(gradient(width, height, seed), "PNG")


def cmyk_jpeg(width: int = 64, height: int = 48) -> bytes:
    return encode(gradient(width, height).convert("CMYK"), "JPEG", quality=95)


def alpha_png(width: int = 64, height: int = 48) -> bytes:
    """Left half opaque red, right half fully transparent (must come out white)."""
    arr = np.zeros((height, width, 4), dtype=np.uint8)
    arr[:, : width // 2] = (255, 0, 0, 255)
    return encode(Image.fromarray(arr, "RGBA"), "PNG")


def exif_rotated_jpeg(width: int = 80, height: int = 40, orientation: int = 6) -> bytes:
    """Stored landscape with a red left column; orientation 6 means "rotate 90 degrees clockwise"
    for display, so the upright image is portrait with the red band on top."""
    arr = np.full((height, width, 3), 255, dtype=np.uint8)
    arr[:, : width // 4] = (255, 0, 0)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    return encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes())


def webp(width: int = 64, height: int = 48) -> bytes:
    return encode(gradient(width, height), "WEBP", quality=90)


def png16(width: int = 32, height: int = 16, value: int = 32768) -> bytes:
    """A 16-bit greyscale PNG at `value` (mid-grey must stay mid-grey, not clip to white)."""
    return encode(Image.fromarray(np.full((height, width), value, dtype=np.uint16)), "PNG")


def palette_png(width: int = 32, height: int = 16) -> bytes:
    return encode(gradient(width, height).convert("P"), "PNG")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header declares `width` x `height` 1-bit pixels but whose body is a few bytes:
    decoding it would allocate gigabytes; the header alone must get it rejected."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]
