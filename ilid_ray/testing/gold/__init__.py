"""The extraction gold set: catalog records with the five fields a careful reader would extract.

Two parts, both JSONL files shipped in this folder:

- `fixture.jsonl`: fixture-catalog products (`ilid_ray.testing.products`), whose generator knows
  what each product is (family noun, material, finish). Records come in three reader layouts:
  `jsonld` (description + the schema.org material/color rows + the spec table, as the structured
  reader emits them), `selectors` (paragraphs, bullets, spec rows) and `opengraph` (title and
  description only: material and finish have to be read from the prose). Regenerate with
  `python -m ilid_ray.testing.gold.fixture` (the stored file keeps the set fixed while the vocabulary evolves).
- `shops.jsonl`: hand-written, hand-checked records phrased like real industrial shops (German,
  French, Italian and US English phrasing, marketplace titles, records in German, French, Italian
  and Spanish).

Each expected field is a list of acceptable answers (first = canonical); an empty list means the
record does not state it (the right answer is null). Records are raw, as a reader returns them:
the bench runs the real pre-filter (with the record's `trade_names`) before extraction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ilid_ray.records import FIELDS

HERE = Path(__file__).resolve().parent
FILES = ("fixture.jsonl", "shops.jsonl")


@dataclass(frozen=True)
class GoldRecord:
    id: str
    style: str  # reader layout or shop style, e.g. "jsonld", "shop-de"
    source: str  # catalog name (selects the trade-name regex in the pre-filter)
    trade_names: str | None  # regex, as in a catalog spec
    label: str
    data: tuple[str, ...]
    expected: dict[str, tuple[str, ...]]  # field -> acceptable answers; () = not stated

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> GoldRecord:
        missing = [name for name in FIELDS if name not in obj.get("expected", {})]
        if missing or not obj.get("label") or not obj.get("data"):
            raise ValueError(f"gold record {obj.get('id')!r}: needs label, data and expected {', '.join(missing)}")
        return cls(id=obj["id"], style=obj["style"], source=obj.get("source", "gold-shop"),
                   trade_names=obj.get("trade_names"), label=obj["label"], data=tuple(obj["data"]),
                   expected={name: tuple(obj["expected"][name]) for name in FIELDS})

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "style": self.style, "source": self.source, "trade_names": self.trade_names,
                "label": self.label, "data": list(self.data),
                "expected": {name: list(self.expected[name]) for name in FIELDS}}


def load_gold(files: tuple[str, ...] = FILES) -> list[GoldRecord]:
    out = []
    for name in files:
        for number, line in enumerate((HERE / name).read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    out.append(GoldRecord.from_json(json.loads(line)))
                except (ValueError, KeyError) as error:
                    raise ValueError(f"{name}:{number}: {error}") from error
    ids = [r.id for r in out]
    if len(set(ids)) != len(ids):
        raise ValueError("gold record ids are not unique")
    return out
