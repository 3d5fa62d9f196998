"""The ILID reference dataset scripts' method, re-implemented as the baseline of bench/dataset_build.py
and bench/memory_build.py (bench-only code, not part of the library).

Like the reference, every step is its own script run (here: a subcommand run as its own process)
that reads the previous step's whole JSON file and writes a whole JSON file:

    per catalog:  crawl -> prefilter -> processing -> postfilter -> assemble (into one dataset.json)
    then:         download (one requests.get at a time, resize, save a file per image)

What is kept from the reference: md5(url) de-duplication, the cleaning order and regexes of its
pre- and post-filter, one item at a time through the "LLM", the O(n*m) URL scan of `assemble`
(every new item compared with every item already in the dataset), and the download loop (plain
`requests.get` without a session, status 200 + `image/*` check, OpenCV decode, INTER_AREA resize of
the long side to 512, BORDER_REPLICATE padding, one file per image).
What differs, on purpose: the "LLM" is the same `rules` engine and answer parser that the ilid-ray
build uses, so only the pipeline differs; the crawl is the same Scrapy spider (ilid-ray's
CatalogSpider) run once per catalog, one after the other, its accepted records written as the
reference's JSON; images are saved as JPEG quality 95 (the reference writes PNG) so both sides
produce the same output; `requests.get` gets a timeout and the post-filter skips a label that
cleans to nothing instead of crashing on `None.lower()`; stdlib `json` stands in for `orjson`.

    python bench/reference_pipeline.py run --specs specs.json --allow 127.0.0.1/32 --work DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def load(path: str | Path) -> list[dict]:
    with open(path, "rb") as fh:
        return json.loads(fh.read())


def dump(data: list[dict], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data))


# --------------------------------------------------------------------------- step 2: crawl


def crawl(spec_path: str, allow: list[str], output: str) -> int:
    """One catalog with the Scrapy spider; its accepted records as the reference's JSON items."""
    import pyarrow.parquet as pq

    from ilid_ray.config import CatalogSpec, CrawlConfig, NetworkConfig
    from ilid_ray.crawl.runner import crawl_catalog

    spec = CatalogSpec.model_validate(json.loads(Path(spec_path).read_text()))
    with tempfile.TemporaryDirectory(prefix="ref-crawl-") as tmp:
        raw = Path(tmp) / "raw.parquet"
        crawl_catalog(spec, CrawlConfig(autothrottle=False, max_pages=10**9), NetworkConfig(allow_private=allow),
                      raw, log_level="WARNING")
        rows = pq.read_table(raw).to_pylist()
    items = [{"url": r["url"], "image_url": (r["image_urls"] or [None])[0],
              "web": {"label": r["label"], "data": list(r["data"] or [])}}
             for r in rows if r["status"] == "ok"]
    dump(items, output)
    return len(items)


# --------------------------------------------------------------------------- step 3: pre-filter


def prefilter(data: list[dict], regex: str | None) -> list[dict]:
    unique: dict[str, dict] = {}
    for item in data:
        unique.setdefault(hashlib.md5(item["url"].encode("utf-8")).hexdigest(), item)
    data = [item for item in unique.values() if item["web"]["label"]]
    for item in data:
        item["web"]["data"] = [d for d in item["web"]["data"] if d]
    data = [item for item in data if item["web"]["data"]]
    for item in data:
        web = item["web"]
        web["label"] = web["label"].replace("\n", " ").replace("\r", " ").replace("\t", " ").strip()
        web["data"] = [d.replace("\n", " ").replace("\r", " ").replace("\t", " ").strip() for d in web["data"]]
    if regex:
        for item in data:
            item["web"]["label"] = re.sub(regex, "", item["web"]["label"], flags=re.IGNORECASE)
            item["web"]["data"] = [re.sub(regex, "", d, flags=re.IGNORECASE) for d in item["web"]["data"]]
    for item in data:
        item["web"]["label"] = re.sub(r"\d+", "", item["web"]["label"])
        item["web"]["data"] = [re.sub(r"\d+", "", d) for d in item["web"]["data"]]
    return data


# --------------------------------------------------------------------------- step 4: processing


def processing(data: list[dict]) -> list[dict]:
    """One item at a time through the engine (the same `rules` engine and parser as ilid-ray)."""
    from ilid_ray.dataset.extract.engine import build_request
    from ilid_ray.dataset.extract.parse import parse_answer
    from ilid_ray.dataset.extract.rules_engine import RulesEngine

    engine = RulesEngine()
    for item in data:
        row = {"label": item["web"]["label"], "data": item["web"]["data"]}
        answer = engine.generate([build_request(row)])[0]
        parsed = parse_answer(answer, source=" ".join([row["label"], *row["data"]]))
        fields = parsed.fields or {}
        item["response"] = answer
        for name in ("label_short", "label_long", "description", "material", "material_finish"):
            item[name] = fields.get(name)
    return data


# --------------------------------------------------------------------------- step 5: post-filter


def clean_field(value: str, min_length: int, pattern: str = r"[^\d\w\s\-_\.]") -> str | None:
    value = re.sub(pattern, "", value).strip()
    return value if len(value) >= min_length else None


def postfilter(data: list[dict], min_length: int = 4) -> list[dict]:
    kept = []
    for item in data:
        if item.get("label_short") is None or item.get("label_long") is None:
            continue
        short, long_ = clean_field(item["label_short"], min_length), clean_field(item["label_long"], min_length)
        if short is None or long_ is None:
            continue
        item["label_short"], item["label_long"] = short.lower(), long_.lower()
        if item["description"]:
            item["description"] = clean_field(item["description"], min_length)
        for name in ("material", "material_finish"):
            if item[name]:
                item[name] = clean_field(item[name], min_length)
            if item[name]:
                item[name] = item[name].lower()
        kept.append(item)
    for item in kept:
        item["folder_name"] = "_".join((clean_field(item["label_short"], 0, r"[^\d\w\s\-_]") or "x").split())
    return kept


# --------------------------------------------------------------------------- assemble


def assemble(data: list[dict], dataset: list[dict], source_tag: str, url_check: str = "scan") -> list[dict]:
    """Add a catalog's items to the combined dataset. `scan` compares each new URL with every item
    already in the dataset, as the reference does; `set` is the same check in O(1) (for the memory
    bench, where the scan would take hours)."""
    known = {d["url"] for d in dataset} if url_check == "set" else None
    for item in data:
        if known is not None:
            if item["url"] in known:
                continue
            known.add(item["url"])
        elif any(d["url"] == item["url"] for d in dataset):
            continue
        sample_id = str(uuid.uuid4())
        dataset.append({
            "id": sample_id, "image": os.path.join(item["folder_name"], sample_id + ".jpg"),
            "url": item["url"], "image_url": item["image_url"], "label_short": item["label_short"],
            "label_long": item["label_long"], "description": item["description"], "material": item["material"],
            "material_finish": item["material_finish"], "source": source_tag,
        })
    return dataset


# --------------------------------------------------------------------------- step 6: download


def resize_without_distortion(img, width: int, height: int):
    import cv2

    h, w = img.shape[:2]
    if h > w:
        new_h, new_w = height, max(1, int(height * w / h))
    else:
        new_w, new_h = width, max(1, int(width * h / w))
    img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    return cv2.copyMakeBorder(img, top, height - new_h - top, left, width - new_w - left, cv2.BORDER_REPLICATE)


def download(dataset: list[dict], folder: str, size: int = 512) -> list[dict]:
    import cv2
    import numpy as np
    import requests

    downloaded = []
    for item in dataset:
        path = os.path.join(folder, item["image"])
        response = requests.get(item["image_url"], timeout=30)
        if response.status_code != 200:
            continue
        if response.headers.get("content-type", "").split("/")[0] != "image":
            continue
        img = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        img = resize_without_distortion(img, size, size)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        downloaded.append(item)
    return downloaded


# --------------------------------------------------------------------------- driver


def run_step(argv: list[str]) -> tuple[float, dict, dict]:
    """One step as its own process (as the reference runs its scripts): wall time, peak memory and
    the step's record counts ({"in": n, "out": m})."""
    from common import TreeSampler, bench_env, last_json_line

    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *argv], env=bench_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeSampler(proc.pid) as sampler:
        out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"reference step {argv[0]} failed:\n{err[-3000:]}")
    return time.perf_counter() - started, sampler.memory.as_dict(), last_json_line(out)


def catalog_steps(name: str, regex: str | None, crawl_argv: list[str] | None, crawled: str, work_dir: Path,
                  dataset: Path, url_check: str) -> list[tuple[str, list[str]]]:
    """The reference's scripts for one catalog, in order (crawl only if `crawl_argv` is given)."""
    files = {s: str(work_dir / f"{name}.{s}.json") for s in ("prefilter", "processing", "postfilter")}
    steps = [("crawl", crawl_argv)] if crawl_argv else []
    return steps + [
        ("prefilter", ["prefilter", "--file", crawled, "--output", files["prefilter"],
                       *(["--regex", regex] if regex else [])]),
        ("processing", ["processing", "--file", files["prefilter"], "--output", files["processing"]]),
        ("postfilter", ["postfilter", "--file", files["processing"], "--output", files["postfilter"]]),
        ("assemble", ["assemble", "--file", files["postfilter"], "--dataset", str(dataset), "--source-tag", name,
                      "--url-check", url_check]),
    ]


def run(work: str, url_check: str, specs_path: str | None = None, allow: list[str] = (),
        crawled: list[str] = (), regex: str | None = None, with_download: bool = True) -> dict:
    """All steps for all catalogs (crawled by the spider from `specs_path`, or given as `crawled`
    JSON files named `{source}.json`); per-step seconds summed over catalogs and peak memory."""
    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    dataset = work_dir / "dataset.json"
    plans = []
    for spec in json.loads(Path(specs_path).read_text()) if specs_path else []:
        spec_file = work_dir / f"{spec['name']}.spec.json"
        spec_file.write_text(json.dumps(spec))
        out = str(work_dir / f"{spec['name']}.crawl.json")
        argv = ["crawl", "--spec", str(spec_file), "--output", out, *sum((["--allow", a] for a in allow), [])]
        plans.append(catalog_steps(spec["name"], spec.get("trade_names"), argv, out, work_dir, dataset, url_check))
    for path in crawled:
        plans.append(catalog_steps(Path(path).stem, regex, None, path, work_dir, dataset, url_check))
    seconds: dict[str, float] = {}
    peak_pss: dict[str, float] = {}
    input_records = 0

    def timed(step: str, argv: list[str]) -> dict:
        wall, memory, counts = run_step(argv)
        seconds[step] = seconds.get(step, 0.0) + wall
        peak_pss[step] = max(peak_pss.get(step, 0.0), memory["peak_tree_pss_mb"])
        return counts

    for steps in plans:
        for step, argv in steps:
            counts = timed(step, argv)
            input_records += counts["in"] if step == "prefilter" else 0
    result = {"input_records": input_records, "assembled": counts["out"]}
    if with_download:
        result["samples"] = timed("download", ["download", "--dataset", str(dataset), "--folder",
                                               str(work_dir / "images"), "--dataset-downloaded",
                                               str(work_dir / "dataset.downloaded.json")])["out"]
    result.update(stage_s={k: round(v, 2) for k, v in seconds.items()}, stage_peak_pss_mb=peak_pss,
                  engine="rules (same engine and answer parser as ilid-ray)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("run")
    p.add_argument("--specs", help="JSON list of CatalogSpec dumps to crawl")
    p.add_argument("--allow", action="append", default=[], help="CIDR the crawl may reach (the fixture server)")
    p.add_argument("--crawled", action="append", default=[], help="an already crawled {source}.json (no crawl)")
    p.add_argument("--regex", help="trade-name regex for --crawled files")
    p.add_argument("--no-download", action="store_true")
    p.add_argument("--work", required=True)
    p.add_argument("--url-check", choices=("scan", "set"), default="scan")
    p = sub.add_parser("crawl")
    p.add_argument("--spec", required=True)
    p.add_argument("--allow", action="append", default=[])
    p.add_argument("--output", required=True)
    for name in ("prefilter", "processing", "postfilter"):
        p = sub.add_parser(name)
        p.add_argument("--file", required=True)
        p.add_argument("--output", required=True)
        if name == "prefilter":
            p.add_argument("--regex")
        if name == "postfilter":
            p.add_argument("--min-field-length", type=int, default=4)
    p = sub.add_parser("assemble")
    p.add_argument("--file", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--source-tag", required=True)
    p.add_argument("--url-check", choices=("scan", "set"), default="scan")
    p = sub.add_parser("download")
    p.add_argument("--dataset", required=True)
    p.add_argument("--folder", required=True)
    p.add_argument("--dataset-downloaded", required=True)
    args = parser.parse_args()

    if args.step == "run":
        print(json.dumps(run(args.work, args.url_check, args.specs, args.allow, args.crawled, args.regex,
                             not args.no_download)), flush=True)
        return
    if args.step == "crawl":
        count_in = count_out = crawl(args.spec, args.allow, args.output)
    elif args.step in ("prefilter", "processing", "postfilter"):
        data = load(args.file)
        count_in = len(data)
        step = {"prefilter": lambda d: prefilter(d, args.regex), "processing": processing,
                "postfilter": lambda d: postfilter(d, args.min_field_length)}[args.step]
        data = step(data)
        count_out = len(data)
        dump(data, args.output)
    elif args.step == "assemble":
        data, dataset = load(args.file), load(args.dataset) if os.path.isfile(args.dataset) else []
        count_in, dataset = len(data), assemble(data, dataset, args.source_tag, args.url_check)
        count_out = len(dataset)
        dump(dataset, args.dataset)
    else:
        dataset = load(args.dataset)
        count_in, downloaded = len(dataset), download(dataset, args.folder)
        count_out = len(downloaded)
        dump(downloaded, args.dataset_downloaded)
    print(json.dumps({"in": count_in, "out": count_out}), flush=True)


if __name__ == "__main__":
    main()
