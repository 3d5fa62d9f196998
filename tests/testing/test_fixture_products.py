"""The product generator and image renderer of the fixture catalogs."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image, ImageOps

from ilid_ray.testing import images
from ilid_ray.testing.products import brand_for, make_product
from ilid_ray.testing.vocabulary import FAMILIES, MATERIALS


def test_products_are_deterministic_and_catalog_specific():
    assert make_product("acme", 0, 7) == make_product("acme", 0, 7)
    assert make_product("acme", 0, 7) != make_product("acme", 1, 7)
    assert brand_for("acme") != brand_for("bolt")
    titles = {make_product("acme", 0, i).title for i in range(200)}
    assert len(titles) > 150  # varied, not a handful of templates


def test_product_texts_carry_ground_truth_and_trade_names():
    brand = brand_for("acme")
    pattern = re.compile(brand.regex(), re.I)
    families = set()
    for i in range(300):
        p = make_product("acme", 0, i)
        families.add(p.family)
        assert p.family in FAMILIES and p.material in MATERIALS
        assert p.finish in MATERIALS[p.material].finishes
        assert pattern.search(p.title), p.title  # every title names a trade name the regex removes
        blocks = p.text_blocks()
        assert f"Finish: {p.finish}" in blocks
        assert any(b.startswith("Material: ") and b.endswith(p.material_spec) for b in blocks)
        assert all(d[0].isupper() for d in p.description)
        assert p.slug.endswith(f"-{i}") and re.fullmatch(r"[a-z0-9-]+", p.slug)
    assert families == set(FAMILIES)


def test_images_follow_spec_size_format_and_exif_orientation():
    seen_orientations, seen_formats = set(), set()
    for i in range(60):
        p = make_product("acme", 0, i)
        spec = images.image_spec(p, 0, 1)  # k=1: drawings only
        data = images.render(p, spec, 0, 1)
        picture = Image.open(io.BytesIO(data))
        assert picture.format.lower() == spec.fmt
        upright = ImageOps.exif_transpose(picture)
        assert upright.size == (spec.width, spec.height)
        if spec.exif_orientation != 1:
            assert picture.getexif().get(0x0112) == spec.exif_orientation
            assert picture.size == ((spec.height, spec.width) if spec.exif_orientation in (6, 8)
                                    else (spec.width, spec.height))
        seen_orientations.add(spec.exif_orientation)
        seen_formats.add(spec.fmt)
    assert seen_formats == {"jpeg", "png", "webp"}
    assert len(seen_orientations) > 1


def test_image_colour_follows_the_finish():
    """A good share of the pixels have the product's colour (a learnable signal)."""
    checked = 0
    for i in range(40):
        p = make_product("acme", 0, i)
        if p.family not in ("ball bearing", "aluminium profile", "hinge"):
            continue
        spec = images.ImageSpec(400, 300, "png")
        picture = images.draw_picture(p, spec, 0, 1).convert("RGB")
        counts = {colour: n for n, colour in picture.getcolors(400 * 300)}
        assert counts.get(p.colour, 0) > 0.02 * 400 * 300, (p.family, p.finish)
        checked += 1
    assert checked >= 3


def test_real_photo_replaces_the_drawing_when_the_truth_matches():
    matching = next(p for i in range(3000) if (p := make_product("photos", 0, i)).family == "spur gear"
                    and p.material == "technopolymer" and p.finish == "natural beige")
    spec = images.image_spec(matching, 0, 0)
    assert spec.photo == "spur_gear.jpg"
    picture = Image.open(io.BytesIO(images.render(matching, spec, 0, 0)))
    assert picture.size == (spec.width, spec.height)
    assert images.image_spec(matching, 0, 1).photo is None
    shipped = sum(f.stat().st_size for f in images.PHOTO_DIR.iterdir())
    assert (images.PHOTO_DIR / "LICENSE").is_file() and shipped < 2 * 1024 * 1024


def test_faulty_images():
    bomb = images.bomb_png(20_000)
    assert len(bomb) < 200_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
    p = make_product("acme", 0, 0)
    whole = images.render(p, images.ImageSpec(640, 480, "jpeg"), 0, 1)
    cut = images.truncated(whole)
    assert cut[:2] == b"\xff\xd8" and len(cut) < len(whole)
    with pytest.raises(OSError):
        Image.open(io.BytesIO(cut)).load()
    stream = images.oversized_stream(whole, 3_000_000, chunk=65536)
    assert sum(len(c) for c in stream) == 3_000_000


def test_byte_cache_stays_under_its_budget():
    cache = images.ByteCache(max_bytes=1000)
    for key in range(20):
        cache.get_or_make(key, lambda: b"x" * 300)
    assert cache.size <= 1000
    calls = []
    cache.get_or_make("again", lambda: calls.append(1) or b"y")
    cache.get_or_make("again", lambda: calls.append(1) or b"y")
    assert calls == [1]
