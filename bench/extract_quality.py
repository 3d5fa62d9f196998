"""Extraction quality on the gold set, per engine: what the build's samples would say, scored.

    python bench/extract_quality.py [--engines rules transformers vllm paper] [--records N]

Every gold record (`ilid_ray.testing.gold`: fixture products with their generator's truth and
hand-written shop records) goes through the build's own parts: the pre-filter (with the
record's trade names), the engine, `engine.apply_answers` (answer parsing, markup hints) and the
post-filter. The finished samples are scored by `ilid_ray.dataset.extract.quality`: per field
exact match after normalisation and token F1 (a rejected record scores 0), the share accepted,
and the share of accepted samples breaking the paper's rules.

  rules         the rules baseline.
  transformers  the batched transformers engine (batches of --batch-size, greedy, constrained).
  vllm          the vLLM engine's ray.data.llm stage, all records in one batch; with
                --vllm-prefix-caching both, once without and once with vLLM's prefix caching
                (the few-shot prefix every prompt shares), so the two throughputs sit side by side.
  paper         the paper's loop (one record at a time, sampling, 256 new tokens, unconstrained)
                on the first --paper-records records: throughput only, the baseline of the ratios.

`answers_with_equal_labels` counts the accepted answers that gave both labels the same text (the
shared rules then tell them apart by the material, `consistency.distinct_labels`): how much of a
label score is the model's own.

Throughput is records/s over generation (model load / engine start reported apart). One JSON
line, also written to bench/results/extract_quality.json, with load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import header, load_avg, write_result  # noqa: E402
from extract_engines import PAPER_MAX_NEW_TOKENS, free_memory, vllm_outputs  # noqa: E402

from ilid_ray import records  # noqa: E402
from ilid_ray.config import ExtractConfig  # noqa: E402
from ilid_ray.dataset.extract.consistency import comparable  # noqa: E402
from ilid_ray.dataset.extract.engine import apply_answers, build_request, record_text  # noqa: E402
from ilid_ray.dataset.extract.parse import parse_answer  # noqa: E402
from ilid_ray.dataset.extract.quality import score  # noqa: E402
from ilid_ray.dataset.postfilter import postfilter_rows  # noqa: E402
from ilid_ray.dataset.prefilter import compile_trade_names, prefilter_rows  # noqa: E402
from ilid_ray.testing.gold import GoldRecord, load_gold  # noqa: E402

ENGINES = ("rules", "transformers", "vllm", "paper")


def gold_rows(gold: list[GoldRecord]) -> list[dict]:
    """The gold records as pre-filtered build rows (same order; a record the pre-filter rejects
    stays, rejected)."""
    rows = []
    for record in gold:
        row = records.raw_row(f"https://gold.example/{record.id}", record.source, record.label, record.data,
                              [f"https://gold.example/{record.id}.jpg"], "2026-01-01T00:00:00Z")
        rows += prefilter_rows([row], compile_trade_names({record.source: record.trade_names}))
    return rows


def answer_all(engine, rows: list[dict], batch_size: int) -> tuple[list[str | None], float]:
    """(answer per row, None for rows the pre-filter rejected; generation seconds)."""
    asked = [i for i, row in enumerate(rows) if records.is_ok(row)]
    answers: list[str | None] = [None] * len(rows)
    started = time.perf_counter()
    for at in range(0, len(asked), batch_size):
        chunk = asked[at:at + batch_size]
        for i, answer in zip(chunk, engine.generate([build_request(rows[i]) for i in chunk])):
            answers[i] = answer
    return answers, time.perf_counter() - started


def finish(rows: list[dict], answers: list[str | None], model: str, prompt_version: str,
           min_field_chars: int) -> list[dict]:
    """Rows as the build would finish them: answers applied, then the post-filter."""
    done = apply_answers([dict(r) for r in rows], answers, model, prompt_version)
    return postfilter_rows(done, min_field_chars)


def report(gold: list[GoldRecord], finished: list[dict], generation_s: float, tokens: int | None,
           **extra: Any) -> dict[str, Any]:
    samples = [{name: row[name] for name in records.FIELDS} if records.is_ok(row) else None for row in finished]
    quality = score(samples, [g.expected for g in gold], [" ".join([g.label, *g.data]) for g in gold])
    markup = sum(len(row.get("fields_from_markup") or []) for row in finished if records.is_ok(row))
    # answers that named the product twice: `distinct_labels` told their labels apart by the material
    same_labels = sum(1 for row in finished if records.is_ok(row) and same_labels_in_answer(row))
    rejects: dict[str, int] = {}
    for row in finished:
        if not records.is_ok(row):
            reason = (row.get("reject_reason") or "").split(" (")[0][:60]
            rejects[f"{row.get('reject_stage')}: {reason}"] = rejects.get(f"{row.get('reject_stage')}: {reason}", 0) + 1
    return {**quality.as_dict(), "records_per_s": round(len(gold) / generation_s, 4) if generation_s else None,
            "output_tokens": tokens, "generation_s": round(generation_s, 2), "markup_fields": markup,
            "answers_with_equal_labels": same_labels,
            "rejects": rejects, **extra}


def same_labels_in_answer(row: dict) -> bool:
    parsed = parse_answer(row.get("llm_raw"), source=record_text(row))
    return bool(parsed.ok and parsed.fields["label_short"]
                and comparable(parsed.fields["label_short"]) == comparable(parsed.fields["label_long"]))


def run_local(gold, rows, engine, batch_size: int, min_chars: int, load_s: float, **extra) -> tuple[dict, list]:
    answers, generation_s = answer_all(engine, rows, batch_size)
    finished = finish(rows, answers, engine.model, engine.prompt_version, min_chars)
    tokens = getattr(engine, "generated_tokens", None)
    return report(gold, finished, generation_s, tokens, load_s=round(load_s, 1), batch_size=batch_size,
                  **extra), finished


def load(cfg: ExtractConfig):
    from ilid_ray.dataset.extract.engine import make_engine

    started = time.perf_counter()
    engine = make_engine(cfg)
    return engine, time.perf_counter() - started


def run_vllm(gold, rows, cfg: ExtractConfig, ray_cpus: int | None, min_chars: int) -> tuple[dict, list]:
    asked = [row for row in rows if records.is_ok(row)]
    outputs, stage, wall_s = vllm_outputs(asked, cfg, ray_cpus)
    by_id = {row["id"]: out for row, out in zip(asked, outputs)}
    answers = [by_id[row["id"]]["generated_text"] if row["id"] in by_id else None for row in rows]
    generation_s = max(o["time_taken_llm"] for o in outputs)
    finished = finish(rows, answers, stage.model, stage.prompt_version, min_chars)
    tokens = sum(int(o.get("num_generated_tokens") or 0) for o in outputs)
    return report(gold, finished, generation_s, tokens, start_s=round(wall_s - generation_s, 1),
                  vllm=stage.env.vllm_version), finished


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=["rules", "transformers"], choices=ENGINES)
    parser.add_argument("--records", type=int, default=None, help="first N gold records (default: all)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-cpus", type=int, default=1, help="CPU threads per engine")
    parser.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the vLLM run's local Ray instance")
    parser.add_argument("--paper-records", type=int, default=6)
    parser.add_argument("--vllm-prefix-caching", choices=["on", "off", "both"], default="on")
    parser.add_argument("--samples-out", default=None, help="write the finished rows here (JSONL)")
    parser.add_argument("--tag", default=None, help="results file suffix: extract_quality-TAG.json")
    parser.add_argument("--rescore", default=None, metavar="SAMPLES",
                        help="score the rows saved by --samples-out against the gold set again (no engine runs)")
    args = parser.parse_args(argv)
    if args.rescore:
        return rescore(args.rescore)

    result = header("extract_quality")
    gold = load_gold()[: args.records]
    rows = gold_rows(gold)
    cfg = ExtractConfig(model=args.model, num_cpus=args.num_cpus, batch_size=args.batch_size)
    min_chars = 4
    engines: dict[str, dict] = {}
    samples: dict[str, list] = {}
    for name in args.engines:
        print(f"running {name} on {len(gold)} gold records ...", file=sys.stderr, flush=True)
        if name in ("rules", "transformers"):
            engine, load_s = load(cfg.model_copy(update={"engine": name}))
            engines[name], samples[name] = run_local(gold, rows, engine, args.batch_size, min_chars, load_s)
            del engine
        elif name == "paper":
            engine, load_s = load(cfg.model_copy(update={"engine": "transformers", "decoding": "paper",
                                                         "structured_output": False,
                                                         "max_new_tokens": PAPER_MAX_NEW_TOKENS}))
            n = args.paper_records
            engines[name], samples[name] = run_local(gold[:n], rows[:n], engine, 1, min_chars, load_s)
            del engine
        else:
            settings = {"on": [True], "off": [False], "both": [True, False]}[args.vllm_prefix_caching]
            for caching in settings:
                key = f"vllm-prefix-cache-{'on' if caching else 'off'}"
                vcfg = cfg.model_copy(update={"engine": "vllm", "engine_kwargs": {"enable_prefix_caching": caching}})
                engines[key], samples[key] = run_vllm(gold, rows, vcfg, args.ray_cpus, min_chars)
                engines[key]["enable_prefix_caching"] = caching
        free_memory()
        save(result, args, gold, engines, samples)
    return result


def rescore(path: str) -> dict[str, dict]:
    """Quality of saved samples against the current gold set, per engine (throughput not redone)."""
    gold = {g.id: g for g in load_gold()}
    by_engine: dict[str, list[dict]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_engine.setdefault(row["engine"], []).append(row)
    out = {}
    for name, rows in by_engine.items():
        picked = [gold[r["id"]] for r in rows]
        samples = [{k: r[k] for k in records.FIELDS} if r["status"] == records.OK else None for r in rows]
        out[name] = score(samples, [g.expected for g in picked], [" ".join([g.label, *g.data]) for g in picked]).as_dict()
    print(json.dumps(out))
    return out


def save(result: dict, args, gold: list[GoldRecord], engines: dict[str, dict], samples: dict[str, list]) -> None:
    """Write the results so far (after every engine: a long run leaves what it measured)."""
    result.update(model=args.model, records=len(gold), num_cpus=args.num_cpus, engines=engines)
    if "paper" in engines:
        result["ratios_vs_paper_records_per_s"] = {
            name: round(out["records_per_s"] / engines["paper"]["records_per_s"], 2)
            for name, out in engines.items() if name not in ("paper", "rules")}
    result["load_avg_end"] = load_avg()
    if args.samples_out:
        with open(args.samples_out, "w", encoding="utf-8") as out:
            for name, finished in samples.items():
                for g, row in zip(gold, finished):
                    keep = {k: row.get(k) for k in (*records.FIELDS, "status", "reject_reason", "llm_raw",
                                                     "fields_from_markup")}
                    out.write(json.dumps({"engine": name, "id": g.id, "label": row.get("label"), **keep},
                                         ensure_ascii=False) + "\n")
    write_result("extract_quality" + (f"-{args.tag}" if args.tag else ""), result)
    return result


if __name__ == "__main__":
    main()
