"""Decode / resize-pad / encode on real image bytes of every awkward kind."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ilid_ray import imaging
from ilid_ray.imaging import (DecodeBudgetError, ImageError, decode, decode_bytes, encode, fitted_size,
                              magic_format, resize_pad, to_rgb)
from ilid_ray.testing import image_cases as images

BIG = 10**9


def striped(width: int, height: int) -> Image.Image:
    """Distinct colours on each edge, so padding can be checked against the right edge pixels."""
    arr = np.full((height, width, 3), 128, dtype=np.uint8)
    arr[0, :] = (255, 0, 0)  # top row red
    arr[-1, :] = (0, 0, 255)  # bottom row blue
    arr[:, 0] = (0, 255, 0)  # left column green
    arr[:, -1] = (255, 255, 0)  # right column yellow
    return Image.fromarray(arr)


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("width,height", [(800, 400), (400, 800), (700, 700), (10, 7), (2000, 20), (3, 1500)])
def test_resize_pad_is_square_and_keeps_aspect(width, height):
    out = resize_pad(striped(width, height), 128)
    assert out.size == (128, 128) and out.mode == "RGB"
    content_w, content_h = fitted_size(width, height, 128)
    long_side, short_side = max(width, height), min(width, height)
    assert max(content_w, content_h) == 128  # the long side fills the square
    assert min(content_w, content_h) == max(1, round(short_side * 128 / long_side))  # same aspect


def test_landscape_pads_top_and_bottom_with_replicated_rows():
    img = Image.fromarray(np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (100, 1, 3)))  # x-ramp
    out = np.asarray(resize_pad(img, 100))
    top = (100 - 50) // 2
    content = out[top:top + 50]
    ramp_halved = np.arange(100) * 2 + 0.5  # each output column averages two source columns
    assert np.abs(content[..., 0] - ramp_halved[None, :]).max() <= 1  # content centred, undistorted
    assert (content == content[:1]).all()  # every content row is the same ramp: no vertical smear
    for y in range(top):
        assert np.array_equal(out[y], content[0])  # replicated first row
    for y in range(top + 50, 100):
        assert np.array_equal(out[y], content[-1])  # replicated last row


def test_portrait_pads_left_and_right_with_replicated_columns():
    out = np.asarray(resize_pad(striped(30, 90), 90))
    content_w = 30
    left = (90 - content_w) // 2
    right_start = left + content_w
    assert np.array_equal(out[:, :left], np.repeat(out[:, left:left + 1], left, axis=1))
    last_column = out[:, right_start - 1:right_start]
    assert np.array_equal(out[:, right_start:], np.repeat(last_column, 90 - right_start, axis=1))
    assert tuple(out[45, 0]) == (0, 255, 0)  # the green left edge is what gets replicated
    assert tuple(out[45, -1]) == (255, 255, 0)  # and the yellow right edge


def test_odd_padding_is_split_symmetrically():
    out = np.asarray(resize_pad(Image.new("RGB", (100, 47), (9, 9, 9)), 100))
    assert out.shape == (100, 100, 3)
    assert (out == 9).all()  # replicated border of a flat image is the same colour everywhere


def test_square_and_tiny_images_are_scaled_not_padded():
    square = resize_pad(striped(300, 300), 64)
    assert square.size == (64, 64)
    tiny = resize_pad(Image.new("RGB", (4, 2), (200, 10, 10)), 64)  # upscaled the same way
    arr = np.asarray(tiny)
    assert tiny.size == (64, 64) and (np.abs(arr.astype(int) - (200, 10, 10)) <= 2).all()


def test_extreme_aspect_keeps_at_least_one_pixel_of_content():
    assert fitted_size(5000, 1, 512) == (512, 1)
    assert resize_pad(Image.new("RGB", (5000, 1), (1, 2, 3)), 512).size == (512, 512)


# --------------------------------------------------------------------------- decode


def test_jpeg_draft_decodes_at_reduced_scale_but_reports_original_size():
    data = images.jpeg(2400, 1200)
    full = decode(data, BIG)
    drafted = decode(data, BIG, draft_size=512)
    assert full.image.size == (2400, 1200)
    assert drafted.image.size == (600, 300)  # 1/4 scale: the smallest whose long side >= 512
    assert (drafted.orig_width, drafted.orig_height) == (2400, 1200)
    a = np.asarray(resize_pad(full.image, 512), dtype=float)
    b = np.asarray(resize_pad(drafted.image, 512), dtype=float)
    assert np.abs(a - b).mean() < 3.0  # same picture


def test_draft_never_goes_below_target():
    data = images.jpeg(900, 600)
    assert decode(data, BIG, draft_size=512).image.size == (900, 600)  # 1/2 would give 450 < 512


def test_exif_orientation_is_applied_and_reported_upright():
    decoded = decode(images.exif_rotated_jpeg(80, 40, orientation=6), BIG)
    assert decoded.image.size == (40, 80)
    assert (decoded.orig_width, decoded.orig_height) == (40, 80)
    top, bottom = decoded.image.getpixel((20, 5)), decoded.image.getpixel((20, 75))
    assert top[0] > 200 and top[1] < 60  # the red band is on top after the 90 degree turn
    assert min(bottom) > 200


def test_alpha_is_composited_on_white():
    img = decode(images.alpha_png(64, 48), BIG).image
    assert img.mode == "RGB"
    assert img.getpixel((5, 5)) == (255, 0, 0)
    assert img.getpixel((60, 5)) == (255, 255, 255)


def test_cmyk_jpeg_becomes_rgb_with_the_same_colours():
    reference = np.asarray(images.gradient(64, 48), dtype=float)
    img = decode(images.cmyk_jpeg(64, 48), BIG).image
    assert img.mode == "RGB"
    assert np.abs(np.asarray(img, dtype=float) - reference).mean() < 12


def test_sixteen_bit_grey_is_scaled_not_clipped():
    img = decode(images.png16(value=32768), BIG).image
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (128, 128, 128)


def sixteen_bit_ramp(width: int = 256, height: int = 256) -> np.ndarray:
    """Every 16-bit value once (256 x 256), or a ramp over them, as a grey array."""
    return np.linspace(0, 65535, width * height).round().astype(np.uint16).reshape(height, width)


def test_sixteen_bit_grey_scales_every_value_as_the_float_formula_did():
    values = sixteen_bit_ramp()
    expected = np.clip(values * (255.0 / 65535.0) + 0.5, 0, 255).astype(np.uint8)  # the former float path
    for mode in ("I;16", "I"):
        image = Image.fromarray(values).convert(mode) if mode == "I" else Image.fromarray(values)
        assert np.array_equal(np.asarray(to_rgb(image))[..., 0], expected), mode
    assert np.asarray(to_rgb(Image.fromarray(np.array([[-7, 70_000]], np.int32))))[..., 0].tolist() == [[0, 255]]


def test_decode_bytes_counts_the_mode_the_copies_and_the_jpeg_draft():
    per_pixel = {mode: decode_bytes(mode, "PNG", 100, 100) / 10_000 for mode in ("L", "RGB", "RGBA", "I;16", "I")}
    assert per_pixel == {"L": 1 + imaging.WORK_BYTES, "RGB": 3 + imaging.WORK_BYTES, "RGBA": 4 + imaging.WORK_BYTES,
                         "I;16": 2 + imaging.WORK_BYTES, "I": 4 + imaging.WORK_BYTES}
    assert decode_bytes("RGB", "JPEG", 4000, 3000, draft_size=512) == 1000 * 750 * (3 + imaging.WORK_BYTES)  # 1/4
    assert decode_bytes("RGB", "PNG", 4000, 3000, draft_size=512) == 4000 * 3000 * (3 + imaging.WORK_BYTES)


def test_sixteen_bit_png_over_the_byte_budget_is_refused_with_the_reason():
    data = images.encode(Image.fromarray(sixteen_bit_ramp()), "PNG")
    needed = decode_bytes("I;16", "PNG", 256, 256)
    reason = "decode memory: a 256x256 I;16 image needs about 0.7 MiB > the budget of"
    for refuse in (lambda: decode(data, BIG, max_bytes=needed - 1),
                   lambda: imaging.make_sample(data, BIG, 64, "png", max_bytes=needed - 1)):
        with pytest.raises(DecodeBudgetError, match=reason):
            refuse()
    within = np.asarray(decode(data, BIG, max_bytes=needed).image)
    expected = np.clip(sixteen_bit_ramp() * (255.0 / 65535.0) + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(within, np.repeat(expected[..., None], 3, axis=2))


@pytest.mark.parametrize("mode", ["L", "1", "P", "LA", "I;16"])
def test_every_mode_converts_to_rgb(mode):
    assert to_rgb(Image.new(mode, (4, 4))).mode == "RGB"


def test_webp_and_palette_png_decode():
    assert decode(images.webp(), BIG).format == "WEBP"
    assert decode(images.palette_png(), BIG).image.mode == "RGB"


def test_bomb_is_refused_from_the_header():
    with pytest.raises(ImageError, match="decompression bomb: 9000x9000 pixels > 80000000"):
        decode(images.bomb_png(9000, 9000), 80_000_000)
    with pytest.raises(ImageError, match="decompression bomb"):  # PIL's own limit, raised in open()
        decode(images.bomb_png(100_000, 100_000), BIG)


@pytest.mark.parametrize("maker", [images.jpeg, images.webp, lambda: images.encode(images.gradient(64, 64), "PNG")])
def test_truncated_data_is_an_error_not_a_partial_image(maker):
    with pytest.raises(ImageError, match="truncated"):
        decode(images.truncated(maker(), 0.5), BIG)


def test_non_images_are_named():
    with pytest.raises(ImageError, match="not an image: html"):
        decode(b"<!DOCTYPE html><html><body>product</body></html>", BIG)
    with pytest.raises(ImageError, match="not an image: svg"):
        decode(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', BIG)
    with pytest.raises(ImageError, match="empty body"):
        decode(b"", BIG)
    assert magic_format(images.jpeg(8, 8)) == "JPEG" and magic_format(b"GIF89a...") == "GIF"


# --------------------------------------------------------------------------- encode


def test_encode_is_deterministic_and_metadata_free():
    img = resize_pad(decode(images.exif_rotated_jpeg(), BIG).image, 64)
    first, second = encode(img, "jpg", 95), encode(img, "jpg", 95)
    assert first == second
    assert not Image.open(io.BytesIO(first)).getexif()  # orientation already applied: no EXIF kept
    png = encode(img, "png")
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), np.asarray(img))  # lossless
    with pytest.raises(ValueError, match="image format"):
        encode(img, "gif")


# --------------------------------------------------------------------------- fast decoders


def pil_only(monkeypatch) -> None:
    """Make `decode` take PIL's path for everything (the reference the fast decoders must match)."""
    monkeypatch.setattr(imaging, "_fast_pixels", lambda *args, **kwargs: None)


def spy_fast(monkeypatch) -> list[bool]:
    """Record, per decode, whether a fast decoder produced the pixels."""
    used: list[bool] = []
    real = imaging._fast_pixels

    def spy(*args, **kwargs):
        pixels = real(*args, **kwargs)
        used.append(pixels is not None)
        return pixels

    monkeypatch.setattr(imaging, "_fast_pixels", spy)
    return used


def decoded_both_ways(monkeypatch, data: bytes, draft_size: int | None = 512):
    used = spy_fast(monkeypatch)
    fast = decode(data, BIG, draft_size=draft_size)
    monkeypatch.undo()
    pil_only(monkeypatch)
    slow = decode(data, BIG, draft_size=draft_size)
    monkeypatch.undo()
    return fast, slow, used


def assert_same_pixels(a: Image.Image, b: Image.Image) -> None:
    assert a.mode == b.mode == "RGB" and a.size == b.size
    diff = np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int))
    assert diff.mean() < 0.5 and diff.max() <= 2  # the same libjpeg-turbo scaled decode: identical here


@pytest.mark.parametrize("width,height", [(2400, 1200), (1200, 2400), (2000, 1500), (1030, 700), (640, 480)])
def test_fast_jpeg_decode_matches_the_pil_draft_at_the_same_scale(monkeypatch, width, height):
    fast, slow, used = decoded_both_ways(monkeypatch, images.jpeg(width, height))
    assert used == [True]  # simplejpeg decoded it
    assert_same_pixels(fast.image, slow.image)
    assert min(fast.image.size) >= 1 and max(fast.image.size) >= 512  # never below the target
    assert (fast.orig_width, fast.orig_height, fast.format) == (width, height, "JPEG")
    a = np.asarray(resize_pad(fast.image, 512), dtype=float)
    b = np.asarray(resize_pad(slow.image, 512), dtype=float)
    assert np.abs(a - b).mean() < 0.5


@pytest.mark.parametrize("long_side", [511, 512, 1023, 1024, 1025, 2047, 2048, 4095, 4096, 5000])
def test_fast_jpeg_draft_scale_never_drops_the_long_side_below_the_target(long_side):
    for short_side in (1, 300, long_side):
        data = images.encode(images.gradient(long_side, short_side), "JPEG", quality=80)
        image = decode(data, BIG, draft_size=512).image
        assert max(image.size) >= min(512, long_side)
        scale = imaging._draft_scale(long_side, short_side, 512)
        assert image.size == (-(-long_side // scale), -(-short_side // scale))  # PIL's draft size


@pytest.mark.parametrize("orientation", range(1, 9))
def test_fast_jpeg_decode_applies_every_exif_orientation_like_pil(monkeypatch, orientation):
    exif = Image.Exif()
    exif[imaging.ORIENTATION_TAG] = orientation
    data = images.encode(images.gradient(1600, 800), "JPEG", quality=90, exif=exif.tobytes())
    fast, slow, used = decoded_both_ways(monkeypatch, data)
    assert used == [True]
    assert_same_pixels(fast.image, slow.image)
    assert (fast.orig_width, fast.orig_height) == (slow.orig_width, slow.orig_height)


def test_fast_jpeg_decode_of_an_exif_rotated_photo_is_upright(monkeypatch):
    used = spy_fast(monkeypatch)
    decoded = decode(images.exif_rotated_jpeg(1600, 800, orientation=6), BIG, draft_size=512)
    assert used == [True]
    assert decoded.image.size == (400, 800)  # stored 1600x800 at 1/2, turned upright
    assert (decoded.orig_width, decoded.orig_height) == (800, 1600)
    top, bottom = decoded.image.getpixel((200, 20)), decoded.image.getpixel((200, 780))
    assert top[0] > 200 and top[1] < 60  # the red band is on top after the 90 degree turn
    assert min(bottom) > 200


def test_fast_jpeg_decode_of_greyscale_gives_rgb(monkeypatch):
    data = images.encode(images.gradient(1200, 900).convert("L"), "JPEG", quality=90)
    fast, slow, used = decoded_both_ways(monkeypatch, data)
    assert used == [True]
    assert_same_pixels(fast.image, slow.image)
    arr = np.asarray(fast.image)
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()


def test_truncated_jpeg_is_refused_by_the_fast_path_with_pils_reason(monkeypatch):
    used = spy_fast(monkeypatch)
    with pytest.raises(ImageError, match="^truncated image$"):
        decode(images.truncated(images.jpeg(2000, 1500), 0.5), BIG, draft_size=512)
    assert used == [False]  # simplejpeg refused it (strict), PIL named it


def test_corrupt_jpeg_gets_the_same_verdict_as_pil(monkeypatch):
    data = bytearray(images.jpeg(1200, 900))
    data[len(data) // 2: len(data) // 2 + 400] = bytes(400)  # zeroed entropy-coded data
    data = bytes(data)
    pil_only(monkeypatch)
    try:
        expected = decode(data, BIG, draft_size=512).image.tobytes()
    except ImageError as exc:
        expected = exc.reason
    monkeypatch.undo()
    try:
        got = decode(data, BIG, draft_size=512).image.tobytes()
    except ImageError as exc:
        got = exc.reason
    assert got == expected


def test_cmyk_jpeg_is_left_to_pil_and_comes_out_rgb(monkeypatch):
    used = spy_fast(monkeypatch)
    reference = np.asarray(images.gradient(1600, 1200).resize((800, 600)), dtype=float)
    decoded = decode(images.cmyk_jpeg(1600, 1200), BIG, draft_size=512)
    assert used == [False]
    assert decoded.image.mode == "RGB" and decoded.image.size == (800, 600)  # PIL's draft still applies
    assert np.abs(np.asarray(decoded.image, dtype=float) - reference).mean() < 12


def test_opaque_webp_fast_decode_matches_pil(monkeypatch):
    fast, slow, used = decoded_both_ways(monkeypatch, images.encode(images.gradient(900, 600), "WEBP", quality=85))
    assert used == [True]  # OpenCV decoded it
    assert_same_pixels(fast.image, slow.image)
    used = spy_fast(monkeypatch)
    with Image.open(io.BytesIO(images.alpha_png(64, 48))) as transparent:
        rgba = decode(images.encode(transparent, "WEBP", lossless=True), BIG)
    assert used == [False]  # alpha: PIL decodes it and composites it on white
    assert rgba.image.getpixel((5, 5)) == (255, 0, 0) and rgba.image.getpixel((60, 5)) == (255, 255, 255)


def test_decode_works_without_simplejpeg(monkeypatch):
    monkeypatch.setattr(imaging, "_simplejpeg", lambda: None)
    decoded = decode(images.jpeg(2400, 1200), BIG, draft_size=512)
    assert decoded.image.size == (600, 300) and decoded.image.mode == "RGB"


# --------------------------------------------------------------------------- make_sample


SAMPLE_INPUTS = [
    lambda: images.jpeg(2400, 1200),
    lambda: images.jpeg(300, 200),
    lambda: images.exif_rotated_jpeg(1600, 800, orientation=8),
    lambda: images.cmyk_jpeg(640, 480),
    lambda: images.webp(900, 600),
    lambda: images.alpha_png(64, 48),
    lambda: images.png16(),
    lambda: images.palette_png(),
]


@pytest.mark.parametrize("make", SAMPLE_INPUTS)
@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_make_sample_gives_the_bytes_of_decode_resize_pad_encode(make, fmt):
    data = make()
    decoded = decode(data, BIG, draft_size=256)
    expected = encode(resize_pad(decoded.image, 256), fmt, 90)
    sample = imaging.make_sample(data, BIG, 256, fmt, 90)
    assert sample.data == expected
    assert sample.data == imaging.make_sample(data, BIG, 256, fmt, 90).data  # deterministic
    assert (sample.orig_width, sample.orig_height, sample.format) == (decoded.orig_width, decoded.orig_height,
                                                                      decoded.format)
    assert (sample.width, sample.height) == (256, 256)
    assert Image.open(io.BytesIO(sample.data)).size == (256, 256)


def test_make_sample_refuses_like_decode():
    cases = [(images.truncated(images.jpeg(2000, 1500), 0.5), "truncated image"),
             (b"<!DOCTYPE html><html></html>", "not an image: html"),
             (images.bomb_png(9000, 9000), "decompression bomb"),
             (b"", "empty body")]
    for data, reason in cases:
        with pytest.raises(ImageError, match=reason):
            imaging.make_sample(data, 80_000_000, 512, "jpg")
    with pytest.raises(ValueError, match="image format"):
        imaging.make_sample(images.jpeg(8, 8), BIG, 512, "gif")
