"""Step 4 of the build: the extraction-engine interface, the shared row update, and the Ray Data stage.

An engine only turns requests into answer texts. Everything around it is shared by all engines
(transformers, vLLM, the rules baseline): which rows are asked (ok rows only; rejected rows pass
untouched), the prompt (`prompt.build_messages`), how answers are read (`parse.parse_answer`) and
how a row is filled or rejected (`apply_answer`). So two engines given the same answer text always
produce the same row.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import pyarrow as pa

from ilid_ray.config import ExtractConfig
from ilid_ray import records
from ilid_ray.dataset.extract.consistency import settle_with_markup
from ilid_ray.dataset.extract.hints import label_words, page_hints
from ilid_ray.dataset.extract.parse import parse_answer
from ilid_ray.dataset.extract.prompt import build_messages
from ilid_ray.dataset.extract.schema import LABEL_FIELDS, schema_json

STAGE = "extract"
MAX_RAW_CHARS = 4000  # llm_raw kept per row: enough to debug a reject, bounded for the manifest
# `decoding: paper`: the paper's sampling settings, shared by every LLM engine.
PAPER_TEMPERATURE = 0.6
PAPER_TOP_P = 0.9


@dataclass(frozen=True)
class ExtractionRequest:
    """What an engine is asked for one record: chat messages and the JSON schema (text) its answer
    is constrained to for an LLM, the raw label and text blocks for engines that read the record
    directly (the rules baseline)."""

    label: str
    data: tuple[str, ...]
    messages: tuple[dict[str, str], ...]

    @functools.cached_property
    def schema(self) -> str:
        """The five-field schema with the labels kept to this record's words (`hints.label_words`);
        made when an engine asks (the rules baseline never does)."""
        return schema_json(label_words(self.label, self.data))


def build_request(row: dict[str, Any]) -> ExtractionRequest:
    label, data = row.get("label") or "", tuple(row.get("data") or ())
    return ExtractionRequest(label=label, data=data, messages=tuple(build_messages(label, data)))


class ExtractionEngine(ABC):
    """Turns a batch of requests into one answer text each (same order, same length).

    `model` and `prompt_version` are recorded with every row the engine answered, so a sample
    always says what produced it.
    """

    name: str
    model: str
    prompt_version: str

    @abstractmethod
    def generate(self, requests: Sequence[ExtractionRequest]) -> list[str]: ...


def record_text(row: dict[str, Any]) -> str:
    """The record's own words (an answer may quote them, see `values.clean_fields`)."""
    return " ".join([row.get("label") or "", *(row.get("data") or [])])


def apply_answer(row: dict[str, Any], answer: str | None, model: str, prompt_version: str) -> dict[str, Any]:
    """Fill the five fields of an ok row from its answer, or reject it with a specific reason.

    Provenance (`llm_raw`, `model`, `prompt_version`) is written on rejects too: the reject record
    then shows what the model said. Material and finish that the page's structured fields state
    (`hints.page_hints`) win over the answer; `fields_from_markup` names them, every other field
    is the engine's. The cross-field rules then see the markup's values too
    (`consistency.settle_with_markup`: labels told apart by the material, the answer's copies dropped).
    """
    if not records.is_ok(row):
        return row
    row["model"], row["prompt_version"] = model, prompt_version
    row["llm_raw"] = None if answer is None else answer[:MAX_RAW_CHARS]
    if answer is None:
        return records.reject(row, STAGE, "no answer from the engine")
    parsed = parse_answer(answer, source=record_text(row))
    if not parsed.ok:
        return records.reject(row, STAGE, f"unparseable answer: {parsed.error}")
    hints = page_hints(row.get("data") or [])
    fields, settled = settle_with_markup({**parsed.fields, **hints}, hints, record_text(row))
    row.update(fields)
    row["fields_from_markup"] = sorted(hints)
    missing = [name for name in LABEL_FIELDS if not fields[name]]
    if missing:
        why = [note for note in (*parsed.notes, *settled) if note.split(" ", 1)[0] in missing]
        detail = f"{parsed.form} answer" + "".join(f"; {note}" for note in why)
        return records.reject(row, STAGE, f"missing {' and '.join(missing)} ({detail})")
    return row


def apply_answers(rows: list[dict[str, Any]], answers: Sequence[str | None], model: str,
                  prompt_version: str) -> list[dict[str, Any]]:
    """`answers[i]` belongs to `rows[i]`; rows that were not ok are left untouched (their answer,
    usually None, is ignored)."""
    if len(rows) != len(answers):
        raise ValueError(f"{len(answers)} answers for {len(rows)} rows")
    return [apply_answer(row, answer, model, prompt_version) for row, answer in zip(rows, answers)]


def extract_rows(rows: list[dict[str, Any]], engine: ExtractionEngine) -> list[dict[str, Any]]:
    """Ask the engine about the ok rows of a batch (one call) and apply its answers."""
    asked = [i for i, row in enumerate(rows) if records.is_ok(row)]
    answers: list[str | None] = [None] * len(rows)
    if asked:
        generated = engine.generate([build_request(rows[i]) for i in asked])
        if len(generated) != len(asked):
            raise RuntimeError(f"engine {engine.name} returned {len(generated)} answers for {len(asked)} requests")
        for i, answer in zip(asked, generated):
            answers[i] = answer
    return apply_answers(rows, answers, engine.model, engine.prompt_version)


def make_engine(cfg: ExtractConfig) -> ExtractionEngine:
    """The engine named by the config (heavy imports only for the engine asked for)."""
    if cfg.engine == "rules":
        from ilid_ray.dataset.extract.rules_engine import RulesEngine

        return RulesEngine()
    if cfg.engine == "transformers":
        from ilid_ray.dataset.extract.transformers_engine import TransformersEngine

        return TransformersEngine(cfg)
    if cfg.engine == "vllm":
        raise ValueError("extract.engine='vllm' runs as a ray.data.llm stage, not as a per-batch engine: "
                         "use add_extraction_stage (see vllm_engine.py)")
    raise ValueError(f"unknown extract.engine={cfg.engine!r}")


class ExtractBatches:
    """Ray Data callable class: one engine per actor (the model loads once), applied per batch."""

    def __init__(self, cfg: ExtractConfig):
        self.engine = make_engine(cfg)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return records.to_table(extract_rows(records.from_table(batch), self.engine))


def actor_pool(concurrency: int | tuple[int, int]):
    import ray.data

    if isinstance(concurrency, int):
        return ray.data.ActorPoolStrategy(size=concurrency)
    low, high = concurrency
    return ray.data.ActorPoolStrategy(min_size=low, max_size=high)


def add_extraction_stage(ds, cfg: ExtractConfig):
    """`ds` (row-schema batches) -> the same rows with the five fields filled or rejected.

    Runs as an actor pool so each replica loads its model once; `num_gpus` per replica puts the
    transformers engine on a GPU. The vLLM engine is a ray.data.llm processor (`vllm_engine.py`).
    Row count and schema are preserved.
    """
    if cfg.engine == "vllm":
        from ilid_ray.dataset.extract.vllm_engine import add_vllm_extraction_stage

        return add_vllm_extraction_stage(ds, cfg)
    return ds.map_batches(
        ExtractBatches,
        fn_constructor_kwargs={"cfg": cfg},
        batch_format="pyarrow",
        batch_size=cfg.batch_size,
        compute=actor_pool(cfg.concurrency),
        num_cpus=cfg.num_cpus,
        num_gpus=cfg.num_gpus,
        label_selector=cfg.label_selector,
    )
