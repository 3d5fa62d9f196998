"""Reader coverage on the real-markup corpus: which share of product pages becomes a usable
record with the right title and main image, per reader and overall, against extruct alone.

    python bench/reader_coverage.py [--pages-per-template 3] [--rounds 2]

- **Input**: `ilid_ray.testing.shops.ShopCorpus`: product pages written like Shopify, WooCommerce,
  Magento, SAP Commerce, Shopware, Drupal Commerce, PIM exports, marketplaces and small shops
  without markup write them (~28 kinds x `--pages-per-template`), each with its truth (title,
  main image, material). Pages are read in process from their HTML (reading is pure; the slow
  crawl test runs the same corpus through Scrapy).
- **Sides**: `extruct` (extruct 0.18 with json-ld, microdata, rdfa and opengraph, uniform output,
  and the glue a user would write: the first schema.org Product, OpenGraph for what it lacks);
  `structured` (ilid-ray's `read_product` with `heuristic_fallback: false`); `ilid-ray`
  (`read_product` with the default spec: structured, then the heuristic reader).
- **Right**: the record is usable (a title and an image), the title equals the truth (whitespace
  collapsed) and the first image URL is the main image (query strings ignored: cache busters).
  `material` = some data row holds the material text (what the LLM needs).
- **Also**: per `found_by` the pages and right share, per shop system extruct vs ilid-ray, the
  JSON-LD blocks each parser of the lenient chain read (what json5 / chompjs / repair add), and
  pages/s of both (rounds alternate extruct and ilid-ray; ratio of the best rounds).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parsel import Selector  # noqa: E402

from bench.common import header, load_avg, write_result  # noqa: E402
from ilid_ray.catalogs.lenient_json import load_block  # noqa: E402
from ilid_ray.catalogs.reader import read_product  # noqa: E402
from ilid_ray.catalogs.structured import LD_SCRIPTS, json_nodes  # noqa: E402
from ilid_ray.catalogs.text import squash  # noqa: E402
from ilid_ray.testing.shops.corpus import ShopCorpus, Truth  # noqa: E402

BASE = "https://shop.example"
SYNTAXES = ["json-ld", "microdata", "rdfa", "opengraph"]


# --------------------------------------------------------------------------- extruct alone


def _strip_iri(key: str) -> str:
    return key.rsplit("/", 1)[-1].rsplit("#", 1)[-1] if key.startswith("http") else key


def _first(value: Any) -> Any:
    while isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        for key in ("@value", "url", "contentUrl", "@id", "name"):
            if value.get(key):
                return _first(value[key])
        return None
    return value


def _is_product(node: dict) -> bool:
    types = node.get("@type") or []
    return any(str(t).rsplit("/", 1)[-1].lower() == "product" for t in (types if isinstance(types, list) else [types]))


def _strings_of(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings_of(item)]
    if isinstance(node, dict):
        return [s for k, v in node.items() if k != "@context" for s in _strings_of(v)]
    return []


def extruct_read(html: str, url: str) -> tuple[str | None, str | None, list[str]]:
    """extruct alone: (title, first image, every string of the product) the usual glue finds."""
    import extruct

    data = extruct.extract(html, base_url=url, syntaxes=SYNTAXES, uniform=True, errors="ignore")
    product = None
    for syntax in ("json-ld", "microdata", "rdfa"):
        for node in json_nodes(data.get(syntax, [])):
            if _is_product(node):
                product = {_strip_iri(k): v for k, v in node.items()}
                break
        if product:
            break
    og = (data.get("opengraph") or [{}])[0]
    title = _first(product.get("name")) if product else None
    image = _first(product.get("image")) if product else None
    title, image = title or og.get("og:title"), image or og.get("og:image")
    texts = _strings_of(product) if product else []
    return (squash(str(title)) if title else None, urljoin(url, str(image)) if image else None, texts)


# --------------------------------------------------------------------------- scoring


def same_image(found: str | None, wanted: str) -> bool:
    if not found:
        return False
    a, b = urlsplit(found), urlsplit(wanted)
    return (a.netloc, a.path) == (b.netloc, b.path)


def score(truth: Truth, title: str | None, image: str | None, texts: list[str]) -> dict[str, bool]:
    usable = bool(title) and bool(image)
    right = usable and squash(title or "") == squash(truth.title) and same_image(image, truth.image)
    return {"usable": usable, "right": right, "material": any(truth.material in t for t in texts)}


def shares(outcomes: list[dict[str, bool]]) -> dict[str, Any]:
    n = len(outcomes) or 1
    return {key: round(sum(o[key] for o in outcomes) / n, 4) for key in ("usable", "right", "material")} | {
        "pages": len(outcomes), "right_pages": sum(o["right"] for o in outcomes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages-per-template", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--results-dir", default=None)
    args = parser.parse_args()

    result = header("reader_coverage")
    corpus = ShopCorpus(pages_per_template=args.pages_per_template)
    corpus.bind(BASE, BASE)
    truth = corpus.truth
    pages = [(corpus.page_url(i), corpus.html(i)) for i in range(corpus.n_pages)]
    default_spec = corpus.spec()
    structured_spec = default_spec.model_copy(update={"heuristic_fallback": False})

    outcomes: dict[str, list[dict[str, bool]]] = defaultdict(list)
    per_reader: dict[str, list[dict[str, bool]]] = defaultdict(list)
    per_system: dict[str, dict[str, list[dict[str, bool]]]] = defaultdict(lambda: defaultdict(list))
    misses: list[str] = []
    extruct_only: list[str] = []  # pages extruct alone reads right and the structured reader does not
    for url, html in pages:
        t = truth[url]
        ex = score(t, *extruct_read(html, url))
        for side, spec in (("structured", structured_spec), ("ilid_ray", default_spec)):
            record = read_product(html, spec, url)
            outcome = score(t, record.label if not record.problem() else None,
                            record.image_urls[0] if record.image_urls and not record.problem() else None, record.data)
            outcomes[side].append(outcome)
            if side == "ilid_ray":
                per_reader[record.found_by or "none"].append(outcome)
                per_system[t.system]["ilid_ray"].append(outcome)
                if not outcome["right"]:
                    misses.append(f"{t.template}: {record.found_by} {record.label!r} {record.image_urls[:1]}")
        outcomes["extruct"].append(ex)
        if ex["right"] and not outcomes["structured"][-1]["right"]:
            extruct_only.append(t.template)
        per_system[t.system]["extruct"].append(ex)

    parsers: Counter[str] = Counter()
    for _, html in pages:
        for raw in Selector(text=html).xpath(LD_SCRIPTS).getall():
            loaded = load_block(raw)
            parsers[loaded[1] if loaded else "unread"] += 1

    best: dict[str, float] = {}
    for _ in range(args.rounds):  # A B A B: extruct, then ilid-ray, alternating
        for side in ("extruct", "ilid_ray"):
            started = time.perf_counter()
            for url, html in pages:
                extruct_read(html, url) if side == "extruct" else read_product(html, default_spec, url)
            best[side] = max(best.get(side, 0.0), len(pages) / (time.perf_counter() - started))

    sides = {side: shares(o) | {"pages_per_s": round(best[side], 1)} if side in best else shares(o)
             for side, o in outcomes.items()}
    result.update(
        pages=len(pages), kinds=len({(t.system, t.template) for t in truth.values()}),
        systems=sorted({t.system for t in truth.values()}), sides=sides,
        per_reader={k: shares(v) for k, v in sorted(per_reader.items())},
        per_system={s: {side: shares(o)["right"] for side, o in v.items()} for s, v in sorted(per_system.items())},
        jsonld_blocks_by_parser=dict(sorted(parsers.items())), misses=misses,
        extruct_right_structured_wrong=extruct_only,
        right_share_ilid_ray=sides["ilid_ray"]["right"], right_share_extruct=sides["extruct"]["right"],
        right_share_structured=sides["structured"]["right"],
        ratio_right_ilid_ray_vs_extruct=round(sides["ilid_ray"]["right"] / max(sides["extruct"]["right"], 1e-9), 2),
        ratio_pages_per_s_ilid_ray_vs_extruct=round(best["ilid_ray"] / best["extruct"], 2),
        load_avg_end=load_avg(),
    )
    write_result("reader_coverage", result, args.results_dir)


if __name__ == "__main__":
    main()
