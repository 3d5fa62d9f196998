"""Build rows <-> ray.data.llm request/answer rows, for the vLLM engine. No Ray, no vLLM here.

A ray.data.llm processor carries every input column through its stages and reads some of them
itself (`model` selects a LoRA adapter, `prompt`, `messages`, `sampling_params`, ...). The build
row has a `model` column of its own, so a build row is never handed over as is: `to_request`
packs it into one JSON text column (`row`) next to the request columns, and `to_build_row`
unpacks it after the engine and applies the answer with the same `apply_answer` as every engine.

The prompt goes to vLLM as token ids, made here exactly as the transformers engine makes them:
the shared chat messages through the model's chat template, tokenized without adding special
tokens (the template has them). A text prompt would be tokenized by vLLM with special tokens
added, which gives Llama-3 a second BOS.

Rows that are already rejected must pass untouched and must not cost a generation. ray.data.llm
(2.60) lets a row whose `__inference_error__` column is non-empty skip every stage and its
postprocess (that is how it carries rows that failed with `should_continue_on_error`), so a
rejected row is marked with `PASS_THROUGH` there and comes back exactly as packed. Engine errors
on a single ok row (e.g. a prompt longer than max_model_len) arrive the same way with vLLM's
message and reject that row with it; the rest of the batch goes on.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any, Iterable, Sequence

import pyarrow as pa

from ilid_ray.config import ExtractConfig
from ilid_ray import records
from ilid_ray.dataset.extract.engine import (PAPER_TEMPERATURE, PAPER_TOP_P, STAGE, apply_answer,
                                             build_request)
from ilid_ray.dataset.extract.schema import schema_json

ROW_COLUMN = "row"
ERROR_COLUMN = "__inference_error__"  # ray.data.llm's per-row error column
PASS_THROUGH = "ilid: rejected before extraction, passed through"
MAX_ERROR_CHARS = 500
# What the postprocess keeps of the engine's output (the rest of ray.data.llm's columns are dropped).
ENGINE_OUTPUT_COLUMNS = ("generated_text", "num_generated_tokens", "num_input_tokens", "time_taken_llm",
                         "batch_uuid")

_BINARY_COLUMNS = frozenset(f.name for f in records.ROW_SCHEMA if pa.types.is_binary(f.type))


def sampling_params(cfg: ExtractConfig, schema: str | None = None) -> dict[str, Any]:
    """vLLM `SamplingParams` keyword arguments as one row's `sampling_params` value.

    Greedy by default (a rebuild gives the same dataset); `decoding: paper` samples like the
    paper with a per-request seed, so it is reproducible too, whatever the batching. With
    `structured_output` the answer is constrained to `schema` (JSON text; default the five-field
    schema; its backend and whitespace rule are engine-wide settings: `vllm_engine.engine_kwargs`).
    """
    params: dict[str, Any] = {"max_tokens": cfg.max_new_tokens, "seed": cfg.seed}
    if cfg.decoding == "greedy":
        params.update(temperature=0.0, top_p=1.0)
    else:
        params.update(temperature=PAPER_TEMPERATURE, top_p=PAPER_TOP_P)
    if cfg.structured_output:
        # The schema travels as JSON text: as a nested dict, Arrow would merge the `anyOf`
        # alternatives' keys into one struct type and hand vLLM a different schema.
        params["structured_outputs"] = {"json": schema or schema_json()}
    return params


def encode_row(row: dict[str, Any]) -> str:
    """A build row as JSON text (binary columns base64), so it rides through the processor whole."""
    return json.dumps({name: (base64.b64encode(value).decode("ascii")
                              if name in _BINARY_COLUMNS and value is not None else value)
                       for name, value in row.items()}, ensure_ascii=False)


def decode_row(text: str) -> dict[str, Any]:
    row = json.loads(text)
    for name in _BINARY_COLUMNS:
        if row.get(name) is not None:
            row[name] = base64.b64decode(row[name])
    return row


@functools.lru_cache(maxsize=4)
def chat_tokenizer(model_source: str, chat_template: str | None = None):
    """The model's tokenizer with its chat template (or `chat_template`), once per process."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_source)
    if chat_template:
        tokenizer.chat_template = chat_template
    if not tokenizer.chat_template:
        raise ValueError(f"{model_source} has no chat template: set extract.chat_template")
    return tokenizer


def prompt_token_ids(tokenizer, messages: Sequence[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def to_request(row: dict[str, Any], params: dict[str, Any], tokenizer) -> dict[str, Any]:
    """The processor's input row for one build row: the shared prompt as token ids and the record's
    own schema (`ExtractionRequest.schema`) when answers are constrained, or the pass-through mark
    for a row that is already rejected."""
    if not records.is_ok(row):
        return {ROW_COLUMN: encode_row(row), "tokenized_prompt": None, "sampling_params": None,
                ERROR_COLUMN: PASS_THROUGH}
    request = build_request(row)
    if "structured_outputs" in params:
        params = {**params, "structured_outputs": {"json": request.schema}}
    return {ROW_COLUMN: encode_row(row), "tokenized_prompt": prompt_token_ids(tokenizer, request.messages),
            "sampling_params": params, ERROR_COLUMN: ""}


def to_requests(batch: pa.Table, params: dict[str, Any], model_source: str, chat_template: str | None) -> pa.Table:
    """Ray Data batch function: build-row table -> request table (one request per row, same order)."""
    tokenizer = chat_tokenizer(model_source, chat_template)
    return pa.Table.from_pylist([to_request(row, params, tokenizer) for row in records.from_table(batch)])


def engine_output(row: dict[str, Any]) -> dict[str, Any]:
    """The processor's postprocess: the packed build row and what the engine said about it."""
    return {ROW_COLUMN: row[ROW_COLUMN], **{name: row.get(name) for name in ENGINE_OUTPUT_COLUMNS}}


def to_build_row(output: dict[str, Any], model: str, prompt_version: str) -> dict[str, Any]:
    """The build row back from one processor output row, with its answer applied (or rejected)."""
    row = decode_row(output[ROW_COLUMN])
    if not records.is_ok(row):
        return row
    error = output.get(ERROR_COLUMN) or ""
    if error:
        row["model"], row["prompt_version"] = model, prompt_version
        return records.reject(row, STAGE, f"engine error: {error[:MAX_ERROR_CHARS]}")
    return apply_answer(row, output.get("generated_text"), model, prompt_version)


def output_rows(batch: pa.Table) -> list[dict[str, Any]]:
    """Processor output rows with the columns `to_build_row` reads (missing columns as None: a block
    of only passed-through rows has no engine columns at all)."""
    names = [ROW_COLUMN, ERROR_COLUMN, *ENGINE_OUTPUT_COLUMNS]
    present = [name for name in names if name in batch.column_names]
    return [{name: row.get(name) for name in names} for row in batch.select(present).to_pylist()]


def to_build_rows(batch: pa.Table, model: str, prompt_version: str) -> pa.Table:
    """Ray Data batch function: processor output table -> build-row table (row schema)."""
    return records.to_table([to_build_row(out, model, prompt_version) for out in output_rows(batch)])


def generated_tokens(outputs: Iterable[dict[str, Any]]) -> int:
    """Output tokens of the rows the engine answered (for throughput reports)."""
    return sum(int(out.get("num_generated_tokens") or 0) for out in outputs if not out.get(ERROR_COLUMN))
