"""Extraction engines on the same records, model and prompt: the paper's way, the batched transformers
engine and the vLLM engine (ray.data.llm), in one run.

    python bench/extract_engines.py [--records 12] [--model smollm2-135m-instruct] [--batch-size 16]

  paper         HF `generate`, one record at a time, sampling top-p 0.9 / temperature 0.6, at most
                256 new tokens, unconstrained (the reference's way). Its answers are read by the
                shared parser, whose numbered-list and cut-off-JSON fallbacks stand in for the
                reference's regexes.
  transformers  the batched transformers engine: left-padded batches of --batch-size, greedy,
                constrained to the five-field schema (xgrammar), --max-new-tokens.
  vllm          the vLLM engine as the build runs it: ray.data.llm on a local Ray instance, its
                actors in the vLLM environment (scripts/setup-vllm-env.sh or extract.python /
                $ILID_VLLM_PYTHON), structured outputs, greedy. All records go in one Ray Data
                batch, so vLLM schedules them itself (continuous batching) and the generation time
                is the longest request's `time_taken_llm`; engine start is reported apart.

Records: `--records` fixture-catalog products (ilid_ray.testing), pre-filtered like a build
(trade names and digits removed). Every engine gets the same prompt (prompt.py) and the same
`--num-cpus` on CPU (torch threads / the vLLM bundle). Reported per engine: records/s and output
tokens/s over generation (model load and engine start excluded, reported apart), the share of
records whose answer parses and the share accepted (both labels present), plus the ratios. One
JSON line on stdout, also written to bench/results/extract_engines.json, with load averages:
the machine is shared, so only ratios within one run mean something.

On a GPU node with Llama-3-8B-Instruct (weights in the HF cache, or a local folder as --model;
vLLM installed as in docs/llm.md, e.g. `pip install "ilid-ray[vllm]"` in the driver's env):

    python bench/extract_engines.py --model meta-llama/Meta-Llama-3-8B-Instruct --num-gpus 1 \\
        --tensor-parallel-size 1 --batch-size 32 --records 512 --dtype bfloat16 --max-model-len 4096

(--tensor-parallel-size 2 with --num-gpus 1 spreads vLLM over two GPUs; the transformers engines
use one.) vLLM runs first and its Ray instance is shut down before the HF engines load, so both
fit on one GPU.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import header, init_local_ray, load_avg, write_result  # noqa: E402

from ilid_ray.config import ExtractConfig  # noqa: E402
from ilid_ray import records  # noqa: E402
from ilid_ray.dataset.extract.engine import apply_answer, build_request, record_text  # noqa: E402
from ilid_ray.dataset.extract.parse import parse_answer  # noqa: E402
from ilid_ray.dataset.prefilter import compile_trade_names, prefilter_rows  # noqa: E402
from ilid_ray.testing.products import brand_for, make_product  # noqa: E402

CATALOG = "bench-extract"
PAPER_MAX_NEW_TOKENS = 256


def bench_rows(n: int, seed: int = 0) -> list[dict]:
    """`n` fixture products as pre-filtered build rows (every one of them survives the pre-filter)."""
    rows, index = [], 0
    trade_names = compile_trade_names({CATALOG: brand_for(CATALOG, seed).regex()})
    while len(rows) < n:
        product = make_product(CATALOG, seed, index)
        row = records.raw_row(f"https://bench.example/p/{index}", CATALOG, product.title, product.text_blocks(),
                              [f"https://bench.example/{index}.jpg"], "2026-01-01T00:00:00Z")
        rows.extend(r for r in prefilter_rows([row], trade_names) if records.is_ok(r))
        index += 1
    return rows


def quality(rows: list[dict], answers: list[str], model: str) -> dict[str, float]:
    """Share of answers that parse, and of records the extraction stage would accept."""
    parsed = sum(parse_answer(a, source=record_text(r)).ok for r, a in zip(rows, answers))
    accepted = sum(records.is_ok(apply_answer(dict(r), a, model, "bench")) for r, a in zip(rows, answers))
    return {"parsed_share": round(parsed / len(rows), 3), "accepted_share": round(accepted / len(rows), 3)}


def summary(rows: list[dict], answers: list[str], tokens: int, generation_s: float, model: str,
            **extra: Any) -> dict[str, Any]:
    return {"records_per_s": round(len(rows) / generation_s, 4), "output_tokens_per_s": round(tokens / generation_s, 2),
            "output_tokens": tokens, "generation_s": round(generation_s, 2), **quality(rows, answers, model), **extra}


def run_transformers(rows: list[dict], cfg: ExtractConfig, batch_size: int) -> dict[str, Any]:
    """A transformers engine over `rows` in batches of `batch_size` (1 = the paper's one at a time)."""
    from ilid_ray.dataset.extract.transformers_engine import TransformersEngine

    started = time.perf_counter()
    engine = TransformersEngine(cfg)
    load_s = time.perf_counter() - started
    answers: list[str] = []
    started = time.perf_counter()
    for i in range(0, len(rows), batch_size):
        answers += engine.generate([build_request(r) for r in rows[i:i + batch_size]])
    generation_s = time.perf_counter() - started
    out = summary(rows, answers, engine.generated_tokens, generation_s, engine.model, load_s=round(load_s, 1),
                  batch_size=batch_size, decoding=cfg.decoding, constrained=cfg.structured_output,
                  max_new_tokens=cfg.max_new_tokens)
    del engine
    free_memory()
    return out


def vllm_outputs(rows: list[dict], cfg: ExtractConfig, num_cpus: int | None) -> tuple[list[dict], Any, float]:
    """(processor output per row, in row order; the prepared stage; wall seconds) of the vLLM
    engine's ray.data.llm stage over `rows` as one batch, on a private local Ray instance."""
    from ilid_ray.dataset.extract import vllm_rows
    from ilid_ray.dataset.extract.vllm_engine import VllmExtraction

    ray = init_local_ray(num_cpus)
    try:
        started = time.perf_counter()
        stage = VllmExtraction.prepare(cfg.model_copy(update={"batch_size": len(rows)}))
        ds = ray.data.from_arrow(records.to_table(rows))
        outputs = [out for batch in stage.outputs(ds).iter_batches(batch_format="pyarrow", batch_size=None)
                   for out in vllm_rows.output_rows(batch)]
        wall_s = time.perf_counter() - started
    finally:
        ray.shutdown()
    by_id = {vllm_rows.decode_row(o[vllm_rows.ROW_COLUMN])["id"]: o for o in outputs}
    ordered = [by_id[r["id"]] for r in rows]
    errors = [o[vllm_rows.ERROR_COLUMN] for o in ordered if o.get(vllm_rows.ERROR_COLUMN)]
    if errors:
        raise RuntimeError(f"vLLM failed on {len(errors)} records, e.g. {errors[0]}")
    return ordered, stage, wall_s


def run_vllm(rows: list[dict], cfg: ExtractConfig, num_cpus: int | None) -> dict[str, Any]:
    from ilid_ray.dataset.extract import vllm_rows

    ordered, stage, wall_s = vllm_outputs(rows, cfg, num_cpus)
    generation_s = max(o["time_taken_llm"] for o in ordered)
    return summary(rows, [o["generated_text"] for o in ordered], vllm_rows.generated_tokens(ordered), generation_s,
                   stage.model, start_s=round(wall_s - generation_s, 1), wall_s=round(wall_s, 1),
                   batch_size=len(rows), decoding=cfg.decoding, constrained=cfg.structured_output,
                   max_new_tokens=cfg.max_new_tokens, vllm=stage.env.vllm_version)


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def ratio(engines: dict[str, dict], metric: str, a: str, b: str) -> float:
    return round(engines[a][metric] / engines[b][metric], 2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=12)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="alias, HF id or local folder")
    parser.add_argument("--batch-size", type=int, default=16, help="transformers engine batch size")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="constrained engines (paper: 256)")
    parser.add_argument("--num-gpus", type=float, default=0.0, help="per engine (vLLM: per tensor-parallel worker)")
    parser.add_argument("--num-cpus", type=int, default=1, help="CPU threads per engine on CPU")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="vLLM only")
    parser.add_argument("--max-model-len", type=int, default=2048, help="vLLM only")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["paper", "transformers", "vllm"])
    args = parser.parse_args(argv)

    result = header("extract_engines")
    rows = bench_rows(args.records)
    base = ExtractConfig(model=args.model, num_gpus=args.num_gpus, num_cpus=args.num_cpus, dtype=args.dtype,
                         max_new_tokens=args.max_new_tokens, tensor_parallel_size=args.tensor_parallel_size,
                         max_model_len=args.max_model_len)
    runs: dict[str, Callable[[], dict]] = {
        # vLLM first: its Ray instance (and GPU memory) is gone before the HF models load
        "vllm": lambda: run_vllm(rows, base.model_copy(update={"engine": "vllm"}), args.ray_cpus),
        "paper": lambda: run_transformers(rows, base.model_copy(update={
            "decoding": "paper", "structured_output": False, "max_new_tokens": PAPER_MAX_NEW_TOKENS}), 1),
        "transformers": lambda: run_transformers(rows, base, args.batch_size),
    }
    engines = {}
    for name, run in runs.items():
        if name not in args.skip:
            print(f"running {name} on {len(rows)} records ...", file=sys.stderr, flush=True)
            engines[name] = run()
    result.update(model=args.model, records=len(rows), num_gpus=args.num_gpus, num_cpus=args.num_cpus,
                  engines={name: engines[name] for name in ("paper", "transformers", "vllm") if name in engines})
    pairs = [("transformers", "paper"), ("vllm", "paper"), ("vllm", "transformers")]
    result["ratios"] = {f"{a}_vs_{b}_{metric}": ratio(engines, metric, a, b)
                        for a, b in pairs if a in engines and b in engines
                        for metric in ("records_per_s", "output_tokens_per_s")}
    result["load_avg_end"] = load_avg()
    write_result("extract_engines", result)
    return result


if __name__ == "__main__":
    main()
