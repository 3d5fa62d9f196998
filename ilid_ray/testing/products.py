"""Deterministic industrial products for the fixture catalogs.

A product is a pure function of (catalog name, seed, index): the same triple always gives the same
title, texts, attribute table and ground truth, on any machine, so tests can check what the
pipeline extracted (`family`, `material`, `finish`) and benchmarks can ask for thousands without
storing anything. Each catalog gets its own brand and series names, so its spec's `trade_names`
regex has something real to remove.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from ilid_ray.testing.vocabulary import FAMILIES, MATERIALS, Family

SYLLABLES = ("ver", "tra", "lok", "kin", "nor", "dex", "fix", "mat", "ron", "tek", "vin", "sol",
             "gri", "pro", "lin", "tor", "var", "cla", "mon", "zen", "hal", "sta", "bri", "quo")


@dataclass(frozen=True)
class Brand:
    """A catalog's trade names: a maker name, its short code and a few product series."""

    name: str  # e.g. "Nordex"
    code: str  # e.g. "NDX"
    series: tuple[str, ...]  # e.g. ("Tralok", "Kinvar", ...)

    @property
    def trade_names(self) -> tuple[str, ...]:
        return (self.name, self.code, *self.series)

    def regex(self) -> str:
        """Case-insensitive regex matching every trade name (with an optional ® or ™)."""
        names = sorted(self.trade_names, key=len, reverse=True)
        return r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b[®™]?"


@dataclass(frozen=True)
class Product:
    catalog: str
    index: int
    family: str  # ground truth: FAMILIES key, e.g. "hinge"
    material: str  # ground truth: MATERIALS key, e.g. "stainless steel"
    finish: str  # ground truth: finish of that material, e.g. "matte shot-blasted"
    noun: str  # the family noun used in the title, e.g. "Lift-off Hinge"
    trade_name: str  # the series or brand the title carries
    part_number: str
    title: str
    description: tuple[str, ...]  # paragraphs
    features: tuple[str, ...]  # bullet points
    attributes: tuple[tuple[str, str], ...]  # the attribute table, in page order
    slug: str
    shape_variant: int = field(default=0)  # picks the drawing variant of the family's image

    @property
    def colour(self) -> tuple[int, int, int]:
        return MATERIALS[self.material].finishes[self.finish]

    @property
    def material_spec(self) -> str:
        return dict(self.attributes)["Material"]

    def text_blocks(self) -> list[str]:
        """What a reader should find on the page: paragraphs, bullets, 'key: value' rows."""
        return [*self.description, *self.features, *(f"{k}: {v}" for k, v in self.attributes)]


def catalog_rng(catalog: str, seed: int, *parts: object) -> random.Random:
    """A RNG seeded by the catalog, the seed and any further parts (string seeds are stable)."""
    return random.Random(":".join(str(p) for p in (catalog, seed, *parts)))


def brand_for(catalog: str, seed: int = 0) -> Brand:
    rng = catalog_rng(catalog, seed, "brand")

    def word(n: int) -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(n)).capitalize()

    name = word(2)
    code = (name[0] + "".join(rng.choice("BCDFGKLMNPRSTVXZ") for _ in range(2))).upper()
    series: list[str] = []
    while len(series) < 5:
        candidate = word(2)
        if candidate not in series and candidate != name:
            series.append(candidate)
    return Brand(name=name, code=code, series=tuple(series))


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _pick_size(family: Family, rng: random.Random) -> dict[str, str | int | float]:
    """One size of the family: a dict of named values the templates format with."""
    return {key: rng.choice(values) for key, values in family.sizes.items()}


def make_product(catalog: str, seed: int, index: int) -> Product:
    """The product at `index` of catalog `catalog` (pure: same inputs, same product)."""
    rng = catalog_rng(catalog, seed, "product", index)
    brand = brand_for(catalog, seed)
    family_key = rng.choice(sorted(FAMILIES))
    family = FAMILIES[family_key]
    material_key = rng.choice(family.materials)
    material = MATERIALS[material_key]
    finish = rng.choice(sorted(family.finishes.get(material_key, material.finishes)))
    material_spec = rng.choice(material.specs)
    noun = rng.choice(family.nouns)
    size = _pick_size(family, rng)
    values = dict(size, noun=noun, noun_l=noun.lower(), material=material_key,
                  material_spec=material_spec, finish=finish, adj=material.adjective)
    size_text = family.size_format.format(**values)
    series = rng.choice(brand.series)
    part_number = f"{brand.code} {family.series_number}.{rng.randint(1, 9)}-{rng.randint(10, 99)}"
    pattern = rng.randrange(4)
    if pattern == 0:
        title = f"{part_number} {material.adjective} {noun} {size_text}"
        trade_name = brand.code
    elif pattern == 1:
        title = f"{series}® {noun}, {material.adjective.lower()}, {size_text}"
        trade_name = series
    elif pattern == 2:
        title = f"{brand.name} {noun} {series} {size_text} - {finish}"
        trade_name = brand.name
    else:
        title = f"{noun} {size_text} {material.adjective} | {brand.name} {part_number.split(' ', 1)[1]}"
        trade_name = brand.name

    weight = family.weight_g(rng)
    attributes: list[tuple[str, str]] = [
        ("Part number", part_number),
        ("Material", material_spec),
        ("Finish", finish),
        ("Size", size_text),
        *((k, v.format(**values)) for k, v in family.attributes),
        ("Weight", f"{weight} g"),
        ("RoHS", rng.choice(("compliant", "yes"))),
    ]
    paragraphs = [rng.choice(family.intros).format(**values),
                  rng.choice(material.sentences).format(**values),
                  rng.choice(family.applications).format(**values)]
    if rng.random() < 0.4:
        paragraphs.append(rng.choice((
            "All dimensions in mm. Subject to technical changes.",
            "Delivered ready to install; fastening screws are not included.",
            "Also available in other sizes and finishes on request.",
            "Drawings and CAD models are available in the download area.",
        )))
    paragraphs = [text[0].upper() + text[1:] for text in paragraphs]
    features = tuple(f.format(**values) for f in rng.sample(family.features, k=min(3, len(family.features))))
    return Product(
        catalog=catalog, index=index, family=family_key, material=material_key, finish=finish,
        noun=noun, trade_name=trade_name, part_number=part_number, title=title,
        description=tuple(paragraphs), features=features, attributes=tuple(attributes),
        slug=f"{slugify(title)}-{index}", shape_variant=rng.randrange(3),
    )
