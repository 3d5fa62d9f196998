"""Downloaded bytes -> a clean 512x512 RGB sample image, as pure functions.

Web images are untrusted: anything may sit behind an `image/*` content type, a tiny file may
declare gigapixel dimensions (a decompression bomb), a transfer may stop half-way. `decode` checks
the declared size before decoding a single pixel, refuses partial images, and normalises every
mode (palette, alpha, CMYK, 16-bit, greyscale) to RGB. JPEGs are decoded at a reduced DCT scale
(1/2, 1/4, 1/8, PIL's `draft` choice) when they are much larger than the target: measured about 2x
faster than a full decode followed by a downscale, for the same 512 px result.

PIL reads every header (format, declared size, EXIF orientation, mode) and is the decoder of
record; the pixels of the common cases come from faster decoders, an implementation detail of
`decode` with the same result: YCbCr and greyscale JPEGs from libjpeg-turbo through simplejpeg (at
PIL's DCT scale, refusing any data libjpeg warns about; the pixels equal PIL's), opaque still WebP
from OpenCV (libwebp). Whatever those decoders refuse or do not cover (PNG, CMYK, alpha, animation,
damaged data, ...) PIL decodes, so the refusal reasons stay PIL's. `make_sample` is decode ->
resize_pad -> encode for the download stage on arrays, without PIL images in between: the same
bytes for less CPU. bench/decode_paths.py measured the choices.

`resize_pad` follows the paper: scale the long side to the target and pad the short side with a
replicated border (OpenCV's BORDER_REPLICATE), so the product is never distorted.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

# Formats a product image may come in; PIL only tries these decoders (smaller attack surface).
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
EXTENSIONS = {"jpg": "JPEG", "png": "PNG"}
# file name suffixes of ALLOWED_FORMATS (a folder of files none of which is named so holds no images)
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif")
WHITE = (255, 255, 255)
ORIENTATION_TAG = 0x0112
QUARTER_TURNS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
# Decode memory is bounded by bytes as well as pixels: a 16-bit or CMYK image costs more per pixel
# than an RGB one. What PIL stores per pixel for each mode a header may declare (unknown modes: 4)
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2,
              "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4, "I": 4, "F": 4}
# plus what the path from there to a resized sample holds at its peak, per pixel: the RGB image,
# its array copy and the transient bytes of that copy (measured with the process's peak RSS for
# RGB, RGBA, grey, palette, 16-bit grey and RGB(A) PNG and TIFF, CMYK JPEG: at most 8.2 beyond
# the stored bytes; `make_sample` on an RGB PNG: 9.2 bytes a pixel)
WORK_BYTES = 9
MAX_DECODE_BYTES = 1 << 30  # the default budget of one decode
SIXTEEN_BIT_ROWS = 256  # rows of a 16-/32-bit image scaled to 8 bits at once (bounds the temporaries)
MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"),
         (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


class ImageError(ValueError):
    """The bytes are not a usable image; `reason` is short and human ("truncated image")."""

    @property
    def reason(self) -> str:
        return str(self)


class DecodeBudgetError(ImageError):
    """A valid image whose decode would need more memory than the budget allows (serving: a 413)."""


@dataclass(frozen=True)
class Decoded:
    """An RGB image, upright, plus what the source declared (after EXIF orientation)."""

    image: Image.Image
    format: str
    orig_width: int
    orig_height: int


def magic_format(data: bytes) -> str | None:
    """The image format the leading bytes announce, if any (independent of PIL's plugins)."""
    for magic, fmt in MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "AVIF"
    return None


def _sniff(data: bytes) -> str:
    """A hint of what non-image bytes are, for the reject reason."""
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "html"
    if head.startswith((b"<?xml", b"<svg")):
        return "svg/xml" if b"svg" in data[:1024].lower() else "xml"
    if head.startswith((b"{", b"[")):
        return "json"
    return "unrecognised data"


def _draft_request(width: int, height: int, target: int) -> tuple[int, int]:
    """The smallest size whose long side still reaches `target`, with the source's aspect ratio.

    PIL picks the largest DCT scale (1/2, 1/4, 1/8) that keeps both sides >= the request, so asking
    for (target, target) would never reduce an elongated image; asking proportionally does.
    """
    long_side = max(width, height)
    return (max(1, math.ceil(width * target / long_side)), max(1, math.ceil(height * target / long_side)))


def _draft_scale(width: int, height: int, target: int) -> int:
    """The DCT scale denominator PIL's `draft` picks for `_draft_request`: the largest of 8, 4, 2
    whose image keeps both sides >= the request (so the long side stays >= `target`), else 1."""
    request_w, request_h = _draft_request(width, height, target)
    fit = min(width // request_w, height // request_h)
    return next((scale for scale in (8, 4, 2) if fit >= scale), 1)


@functools.cache
def _simplejpeg():
    """simplejpeg (libjpeg-turbo's TurboJPEG API), or None where it is not installed."""
    try:
        import simplejpeg
    except ImportError:
        return None
    return simplejpeg


def _fast_pixels(data: bytes, img: Image.Image, draft_size: int | None, bgr: bool) -> np.ndarray | None:
    """The stored (not yet EXIF-rotated) pixels of the common cases as an RGB (or BGR) array, from
    a faster decoder than PIL's, or None: then PIL decodes (and names what is wrong). `img` is PIL's
    opened header. PNG is left to PIL: reading a PNG's EXIF (`getexif`) already decodes it."""
    width, height = img.size
    if img.format == "JPEG" and img.mode in ("RGB", "L"):  # YCbCr / RGB / grey; CMYK and YCCK: PIL
        simplejpeg = _simplejpeg()
        if simplejpeg is None:
            return None
        scale = _draft_scale(width, height, draft_size) if draft_size else 1
        out_w, out_h = -(-width // scale), -(-height // scale)  # libjpeg's scaled size, = PIL's draft
        try:  # strict: any libjpeg warning (truncated or corrupt data) raises instead of guessing
            pixels = simplejpeg.decode_jpeg(data, "BGR" if bgr else "RGB", min_height=out_h if scale > 1 else 0,
                                            min_width=out_w if scale > 1 else 0, strict=True)
        except ValueError:
            return None
        return pixels if pixels.shape == (out_h, out_w, 3) else None
    if img.format == "WEBP" and img.mode == "RGB" and getattr(img, "n_frames", 1) == 1:  # opaque, still
        cv2 = _opencv()
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if pixels is None or pixels.shape != (height, width, 3):
            return None
        return pixels if bgr else cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return None


def _upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The stored array turned upright for an EXIF orientation, pixel for pixel as
    `ImageOps.exif_transpose` turns an image (2 mirror, 3 half turn, 4 flip, 5 transpose, 6 quarter
    turn clockwise, 7 transverse, 8 quarter turn anticlockwise)."""
    cv2 = _opencv()
    if orientation == 2:
        return cv2.flip(pixels, 1)
    if orientation == 3:
        return cv2.rotate(pixels, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(pixels, 0)
    if orientation == 5:
        return cv2.transpose(pixels)
    if orientation == 6:
        return cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(pixels), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return pixels


def decode_bytes(mode: str, fmt: str | None, width: int, height: int, draft_size: int | None = None) -> int:
    """The peak bytes decoding (and resizing) an image with this header will need: the pixels it
    decodes (a JPEG with `draft_size` at its reduced DCT scale) x (the mode's bytes + WORK_BYTES)."""
    if fmt == "JPEG" and draft_size:
        scale = _draft_scale(width, height, draft_size)
        width, height = -(-width // scale), -(-height // scale)
    return width * height * (MODE_BYTES.get(mode, 4) + WORK_BYTES)


def _decode(data: bytes, max_pixels: int, draft_size: int | None, bgr: bool,
            max_bytes: int) -> tuple[Image.Image | np.ndarray, str, int, int]:
    """`decode`'s work: (the upright image, format, upright declared width, height). The image is
    an RGB PIL image where PIL decoded it, an RGB (or BGR) array where a fast decoder did."""
    if not data:
        raise ImageError("empty body")
    try:
        img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"decompression bomb: over PIL's limit of {2 * Image.MAX_IMAGE_PIXELS} pixels") from exc
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad headers
        announced = magic_format(data)
        if announced:
            raise ImageError(f"truncated or corrupt {announced}") from exc
        raise ImageError(f"not an image: {_sniff(data)}") from exc
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(f"bad image size: {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(f"decompression bomb: {width}x{height} pixels > {max_pixels}")
    needed = decode_bytes(img.mode, img.format, width, height, draft_size)
    if needed > max_bytes:
        raise DecodeBudgetError(f"decode memory: a {width}x{height} {img.mode} image needs about "
                                f"{needed / 2**20:.1f} MiB > the budget of {max_bytes / 2**20:.1f} MiB")
    fmt = img.format or "unknown"
    try:
        orientation = img.getexif().get(ORIENTATION_TAG, 1)
        pixels = _fast_pixels(data, img, draft_size, bgr)
        if pixels is not None:
            out: Image.Image | np.ndarray = _upright(pixels, orientation)
        else:
            if draft_size and fmt == "JPEG":
                img.draft("RGB", _draft_request(width, height, draft_size))
            img.load()
            if orientation in range(2, 9):
                img = ImageOps.exif_transpose(img)
            out = to_rgb(img)
    except Image.DecompressionBombError as exc:  # e.g. a GIF frame larger than its header says
        raise ImageError("decompression bomb: a frame exceeds PIL's pixel limit") from exc
    except (OSError, SyntaxError, EOFError, ValueError) as exc:
        message = str(exc)
        if "truncated" in message or isinstance(exc, EOFError) or "broken data stream" in message:
            raise ImageError("truncated image") from exc
        raise ImageError(f"cannot decode {fmt}: {message}") from exc
    if orientation in QUARTER_TURNS:
        width, height = height, width  # report the upright size
    return out, fmt, width, height


def decode(data: bytes, max_pixels: int, draft_size: int | None = None, *,
           max_bytes: int = MAX_DECODE_BYTES) -> Decoded:
    """Decode untrusted bytes into an upright RGB image, or raise `ImageError`.

    `max_pixels` bounds the declared width x height and `max_bytes` the memory the decode will
    need (`decode_bytes`; over it: `DecodeBudgetError`), both checked before decoding. With
    `draft_size`, a JPEG is decoded at the smallest DCT scale whose long side is still >= `draft_size`.
    """
    out, fmt, width, height = _decode(data, max_pixels, draft_size, False, max_bytes)
    image = Image.fromarray(out, "RGB") if isinstance(out, np.ndarray) else out
    return Decoded(image=image, format=fmt, orig_width=width, orig_height=height)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB: transparency composited on white, 16-bit scaled (not clipped) to 8-bit."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        img = Image.fromarray(_eight_bit(np.asarray(img)), "L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), "L")
    elif img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    elif img.mode == "L" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, WHITE)
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


@functools.cache
def _sixteen_to_eight() -> np.ndarray:
    """round(v * 255 / 65535) for every 16-bit value v, as a lookup table."""
    return ((np.arange(65536, dtype=np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _eight_bit(arr: np.ndarray) -> np.ndarray:
    """A 16-bit (or 32-bit integer) grey array scaled to 8 bits, values beyond 16 bits clipped.
    A lookup table over SIXTEEN_BIT_ROWS rows at a time: one byte a pixel more, where scaling in
    float64 held three 8-byte copies of the whole image (25 bytes a pixel at the peak)."""
    lut, out = _sixteen_to_eight(), np.empty(arr.shape, np.uint8)
    for top in range(0, arr.shape[0], SIXTEEN_BIT_ROWS):
        rows = arr[top:top + SIXTEEN_BIT_ROWS]
        out[top:top + SIXTEEN_BIT_ROWS] = lut[rows if rows.dtype.itemsize == 2 else np.clip(rows, 0, 65535)]
    return out


def fitted_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) with the long side equal to `size` and the aspect ratio kept (each side >= 1)."""
    scale = size / max(width, height)
    return (max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale))))


@functools.cache
def _opencv():
    """OpenCV, single-threaded: images are processed in parallel (threads, tasks), so OpenCV's own
    thread pool would only oversubscribe the cores."""
    import cv2

    cv2.setNumThreads(1)
    return cv2


def _resize_pad_array(arr: np.ndarray, size: int) -> np.ndarray:
    """`resize_pad` on an (H, W[, C]) array."""
    cv2 = _opencv()
    height, width = arr.shape[:2]
    new_w, new_h = fitted_size(width, height, size)
    if (new_w, new_h) != (width, height):
        shrink = new_w < width
        arr = cv2.resize(arr, (new_w, new_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    if (new_w, new_h) != (size, size):
        top, left = (size - new_h) // 2, (size - new_w) // 2
        arr = cv2.copyMakeBorder(arr, top, size - new_h - top, left, size - new_w - left, cv2.BORDER_REPLICATE)
    return arr


def resize_pad(img: Image.Image, size: int) -> Image.Image:
    """Scale the long side to `size` (up or down) and pad the short side symmetrically with the
    replicated border, giving exactly `size` x `size` without distortion (the paper's resize).

    OpenCV does the pixel work: area averaging when shrinking (no aliasing), bicubic when
    enlarging. On the fixture catalogs' images its resize took a quarter of the time of PIL's
    bicubic (resize + pad with the array conversions: ~60 %); resizing had been the download
    stage's largest CPU cost per image.
    """
    if img.size == (size, size):
        return img
    return Image.fromarray(_resize_pad_array(np.asarray(img), size), img.mode)


def encode(img: Image.Image, fmt: str, quality: int = 95) -> bytes:
    """Encode as `jpg` or `png` without metadata (orientation is already applied), deterministically."""
    if fmt not in EXTENSIONS:
        raise ValueError(f"image format {fmt!r}: use one of {sorted(EXTENSIONS)}")
    out = io.BytesIO()
    if fmt == "jpg":
        img.save(out, "JPEG", quality=quality)
    else:
        img.save(out, "PNG", compress_level=6)
    return out.getvalue()


@dataclass(frozen=True)
class Sample:
    """An encoded `size` x `size` sample plus what its source declared (upright)."""

    data: bytes
    format: str  # the source's format
    orig_width: int
    orig_height: int
    width: int
    height: int


def make_sample(data: bytes, max_pixels: int, size: int, fmt: str, quality: int = 95, *,
                max_bytes: int = MAX_DECODE_BYTES) -> Sample:
    """`encode(resize_pad(decode(data, max_pixels, draft_size=size).image, size), fmt, quality)`
    in one call, with the same refusals and the same bytes, on arrays from the decoder to the
    encoder (BGR, OpenCV's order) where a fast decoder applies: no copies into and out of PIL
    images. JPEG is written by OpenCV's libjpeg-turbo with the settings of PIL's `save(quality=)`
    (4:2:0, standard tables, JFIF header, no options): byte for byte PIL's output, in about 20 %
    less CPU time (bench/decode_paths.py; tests/dataset/test_imaging.py holds them equal)."""
    if fmt not in EXTENSIONS:
        raise ValueError(f"image format {fmt!r}: use one of {sorted(EXTENSIONS)}")
    out, source_format, width, height = _decode(data, max_pixels, size, True, max_bytes)
    if not isinstance(out, np.ndarray):  # PIL decoded it
        return Sample(encode(resize_pad(out, size), fmt, quality), source_format, width, height, size, size)
    cv2 = _opencv()
    bgr = _resize_pad_array(out, size)
    if fmt == "jpg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("OpenCV could not encode the sample as JPEG")
        encoded = buf.tobytes()
    else:
        encoded = encode(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), "RGB"), fmt, quality)
    return Sample(encoded, source_format, width, height, size, size)
