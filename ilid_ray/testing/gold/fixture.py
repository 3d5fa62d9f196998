"""The fixture part of the gold set: products whose generator knows the truth.

    python -m ilid_ray.testing.gold.fixture     # rewrites fixture.jsonl
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ilid_ray.dataset.extract.hints import strip_codes
from ilid_ray.dataset.prefilter import clean_text
from ilid_ray.testing.gold import HERE, GoldRecord
from ilid_ray.testing.products import brand_for, make_product
from ilid_ray.testing.vocabulary import MATERIALS

FIXTURE_CATALOG = "gold"
FIXTURE_RECORDS = 120
LAYOUTS = ("jsonld", "selectors", "opengraph")


def unique(values: list[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        value = " ".join(value.split())
        if value and value not in seen:
            seen.append(value)
    return tuple(seen)


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0].rstrip(".")


def fixture_record(index: int, seed: int = 0) -> GoldRecord:
    """Product `index` of the gold fixture catalog, in layout `index % 3`, with its truth."""
    product = make_product(FIXTURE_CATALOG, seed, index)
    layout = LAYOUTS[index % len(LAYOUTS)]
    attributes = [f"{k}: {v}" for k, v in product.attributes]
    if layout == "jsonld":
        data = [*product.description, f"Material: {product.material_spec}", f"Color: {product.finish}", *attributes]
    elif layout == "selectors":
        data = product.text_blocks()
    else:
        data = list(product.description)
    noun = strip_codes(product.noun).lower()  # "ER Collet" -> "collet": no codes in labels
    adjective = MATERIALS[product.material].adjective.lower()
    # "aluminium profile" already names its material: the finish makes the long label longer
    long_label = f"{strip_codes(product.finish)} {noun}" if adjective in noun else f"{adjective} {noun}"
    spec = strip_codes(product.material_spec)
    expected = {
        "label_long": unique([long_label, f"{spec} {noun}"]),
        "label_short": unique([noun]),
        "description": unique([first_sentence(clean_text(product.description[0]))]),
        "material": unique([spec, product.material]),
        "material_finish": unique([product.finish, strip_codes(product.finish)]),
    }
    return GoldRecord(id=f"fixture-{index:03d}", style=layout, source=FIXTURE_CATALOG,
                      trade_names=brand_for(FIXTURE_CATALOG, seed).regex(), label=product.title,
                      data=unique(data), expected=expected)  # readers drop repeated blocks


def write_fixture(n: int = FIXTURE_RECORDS) -> Path:
    path = HERE / "fixture.jsonl"
    lines = [json.dumps(fixture_record(i).to_json(), ensure_ascii=False) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_fixture())
