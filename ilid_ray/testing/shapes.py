"""Silhouettes of the product families, drawn with PIL in a square box.

Deliberately simple (rings, stars, slotted squares) but distinct per family and shaded lighter on
one side, so family and colour are what a picture carries.
"""

from __future__ import annotations

import math
from typing import Callable

from PIL import ImageDraw

RGB = tuple[int, int, int]
Box = tuple[float, float, float, float]


def tone(colour: RGB, factor: float) -> RGB:
    """Lighter (factor > 1) or darker (< 1); dark colours get a visible highlight too."""
    if factor > 1:
        return tuple(min(255, int(c * factor + 28 * (factor - 1) * 2)) for c in colour)  # type: ignore[return-value]
    return tuple(int(c * factor) for c in colour)  # type: ignore[return-value]


def _unit(box: Box) -> Callable[[float, float], tuple[float, float]]:
    """Map unit-square coordinates (0..1) into the box."""
    x0, y0, x1, y1 = box
    return lambda u, v: (x0 + u * (x1 - x0), y0 + v * (y1 - y0))


def _rect(draw, p, u0, v0, u1, v1, fill, radius=0.0, box=None):
    a, b = p(u0, v0), p(u1, v1)
    if radius and box:
        draw.rounded_rectangle((a, b), radius=radius * (box[2] - box[0]), fill=fill)
    else:
        draw.rectangle((a, b), fill=fill)


def _ellipse(draw, p, cu, cv, ru, rv, fill):
    draw.ellipse((p(cu - ru, cv - rv), p(cu + ru, cv + rv)), fill=fill)


def _thread(draw, p, u0, v0, u1, v1, colour):
    _rect(draw, p, u0, v0, u1, v1, colour)
    steps = 10
    for i in range(steps):
        v = v0 + (v1 - v0) * (i + 0.5) / steps
        draw.line((p(u0, v), p(u1, v)), fill=tone(colour, 0.7), width=2)


def hinge(draw, p, box, c, bg, variant):
    tilt = 0.08 * variant
    draw.polygon([p(0.05, 0.15 + tilt), p(0.47, 0.15), p(0.47, 0.85), p(0.05, 0.85 - tilt)], fill=c)
    draw.polygon([p(0.53, 0.15), p(0.95, 0.15), p(0.95, 0.85), p(0.53, 0.85)], fill=tone(c, 1.2))
    _rect(draw, p, 0.44, 0.1, 0.56, 0.9, tone(c, 0.8), radius=0.05, box=box)
    for u in (0.2, 0.78):
        for v in (0.3, 0.7):
            _ellipse(draw, p, u, v, 0.04, 0.04, bg)


def toggle_clamp(draw, p, box, c, bg, variant):
    _rect(draw, p, 0.05, 0.8, 0.6, 0.9, c)
    _rect(draw, p, 0.4, 0.35, 0.5, 0.8, tone(c, 0.85))
    draw.line((p(0.45, 0.4), p(0.95, 0.1 + 0.05 * variant)), fill=c, width=max(3, int((box[2] - box[0]) * 0.05)))
    draw.line((p(0.75, 0.22), p(0.97, 0.08)), fill=(190, 30, 30), width=max(4, int((box[2] - box[0]) * 0.08)))
    _rect(draw, p, 0.12, 0.4, 0.16, 0.8, tone(c, 1.2))
    _ellipse(draw, p, 0.14, 0.8, 0.07, 0.03, (30, 30, 30))


def knob(draw, p, box, c, bg, variant):
    lobes = (5, 4, 8)[variant]
    for i in range(lobes):
        a = 2 * math.pi * i / lobes
        _ellipse(draw, p, 0.5 + 0.3 * math.cos(a), 0.5 + 0.3 * math.sin(a), 0.17, 0.17, c)
    _ellipse(draw, p, 0.5, 0.5, 0.33, 0.33, c)
    _ellipse(draw, p, 0.5, 0.5, 0.14, 0.14, tone(c, 1.25))
    _ellipse(draw, p, 0.5, 0.5, 0.06, 0.06, (150, 150, 150))


def handle(draw, p, box, c, bg, variant):
    width = max(4, int((box[2] - box[0]) * (0.1 + 0.02 * variant)))
    draw.arc((p(0.1, 0.1), p(0.9, 1.3)), start=180, end=360, fill=c, width=width)
    draw.arc((p(0.13, 0.13), p(0.87, 1.27)), start=200, end=260, fill=tone(c, 1.3), width=max(2, width // 4))
    _rect(draw, p, 0.05, 0.65, 0.25, 0.75, tone(c, 0.8))
    _rect(draw, p, 0.75, 0.65, 0.95, 0.75, tone(c, 0.8))


def indexing_plunger(draw, p, box, c, bg, variant):
    _ellipse(draw, p, 0.5, 0.15, 0.2, 0.12, (190, 30, 30))
    _rect(draw, p, 0.45, 0.25, 0.55, 0.35, tone(c, 0.8))
    draw.regular_polygon((p(0.5, 0.42), 0.18 * (box[2] - box[0])), 6, fill=c)
    _thread(draw, p, 0.38, 0.5, 0.62, 0.8, tone(c, 1.1))
    _rect(draw, p, 0.46, 0.8, 0.54, 0.97, tone(c, 1.3))


def ball_bearing(draw, p, box, c, bg, variant):
    _ellipse(draw, p, 0.5, 0.5, 0.48, 0.48, c)
    _ellipse(draw, p, 0.5, 0.5, 0.42, 0.42, tone(c, 1.2))
    _ellipse(draw, p, 0.5, 0.5, 0.38, 0.38, (25, 25, 28) if variant != 1 else (160, 30, 30))
    _ellipse(draw, p, 0.5, 0.5, 0.26, 0.26, tone(c, 0.9))
    _ellipse(draw, p, 0.5, 0.5, 0.18, 0.18, bg)


def aluminium_profile(draw, p, box, c, bg, variant):
    if variant == 2:  # seen from an angle: extrusion going back
        draw.polygon([p(0.2, 0.2), p(0.45, 0.05), p(0.98, 0.55), p(0.8, 0.8)], fill=tone(c, 1.2))
    _rect(draw, p, 0.1, 0.1, 0.9, 0.9, c)
    for u0, v0, u1, v1 in ((0.4, 0.1, 0.6, 0.2), (0.4, 0.8, 0.6, 0.9), (0.1, 0.4, 0.2, 0.6), (0.8, 0.4, 0.9, 0.6)):
        _rect(draw, p, u0, v0, u1, v1, bg)
    _ellipse(draw, p, 0.5, 0.5, 0.08, 0.08, bg)
    _rect(draw, p, 0.1, 0.1, 0.9, 0.13, tone(c, 1.25))


def levelling_foot(draw, p, box, c, bg, variant):
    stem = (165, 168, 172)
    _thread(draw, p, 0.44, 0.05, 0.56, 0.62, stem)
    draw.regular_polygon((p(0.5, 0.62), 0.1 * (box[2] - box[0])), 6, fill=tone(stem, 0.85))
    _ellipse(draw, p, 0.5, 0.8, 0.42, 0.14, tone(c, 0.8))
    _ellipse(draw, p, 0.5, 0.75, 0.42, 0.13, c)


def collet(draw, p, box, c, bg, variant):
    draw.polygon([p(0.25, 0.15), p(0.75, 0.15), p(0.65, 0.9), p(0.35, 0.9)], fill=c)
    _ellipse(draw, p, 0.5, 0.15, 0.25, 0.07, tone(c, 1.2))
    _ellipse(draw, p, 0.5, 0.15, 0.1, 0.035, (30, 30, 30))
    for u in (0.38, 0.5, 0.62):
        draw.line((p(u, 0.2), p(u + (0.5 - u) * 0.3, 0.75)), fill=(30, 30, 30), width=2)


def quick_release_pin(draw, p, box, c, bg, variant):
    _rect(draw, p, 0.46, 0.25, 0.54, 0.95, c)
    _ellipse(draw, p, 0.46, 0.85, 0.025, 0.025, tone(c, 0.6))
    _ellipse(draw, p, 0.54, 0.85, 0.025, 0.025, tone(c, 0.6))
    if variant == 0:
        _rect(draw, p, 0.2, 0.12, 0.8, 0.25, tone(c, 0.85), radius=0.04, box=box)
    else:
        draw.ellipse((p(0.35, 0.02), p(0.65, 0.28)), outline=tone(c, 0.85), width=max(3, int((box[2] - box[0]) * 0.03)))
    _ellipse(draw, p, 0.5, 0.25, 0.06, 0.03, (190, 30, 30) if variant == 1 else tone(c, 1.2))


def clamping_lever(draw, p, box, c, bg, variant):
    draw.polygon([p(0.3, 0.45), p(0.95, 0.3 + 0.05 * variant), p(0.95, 0.45 + 0.05 * variant), p(0.3, 0.65)], fill=c)
    _ellipse(draw, p, 0.3, 0.55, 0.17, 0.17, tone(c, 0.9))
    _ellipse(draw, p, 0.3, 0.55, 0.07, 0.07, tone(c, 1.25))
    _thread(draw, p, 0.26, 0.7, 0.34, 0.97, (165, 168, 172))


def spur_gear(draw, p, box, c, bg, variant):
    teeth = (18, 24, 30)[variant]
    points = []
    for i in range(teeth * 2):
        a = math.pi * i / teeth
        r = 0.47 if i % 2 == 0 else 0.4
        points.append(p(0.5 + r * math.cos(a), 0.5 + r * math.sin(a)))
    draw.polygon(points, fill=c)
    _ellipse(draw, p, 0.5, 0.5, 0.3, 0.3, tone(c, 1.1))
    _rect(draw, p, 0.42, 0.42, 0.58, 0.58, bg)


DRAWERS = {
    "hinge": hinge, "toggle clamp": toggle_clamp, "knob": knob, "handle": handle,
    "indexing plunger": indexing_plunger, "ball bearing": ball_bearing,
    "aluminium profile": aluminium_profile, "levelling foot": levelling_foot, "collet": collet,
    "quick-release pin": quick_release_pin, "clamping lever": clamping_lever, "spur gear": spur_gear,
}


def draw_family(draw: ImageDraw.ImageDraw, family: str, box: Box, colour: RGB, background: RGB,
                variant: int) -> None:
    DRAWERS[family](draw, _unit(box), box, colour, background, variant % 3)
