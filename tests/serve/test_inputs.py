"""Upload and prompt checks: every bad input is an InputError with a 4xx and a clear message."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ilid_ray.serve.config import LimitsConfig
from ilid_ray.serve.inputs import InputError, clean_texts, decode_image, decode_upload

LIMITS = LimitsConfig(max_upload_bytes=200_000, max_pixels=100_000, min_side=8, max_prompts=3,
                      max_prompt_chars=20)


def encoded(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims another size (a decompression bomb's calling card)."""
    data = bytearray(encoded(Image.new("RGB", (1, 1))))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def refused(data: bytes, limits: LimitsConfig = LIMITS) -> InputError:
    with pytest.raises(InputError) as info:
        decode_image(data, limits)
    return info.value


def test_good_images_decode_to_rgb():
    for image, fmt in [(Image.new("RGB", (64, 48), (10, 20, 30)), "JPEG"),
                       (Image.new("L", (30, 40), 100), "PNG"),
                       (Image.new("RGBA", (30, 40), (1, 2, 3, 0)), "PNG"),
                       (Image.new("P", (30, 40)), "GIF")]:
        out = decode_image(encoded(image, fmt), LIMITS)
        assert out.mode == "RGB" and out.size == image.size


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    data = encoded(Image.new("RGB", (60, 20)), "JPEG", exif=exif)
    assert decode_image(data, LIMITS).size == (20, 60)


@pytest.mark.parametrize("data, status, code", [
    (b"", 400, "empty_file"),
    (b"%PDF-1.4 definitely not a picture", 415, "not_an_image"),
    (png_claiming(400, 400), 413, "too_many_pixels"),          # over max_pixels, never decoded
    (png_claiming(100_000, 100_000), 413, "too_many_pixels"),  # PIL's own bomb guard
    (encoded(Image.new("RGB", (4, 100))), 422, "image_too_small"),
    (b"\x89PNG" + b"\0" * 300_000, 413, "upload_too_large"),
])
def test_bad_uploads_are_refused_with_a_reason(data, status, code):
    error = refused(data)
    assert (error.status, error.code) == (status, code) and error.message


def test_an_image_whose_decode_needs_more_memory_than_the_budget_is_413():
    deep = encoded(Image.fromarray(np.zeros((300, 400), np.uint16)))  # 16-bit grey: 2 bytes a pixel
    limits = LimitsConfig(max_pixels=1_000_000, max_decode_bytes=1 << 20)
    error = refused(deep, limits)
    assert (error.status, error.code) == (413, "decode_too_large") and "400x300 I;16" in error.message
    assert decode_image(deep, limits.model_copy(update={"max_decode_bytes": 2 << 20})).size == (400, 300)


def test_truncated_images_are_400_not_a_crash():
    photo = Image.effect_noise((200, 150), 60).convert("RGB")
    for fmt in ("JPEG", "PNG"):
        data = encoded(photo, fmt)
        error = refused(data[: len(data) // 2])
        assert error.status == 400 and error.code == "corrupt_image" and "truncated" in error.message


def test_prompts_are_stripped_and_checked():
    assert clean_texts([" steel clamp ", "knob"], LIMITS, field="prompts", max_count=3) == ["steel clamp", "knob"]
    cases = [
        (None, "too_few_prompts"),
        ([], "too_few_prompts"),
        (["ok", "  "], "empty_text"),
        (["x" * 21], "text_too_long"),
        (["a", "b", "c", "d"], "too_many_prompts"),
        (["a", " a"], "duplicate_text"),
    ]
    for texts, code in cases:
        with pytest.raises(InputError) as info:
            clean_texts(texts, LIMITS, field="prompts", max_count=3)
        assert info.value.status == 422 and info.value.code == code, texts
    with pytest.raises(InputError, match="labels: need at least 2, got 1"):
        clean_texts(["steel"], LIMITS, field="labels", max_count=3, min_count=2)


def test_only_the_formats_the_page_names_are_opened():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n"
    error = refused(eps)
    assert (error.status, error.code) == (415, "not_an_image") and "JPEG, PNG, WebP" in error.message
    tga = encoded(Image.new("RGB", (32, 32)), "TGA")  # Pillow reads it, the page does not name it
    assert refused(tga).code == "not_an_image"


def test_a_large_jpeg_is_decoded_at_a_draft_scale_in_the_uploads_frame():
    limits = LimitsConfig(max_pixels=40_000_000)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the frame is the upright upload's
    data = encoded(Image.new("RGB", (4000, 2400), (90, 120, 30)), "JPEG", exif=exif)
    image, frame = decode_upload(data, limits, work_long_side=1024)
    assert frame == (2400, 4000)
    assert image.size == (600, 1000) or image.size == (1200, 2000)  # 1/4 (or 1/2) scale, upright
    assert max(image.size) >= 1000 and max(image.size) < 4000
    full, frame = decode_upload(encoded(Image.new("RGB", (300, 200)), "PNG"), limits, work_long_side=100)
    assert full.size == frame == (300, 200)  # PNG has no draft mode: decoded whole


def test_serving_decodes_like_the_build_and_training():
    from ilid_ray.imaging import decode
    from ilid_ray.train.data import decode_image as training_decode

    clear = encoded(Image.new("RGBA", (30, 40), (200, 0, 0, 0)), "PNG")  # fully transparent red
    served = decode_image(clear, LIMITS)
    assert served.getpixel((0, 0)) == (255, 255, 255)  # composited on white, not black
    assert served.tobytes() == training_decode(clear).tobytes() == decode(clear, 10**6).image.tobytes()
