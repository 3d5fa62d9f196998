"""Regenerate the results table of BENCHMARKS.md from bench/results/*.json (one command).

    python bench/table.py [--results-dir bench/results] [--output BENCHMARKS.md]

Replaces the text between the `<!-- table:start -->` and `<!-- table:end -->` markers; every other
part of the file is left as written. Benches listed in BENCHES without a result file yet get a row
that links their script and says so.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- table:start -->", "<!-- table:end -->"
HIGH_LOAD_PER_CPU = 2.0  # a 1-minute load above this many runnable tasks per core: flagged


def _num(value: Any, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else "?"


def _mb(side: dict, key: str = "peak_tree_pss_mb") -> str:
    return _num(side.get("memory", {}).get(key), 0)


def dataset_build(r: dict) -> str:
    ray, ref, ratio = r.get("ray", {}), r.get("reference", {}), r.get("ratios", {})
    overrides = r.get("ray_overrides") or []
    return (f"{r.get('products')} products: ilid-ray {_num(ray.get('records_per_s'), 2)} records/s vs "
            f"reference {_num(ref.get('records_per_s'), 2)} (**x{_num(ratio.get('end_to_end_speedup'), 2)}** "
            f"end to end; crawl x{_num(ratio.get('crawl_speedup'), 2)}, after the crawl "
            f"x{_num(ratio.get('after_crawl_speedup'), 2)}); peak tree PSS {_mb(ray)} MB vs {_mb(ref)} MB"
            + (f"; ilid-ray with {', '.join(overrides)}" if overrides else ""))


def image_fetch(r: dict) -> str:
    ours, theirs, plain = r.get("ilid_ray", {}), r.get("img2dataset", {}), r.get("plain", {})
    floor = r.get("floor_single_core", {})
    return (f"{r.get('images')} images: ilid-ray {_num(ours.get('images_per_s'))} img/s vs img2dataset "
            f"{_num(theirs.get('images_per_s'))} img/s (**x{_num(r.get('ratio_images_per_s_ours_vs_img2dataset'), 2)}**; "
            f"with start-up x{_num(r.get('ratio_incl_startup'), 2)}); the same code in one process "
            f"{_num(plain.get('images_per_s'))} img/s (ilid-ray **x{_num(r.get('ratio_images_per_s_ours_vs_plain'), 2)}**); "
            f"floor, 1 core, decode+resize+encode: ilid-ray {_num(floor.get('ilid_ray_per_cpu_s'))}/s, "
            f"OpenCV {_num(floor.get('opencv_area_per_cpu_s'))}/s")


def decode_paths(r: dict) -> str:
    parts = [f"{name} {_num(c.get('full_per_cpu_s', {}).get('all', {}).get('best'))}/s "
             f"(x{_num(c.get('full_vs_opencv_full_area'), 2)})" for name, c in r.get("candidates", {}).items()]
    return (f"{r.get('images')} images ({', '.join(f'{n} {k}' for k, n in (r.get('formats') or {}).items())}), "
            "decode + resize + q95 encode per CPU-second: " + "; ".join(parts))


def registry_claims(r: dict) -> str:
    parts = []
    for run in r.get("runs", []):
        parts.append(f"{run.get('shards')} shard(s) {_num(run.get('batch_64', {}).get('sequential', {}).get('keys_per_s'), 0)}"
                     f" keys/s in batches of 64 ({_num(run.get('batch_64', {}).get('concurrent', {}).get('keys_per_s'), 0)}"
                     f" with 4 clients), RSS {_num(run.get('rss_after_preload_mb', {}).get('sum'), 0)} MB")
    return f"{_num(r.get('known'), 0)} known keys: " + "; ".join(parts)


def memory_build(r: dict) -> str:
    full = r.get("full", {})
    ray, ref = full.get("ray", {}), full.get("reference", {})
    text = (f"{_num(full.get('records'), 0)} records: ilid-ray tree PSS {_mb(ray)} MB (driver RSS "
            f"{_mb(ray, 'peak_root_rss_mb')} MB, private {_mb(ray, 'peak_root_uss_mb')} MB), reference "
            f"{_mb(ref)} MB (**x{_num(full.get('peak_tree_pss_ratio_ray_vs_reference'), 2)}**); "
            f"{_num(ray.get('records_per_s'), 0)} vs {_num(ref.get('records_per_s'), 0)} records/s")
    growth = r.get("growth_10x_records")
    if growth:
        text += (f"; 10x the records: driver private x{_num(growth.get('ray_driver_uss'), 2)}, Ray tree "
                 f"x{_num(growth.get('ray_tree_pss'), 2)}, reference x{_num(growth.get('reference_tree_pss'), 2)}")
    return text


def extract_engines(r: dict) -> str:
    engines = r.get("engines", {})
    parts = [f"{name} {_num(e.get('records_per_s'), 3)} records/s ({_num(100 * (e.get('accepted_share') or 0), 0)}% "
             f"accepted)" for name, e in engines.items()]
    ratios = "; ".join(f"{k.replace('_records_per_s', '')} **x{_num(v, 2)}**"
                       for k, v in r.get("ratios", {}).items() if k.endswith("records_per_s"))
    return f"{r.get('records')} records, {r.get('model')}: " + ", ".join(parts) + (f"; {ratios}" if ratios else "")


def extract_quality(r: dict) -> str:
    parts = []
    for name, e in r.get("engines", {}).items():
        f1 = e.get("token_f1", {})
        text = f"{name}: {_num(100 * (e.get('accepted_share') or 0), 0)}% accepted"
        if name != "paper":
            text += (f", token F1 label_long {_num(f1.get('label_long'), 3)} / label_short "
                     f"{_num(f1.get('label_short'), 3)} / material {_num(f1.get('material'), 3)}, "
                     f"{_num(100 * (e.get('breaking_share_of_accepted') or 0), 0)}% break the rules")
        parts.append(text + f", {_num(e.get('records_per_s'), 3)} records/s")
    ratios = "; ".join(f"{k} **x{_num(v, 2)}** vs paper" for k, v in r.get("ratios_vs_paper_records_per_s", {}).items())
    return f"{r.get('records')} gold records, {r.get('model')}: " + "; ".join(parts) + (f"; {ratios}" if ratios else "")


def feature_cache(r: dict) -> str:
    return (f"{r.get('model')} {r.get('variant')}, {r.get('samples')} samples: "
            f"{_num(r.get('train_samples_per_s_images'), 1)} -> {_num(r.get('train_samples_per_s_cached'), 1)} "
            f"train samples/s (**x{_num(r.get('train_speedup'), 1)}**), epoch x{_num(r.get('epoch_speedup'), 1)}; "
            f"cache build {_num(r.get('cache_build_s'), 0)} s, pays off after "
            f"{_num(r.get('break_even_epochs'), 1)} epochs")


def train_variants(r: dict) -> str:
    summary, vs = r.get("summary", {}), r.get("ratio_top1_vs_linearprobe", {})
    cfg = r.get("config", {})
    parts = [f"{name} {_num(s.get('top1'), 3)}±{_num(s.get('top1_std'), 3)} (x{_num(vs.get(name), 2)})"
             for name, s in sorted(summary.items(), key=lambda kv: -(kv[1].get("top1") or 0))]
    return (f"{cfg.get('samples')} textures samples, fold(s) {cfg.get('folds')}, seeds {cfg.get('seeds')}, "
            f"top-1 mean±std over seeds (x vs linear probe): " + "; ".join(parts))


def serve_latency(r: dict) -> str:
    one, two = r.get("replicas_1", {}), r.get("replicas_2", {})
    return (f"{r.get('requests')} requests, {r.get('concurrency')} clients: 1 replica "
            f"{_num(one.get('requests_per_s'), 3)} req/s (p50 {_num(one.get('p50_s'), 2)} s), 2 replicas "
            f"{_num(two.get('requests_per_s'), 3)} req/s (p50 {_num(two.get('p50_s'), 2)} s): "
            f"**x{_num(r.get('throughput_ratio_2_vs_1'), 2)}**")


def serve_multiplex(r: dict) -> str:
    one, many = r.get("multiplexed", {}), r.get("per_replica", {})
    scorer = "ClipScorer"
    return (f"{r.get('adapters')} tiny-CLIP adapters, {r.get('requests')} /v1/classify requests, "
            f"{r.get('concurrency')} clients: one multiplexing scorer replica "
            f"{_num(one.get('pss_mb_by_deployment', {}).get(scorer), 0)} MB PSS, "
            f"{_num(one.get('requests_per_s'), 1)} req/s vs one replica per checkpoint "
            f"{_num(many.get('pss_mb_by_deployment', {}).get(scorer), 0)} MB, {_num(many.get('requests_per_s'), 1)} "
            f"req/s: scorer memory **x{_num(r.get('scorer_pss_ratio'), 3)}** (all replicas "
            f"x{_num(r.get('replica_pss_ratio'), 3)}), throughput **x{_num(r.get('throughput_ratio'), 2)}**")


def mask_backends(r: dict) -> str:
    parts = []
    for size in ("real",) if "real" in r else ("tiny",):  # tiny models: machinery only, no speed claim
        pair = r[size]
        sam, mobile = pair.get("sam", {}), pair.get("mobilesam", {})
        parts.append(f"{size}: SAM {sam.get('model_type')} {_num(sam.get('generate_s'), 1)} s/image (encoder "
                     f"{_num(sam.get('encoder_s'), 1)} s) vs MobileSAM {mobile.get('model_type')} "
                     f"{_num(mobile.get('generate_s'), 1)} s (encoder {_num(mobile.get('encoder_s'), 1)} s): "
                     f"**x{_num(pair.get('ratio_generate_sam_vs_mobilesam'), 2)}**")
    return (f"{r.get('image')}, {r.get('prompts_per_image')} point prompts, random weights: "
            + "; ".join(parts))


def reader_coverage(r: dict) -> str:
    sides = r.get("sides", {})
    pct = {k: _num(100 * (sides.get(k, {}).get("right") or 0), 1) for k in ("ilid_ray", "structured", "extruct")}
    readers = ", ".join(f"{k} {v.get('pages')}" for k, v in r.get("per_reader", {}).items())
    return (f"{r.get('pages')} pages, {r.get('kinds')} kinds of shop markup: right title + image "
            f"ilid-ray {pct['ilid_ray']}%, structured readers alone {pct['structured']}%, extruct alone "
            f"{pct['extruct']}% (**x{_num(r.get('ratio_right_ilid_ray_vs_extruct'), 2)}**); found by: {readers}; "
            f"{_num(sides.get('ilid_ray', {}).get('pages_per_s'), 0)} vs "
            f"{_num(sides.get('extruct', {}).get('pages_per_s'), 0)} pages/s")


def prompt_descriptions(r: dict) -> str:
    summaries, described = r.get("summaries", {}), r.get("describe", {})
    ratios = r.get("ratio_top1_descriptions_vs_template", {})
    parts = [f"{name} top-1 {_num(summaries.get('template', {}).get(v, {}).get('top1'), 3)} -> "
             f"{_num(summaries.get('descriptions', {}).get(v, {}).get('top1'), 3)} (**x{_num(ratios.get(v), 2)}**)"
             for v, name in (("zeroshot", "zero-shot"), ("clipadapter", "CLIP-Adapter"))]
    return (f"{described.get('described')} of {described.get('labels')} labels described by SmolLM2-135M in "
            f"{_num(described.get('seconds'), 0)} s; " + "; ".join(parts) + " (random tiny tower: machinery only)")


def generic(r: dict) -> str:
    """Top-level ratios/speedups of a bench this table has no formatter for."""
    found = [f"{k} {_num(v, 2)}" for k, v in r.items()
             if isinstance(v, (int, float)) and any(w in k for w in ("ratio", "speedup", "per_s"))]
    return "; ".join(found) or "see the JSON file"


@dataclass(frozen=True)
class Bench:
    name: str
    area: str
    baseline: str
    command: str  # default command, if the result file does not record one
    figures: Callable[[dict], str] = generic


BENCHES = (
    Bench("dataset_build", "Dataset build, end to end",
          "the ILID reference scripts' method (bench/reference_pipeline.py)", "python bench/dataset_build.py",
          dataset_build),
    Bench("dataset_build-10k", "Dataset build, end to end, 10,000 products",
          "the ILID reference scripts' method (bench/reference_pipeline.py)",
          "python bench/dataset_build.py --products 10000 --tag 10k", dataset_build),
    Bench("image_fetch", "Image fetch + resize + shard",
          "img2dataset 1.47.0; the same code in one plain process; single-core floor",
          "python bench/image_fetch.py", image_fetch),
    Bench("decode_paths", "Image decode + resize + encode paths, one core", "img2dataset's OpenCV path",
          "python bench/decode_paths.py", decode_paths),
    Bench("registry_claims", "Key registry (URL / image-hash dedupe) at 1M known keys", "one registry actor",
          "python bench/registry_claims.py", registry_claims),
    Bench("memory_build", "Memory, 100k-record build (no images)", "the reference's whole-JSON-in-memory steps",
          "python bench/memory_build.py", memory_build),
    Bench("extract_engines", "LLM extraction engines", "the paper's one-item-at-a-time generate",
          "python bench/extract_engines.py", extract_engines),
    Bench("extract_quality", "LLM extraction quality (gold set)", "the rules engine",
          "python bench/extract_quality.py --engines rules transformers", extract_quality),
    Bench("extract_quality-vllm", "LLM extraction quality, vLLM + prefix caching", "the paper's per-item loop",
          "python bench/extract_quality.py --engines vllm paper --vllm-prefix-caching both", extract_quality),
    Bench("feature_cache", "Training: adapter epochs", "the same training without the feature cache",
          "python bench/feature_cache.py", feature_cache),
    Bench("prompt_descriptions", "Training: LLM-written class descriptions (CuPL)",
          "the single template, same folds", "python bench/prompt_descriptions.py", prompt_descriptions),
    Bench("train_variants", "Training: adaptation variants vs strong baselines (textures task)",
          "ZS-init linear probe on the same feature cache, folds, seeds and eval batches",
          "python bench/train_variants.py", train_variants),
    Bench("serve_latency", "Serving: segmentation endpoint", "1 model replica vs 2",
          "python bench/serve_latency.py", serve_latency),
    Bench("serve_multiplex", "Serving: per-customer adapters multiplexed on one CLIP replica",
          "one scorer replica (one app) per checkpoint, same run", "python bench/serve_multiplex.py",
          serve_multiplex),
    Bench("mask_backends", "Serving: mask generator seconds per image, CPU", "SAM (vit_b) in the same run",
          "python bench/mask_backends.py", mask_backends),
    Bench("reader_coverage", "Product page readers, real-markup corpus",
          "extruct 0.18 alone (json-ld, microdata, rdfa, opengraph)", "python bench/reader_coverage.py",
          reader_coverage),
)


def load_cell(r: dict) -> str:
    start, end = r.get("load_avg_start") or r.get("load_avg_1m"), r.get("load_avg_end")
    if isinstance(start, list) and end is None and len(start) == 2:  # serve_latency: [start, end] 1-min
        start, end = [start[0]], [start[1]]
    if not start:
        return "not recorded"
    cpus = (r.get("machine") or {}).get("cpus") or r.get("cpus") or 1
    peak = max(start[0], end[0] if end else 0)
    text = f"{start[0]:.1f} -> {end[0]:.1f}" if end else f"{start[0]:.1f}"
    text += f" on {cpus} cores"
    return text + (" **(high)**" if peak > HIGH_LOAD_PER_CPU * cpus else "")


def rows(results_dir: Path) -> list[str]:
    known = {b.name for b in BENCHES}
    extra = sorted(p.stem for p in results_dir.glob("*.json") if p.stem not in known)
    lines = ["| Benchmark | Baseline | Latest figures | Load avg (1 min, start -> end) | Command |",
             "| --- | --- | --- | --- | --- |"]
    for bench in [*BENCHES, *(Bench(n, n, "?", f"python bench/{n}.py") for n in extra)]:
        path = results_dir / f"{bench.name}.json"
        stem = bench.name.split("-", 1)[0]  # extract_quality-vllm: a --tag run of extract_quality.py
        script = f"[bench/{stem}.py](bench/{stem}.py)"
        if not path.exists():
            lines.append(f"| {bench.area} ({script}) | {bench.baseline} | no result yet | | `{bench.command}` |")
            continue
        result = json.loads(path.read_text())
        command = result.get("command") or bench.command
        figures = f"{bench.figures(result)} ([json](bench/results/{bench.name}.json))"
        lines.append(f"| {bench.area} ({script}) | {bench.baseline} | {figures} | {load_cell(result)} | `{command}` |")
    return lines


def render(markdown: str, table: list[str]) -> str:
    if START not in markdown or END not in markdown:
        raise ValueError(f"the file has no {START} ... {END} markers")
    head, rest = markdown.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n" + "\n".join(table) + f"\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default=str(REPO / "bench" / "results"))
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    args = parser.parse_args()
    output = Path(args.output)
    output.write_text(render(output.read_text(), rows(Path(args.results_dir))))
    print(f"wrote the table of {output}")


if __name__ == "__main__":
    main()
