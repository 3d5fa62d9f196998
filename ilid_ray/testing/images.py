"""Product images for the fixture catalogs, drawn on request.

The picture follows the product: the silhouette comes from its family (a bearing is rings, a knob
a star, a profile a slotted square) and the colour from its material and finish, so a model trained
on a fixture dataset has something real to learn. Sizes run from 300x200 to 2000x1500 in both
orientations, formats are JPEG, PNG and WebP, and some JPEGs store their pixels rotated with an
EXIF orientation tag (as phone photos do). A few products whose ground truth matches one of the
real photos in `photos/` (from the ILID reference repository, MIT licence, see photos/LICENSE)
show that photo instead.

Everything is a pure function of the product and the ImageSpec; the server caches encoded bytes
under a byte budget so thousands of products never need gigabytes.
"""

from __future__ import annotations

import io
import math
import struct
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageDraw

from ilid_ray.testing.products import Product, catalog_rng
from ilid_ray.testing.shapes import draw_family

PHOTO_DIR = Path(__file__).with_name("photos")
# photo file -> the (family, material, finish) it shows
PHOTOS = {
    "levelling_foot.jpg": ("levelling foot", "technopolymer", "matte black"),
    "aluminium_profile.jpg": ("aluminium profile", "aluminium", "natural anodized"),
    "collet.jpg": ("collet", "steel", "plain, oiled"),
    "spur_gear.jpg": ("spur gear", "technopolymer", "natural beige"),
}
SIZES = ((300, 200), (400, 300), (480, 640), (640, 480), (800, 600), (800, 800), (1024, 768),
         (900, 1200), (1200, 900), (1600, 1200), (2000, 1500), (1500, 2000))
SIZE_WEIGHTS = (3, 4, 2, 4, 4, 3, 3, 2, 2, 1, 1, 1)
FORMATS = {"jpeg": ("jpg", "image/jpeg"), "png": ("png", "image/png"), "webp": ("webp", "image/webp")}
# EXIF orientation -> transpose that turns the upright picture into the stored pixels
STORED_TRANSPOSE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
                    8: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class ImageSpec:
    """What one image URL serves. width/height are the upright (displayed) size."""

    width: int
    height: int
    fmt: str  # jpeg | png | webp
    exif_orientation: int = 1  # 1 = none; 3, 6, 8 = stored rotated
    photo: str | None = None  # file in photos/ shown instead of a drawing

    @property
    def ext(self) -> str:
        return FORMATS[self.fmt][0]

    @property
    def content_type(self) -> str:
        return FORMATS[self.fmt][1]


def image_spec(product: Product, seed: int, k: int) -> ImageSpec:
    """The k-th image of a product (deterministic)."""
    rng = catalog_rng(product.catalog, seed, "image", product.index, k)
    width, height = rng.choices(SIZES, weights=SIZE_WEIGHTS)[0]
    fmt = rng.choices(("jpeg", "png", "webp"), weights=(6, 2, 2))[0]
    orientation = rng.choice((3, 6, 8)) if fmt == "jpeg" and rng.random() < 0.15 else 1
    photo = None
    truth = (product.family, product.material, product.finish)
    if k == 0:
        photo = next((name for name, shows in PHOTOS.items() if shows == truth), None)
    return ImageSpec(width, height, fmt, orientation, photo)


def _cover(photo: Image.Image, width: int, height: int) -> Image.Image:
    """Scale and centre-crop a photo to exactly width x height."""
    scale = max(width / photo.width, height / photo.height)
    resized = photo.resize((max(width, math.ceil(photo.width * scale)),
                            max(height, math.ceil(photo.height * scale))), Image.Resampling.BICUBIC)
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def draw_picture(product: Product, spec: ImageSpec, seed: int, k: int) -> Image.Image:
    """The upright RGB picture (before EXIF rotation and encoding)."""
    if spec.photo:
        with Image.open(PHOTO_DIR / spec.photo) as photo:
            return _cover(photo.convert("RGB"), spec.width, spec.height)
    rng = catalog_rng(product.catalog, seed, "draw", product.index, k)
    top = rng.randint(232, 252)
    bottom = max(196, top - rng.randint(8, 40))
    gradient = Image.linear_gradient("L").resize((spec.width, spec.height))
    background = Image.merge("RGB", [gradient.point(lambda v: top + (bottom - top) * v // 255)] * 3)
    draw = ImageDraw.Draw(background)
    side = min(spec.width, spec.height) * rng.uniform(0.55, 0.8)
    cx = spec.width / 2 + rng.uniform(-0.08, 0.08) * spec.width
    cy = spec.height / 2 + rng.uniform(-0.06, 0.06) * spec.height
    shadow = (top - 28,) * 3
    draw.ellipse((cx - side * 0.45, cy + side * 0.38, cx + side * 0.45, cy + side * 0.5), fill=shadow)
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    draw_family(draw, product.family, box, product.colour, (top,) * 3, product.shape_variant)
    return background


def encode(picture: Image.Image, spec: ImageSpec) -> bytes:
    stored = picture
    exif = None
    if spec.exif_orientation in STORED_TRANSPOSE:
        stored = picture.transpose(STORED_TRANSPOSE[spec.exif_orientation])
        exif = Image.Exif()
        exif[0x0112] = spec.exif_orientation
    out = io.BytesIO()
    if spec.fmt == "jpeg":
        stored.save(out, "JPEG", quality=88, **({"exif": exif.tobytes()} if exif else {}))
    elif spec.fmt == "png":
        stored.save(out, "PNG", compress_level=3)
    else:
        stored.save(out, "WEBP", quality=80, method=2)
    return out.getvalue()


def render(product: Product, spec: ImageSpec, seed: int, k: int) -> bytes:
    """Encoded bytes of the k-th image of a product."""
    return encode(draw_picture(product, spec, seed, k), spec)


# --------------------------------------------------------------------------- faulty images


def truncated(data: bytes, keep: float = 0.55) -> bytes:
    """An image cut off part-way, like an interrupted upload (header intact, data missing)."""
    return data[: max(64, int(len(data) * keep))]


def bomb_png(side: int = 20_000) -> bytes:
    """A small PNG declaring side x side pixels (1-bit): a few hundred kB that would decode to
    side**2 pixels; a downloader must refuse it by its header, before decoding."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row * 256) for _ in range(side // 256)]
    chunks.append(compressor.compress(row * (side % 256)))
    chunks.append(compressor.flush())
    idat = b"".join(chunks)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def oversized_stream(head: bytes, total_bytes: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """A valid image head followed by padding up to total_bytes, streamed (never held in memory)."""
    yield head
    left = total_bytes - len(head)
    block = b"\x00" * chunk
    while left > 0:
        yield block[: min(chunk, left)]
        left -= chunk


class ByteCache:
    """A thread-safe LRU of encoded images bounded by total bytes."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._items: OrderedDict[object, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get_or_make(self, key: object, make) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = make()  # outside the lock: renders run in parallel
        with self._lock:
            if key not in self._items and len(data) <= self.max_bytes:
                self._items[key] = data
                self._size += len(data)
                while self._size > self.max_bytes:
                    _, dropped = self._items.popitem(last=False)
                    self._size -= len(dropped)
        return data

    @property
    def size(self) -> int:
        return self._size
