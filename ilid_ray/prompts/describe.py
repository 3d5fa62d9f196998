"""`ilid prompts describe`: a few short visual descriptions per label, written by the extraction LLM.

CuPL (Pratt et al., 2023) and MADS-style class texts: instead of one template ("a photo of an
industrial product {label}"), a class is the average of several LLM-written descriptions of what
it looks like (each embedded, L2-normalised, averaged, renormalised; see `models/adapted.py`).

The engines are the build's extraction engines (`extract.engine`): transformers (the embedded
SmolLM2 by default) and vLLM, with the same chat-template tokenization and the same xgrammar
backend, here constrained to `descriptions_schema` (exactly `count` strings of at most `max_words`
words, no digits). The rules engine is not an LLM and cannot write descriptions: it is refused
with a clear error (no template fallback, so a descriptions file always holds an LLM's words).

Generation is bounded three ways: `extract.max_new_tokens` per answer, `count` descriptions and
`max_words` words each. An answer that does not parse, or leaves no usable description, rejects
its label with the reason (and the raw answer); it never stops the run. A label without
descriptions is scored with the template at training time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

from pydantic import Field, model_validator

from ilid_ray.config import ExtractConfig, StrictModel
from ilid_ray.dataset.extract.parse import balanced_object_end, decode_object, snippet
from ilid_ray.dataset.extract.schema import TEXT_WORD, words_pattern

FORMAT = "ilid-descriptions/1"
MAX_RAW_CHARS = 2000  # raw answer kept per rejected label

SYSTEM_PROMPT = (
    "You write short visual descriptions of industrial products for an image search model.\n"
    "Describe only what a photo of the product shows: its shape, parts, colour and surface.\n"
    "Do not use ids, numbers, codes or sizes.\n"
    "Answer with one JSON object and nothing else."
)
USER_TEMPLATE = (
    "Write {count} different descriptions of what a {label} looks like in a photo. Each description is "
    "one sentence of at most {max_words} words and names the {label}. "
    'Answer as {{"descriptions": [...]}}.'
)
# One worked example (a product the textures and fixture catalogs do not contain): it teaches the
# form, and its first `count` descriptions are the example answer.
FEW_SHOT_LABEL = "gas spring"
FEW_SHOT = (
    "A gas spring is a slim steel cylinder with a thinner shiny piston rod.",
    "A black gas spring with a ball socket at each end.",
    "A photo of a gas spring, a metal tube with a rod sliding out of it.",
    "A gas spring lying on a table, its rod half extended.",
    "A close-up of a gas spring showing its smooth painted tube.",
)


class DescribeConfig(StrictModel):
    """What `ilid prompts describe` asks for, and of which LLM."""

    field: str = "label_short"  # the manifest field whose distinct values are described
    count: int = Field(default=3, ge=1, le=len(FEW_SHOT))  # descriptions per label
    max_words: int = Field(default=20, ge=8, le=40)  # per description
    extract: ExtractConfig = Field(default_factory=ExtractConfig)  # engine, model, decoding, max_new_tokens

    @model_validator(mode="after")
    def _an_llm(self) -> DescribeConfig:
        if self.extract.engine == "rules":
            raise ValueError("extract.engine='rules' cannot write descriptions: it reads fields off a record "
                             "and is not an LLM. Use engine transformers (the embedded SmolLM2 by default) "
                             "or vllm")
        return self


# --------------------------------------------------------------------------- prompt and schema
def descriptions_schema(count: int, max_words: int) -> str:
    """JSON schema (compact text) of an answer: exactly `count` descriptions of at most `max_words`
    words, no digits (the extraction fields' word pattern)."""
    item = {"type": "string", "pattern": words_pattern(TEXT_WORD, max_words)}
    schema = {"title": "ClassDescriptions", "type": "object",
              "properties": {"descriptions": {"type": "array", "items": item, "minItems": count,
                                              "maxItems": count}},
              "required": ["descriptions"], "additionalProperties": False}
    return json.dumps(schema, separators=(",", ":"))


def user_prompt(label: str, count: int, max_words: int) -> str:
    return USER_TEMPLATE.format(label=label, count=count, max_words=max_words)


def build_messages(label: str, count: int, max_words: int) -> list[dict[str, str]]:
    """System prompt, the worked example as an earlier turn, then the label."""
    example = json.dumps({"descriptions": list(FEW_SHOT[:count])}, ensure_ascii=False)
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_prompt(FEW_SHOT_LABEL, count, max_words)},
            {"role": "assistant", "content": example},
            {"role": "user", "content": user_prompt(label, count, max_words)}]


def prompt_version(count: int, max_words: int) -> str:
    """Changes whenever what the model is asked changes (texts, example, schema)."""
    material = "\x00".join([SYSTEM_PROMPT, USER_TEMPLATE, FEW_SHOT_LABEL, *FEW_SHOT,
                            descriptions_schema(count, max_words)])
    return "describe-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------- answers
@dataclass(frozen=True)
class ParsedDescriptions:
    """`texts` when at least one description was usable, else `error` says why; `notes` say what
    was dropped."""

    texts: list[str] | None
    error: str | None = None
    notes: tuple[str, ...] = field(default=())


def first_descriptions_list(text: str) -> Any:
    """The `descriptions` value of the first JSON object in `text` that has one (the extraction
    parser's tolerances: prose around it, trailing commas, single quotes)."""
    start = text.find("{")
    while start != -1:
        end = balanced_object_end(text, start)
        if end is None:
            return None
        obj = decode_object(text[start:end])
        if obj is not None:
            for key, value in obj.items():
                if str(key).strip().lower() == "descriptions":
                    return value
        start = text.find("{", start + 1)
    return None


def parse_descriptions(answer: str | None, label: str, count: int, max_words: int) -> ParsedDescriptions:
    """An LLM answer -> at most `count` distinct descriptions of at most `max_words` words each.

    A description that does not name the label gets it in front ("{label}: ..."), so every text
    that is embedded carries the class name (CLIP leans on it; the stored file shows exactly what
    is embedded).
    """
    if answer is None or not answer.strip():
        return ParsedDescriptions(None, "empty answer")
    found = first_descriptions_list(answer)
    if found is None:
        return ParsedDescriptions(None, f"no JSON object with a descriptions list: {snippet(answer)!r}")
    if not isinstance(found, list):
        return ParsedDescriptions(None, f"descriptions is a {type(found).__name__}, not a list: {snippet(answer)!r}")
    texts, notes, seen = [], [], set()
    for number, item in enumerate(found, start=1):
        if not isinstance(item, str):
            notes.append(f"description {number} is not text")
            continue
        text = " ".join(item.split()).strip("\"' ")
        words = len(text.split())
        if not text:
            notes.append(f"description {number} is empty")
        elif words > max_words:
            notes.append(f"description {number} has {words} words (at most {max_words})")
        elif text.lower() in seen:
            notes.append(f"description {number} repeats an earlier one")
        else:
            seen.add(text.lower())
            texts.append(text if label.lower() in text.lower() else f"{label}: {text}")
    if len(texts) > count:
        notes.append(f"{len(texts) - count} description(s) beyond the {count} asked for dropped")
    if not texts:
        return ParsedDescriptions(None, "no usable description" + (f" ({'; '.join(notes)})" if notes else ""),
                                  tuple(notes))
    return ParsedDescriptions(texts[:count], None, tuple(notes))


# --------------------------------------------------------------------------- engines
def transformers_answers(prompts: list[list[dict[str, str]]], cfg: ExtractConfig,
                         schema: str) -> tuple[list[str | None], str]:
    """(answer per prompt, model label): the transformers engine in this process, in batches."""
    from ilid_ray.dataset.extract.engine import ExtractionRequest
    from ilid_ray.dataset.extract.transformers_engine import TransformersEngine

    engine = TransformersEngine(cfg, schema)
    answers: list[str | None] = []
    for start in range(0, len(prompts), cfg.batch_size):
        chunk = prompts[start:start + cfg.batch_size]
        answers += engine.generate([ExtractionRequest(label="", data=(), messages=tuple(m)) for m in chunk])
    return answers, engine.model


def vllm_answers(prompts: list[list[dict[str, str]]], cfg: ExtractConfig,
                 schema: str) -> tuple[list[str | None], str, dict[int, str]]:
    """(answer per prompt, model label, engine error per prompt index): the build's ray.data.llm
    processor (vLLM's own environment), fed token ids as the build feeds it."""
    import ray.data

    from ilid_ray.dataset.extract import vllm_rows
    from ilid_ray.dataset.extract.vllm_engine import VllmExtraction

    stage = VllmExtraction.prepare(cfg)
    tokenizer = vllm_rows.chat_tokenizer(stage.model_source, stage.chat_template)
    params = vllm_rows.sampling_params(cfg, schema)
    requests = [{vllm_rows.ROW_COLUMN: str(i), "tokenized_prompt": vllm_rows.prompt_token_ids(tokenizer, m),
                 "sampling_params": params, vllm_rows.ERROR_COLUMN: ""} for i, m in enumerate(prompts)]
    answers: list[str | None] = [None] * len(prompts)
    errors: dict[int, str] = {}
    for out in stage.processor(ray.data.from_items(requests)).take_all():
        index = int(out[vllm_rows.ROW_COLUMN])
        if out.get(vllm_rows.ERROR_COLUMN):
            errors[index] = str(out[vllm_rows.ERROR_COLUMN])[:vllm_rows.MAX_ERROR_CHARS]
        else:
            answers[index] = out.get("generated_text")
    return answers, stage.model, errors


def describe_labels(labels: Sequence[str], cfg: DescribeConfig) -> dict[str, Any]:
    """Ask the LLM about every label once; the descriptions document (see `files.py`) without the
    dataset version. Labels whose answer does not parse are rejects with their reason."""
    labels = list(dict.fromkeys(labels))
    schema = descriptions_schema(cfg.count, cfg.max_words)
    prompts = [build_messages(label, cfg.count, cfg.max_words) for label in labels]
    errors: dict[int, str] = {}
    if cfg.extract.engine == "transformers":
        answers, model = transformers_answers(prompts, cfg.extract, schema)
    else:
        answers, model, errors = vllm_answers(prompts, cfg.extract, schema)
    described: dict[str, list[str]] = {}
    rejects: dict[str, dict[str, Any]] = {}
    notes: dict[str, list[str]] = {}  # what was dropped from labels that were described
    for index, (label, answer) in enumerate(zip(labels, answers)):
        parsed = (ParsedDescriptions(None, f"engine error: {errors[index]}") if index in errors
                  else parse_descriptions(answer, label, cfg.count, cfg.max_words))
        if parsed.texts:
            described[label] = parsed.texts
            if parsed.notes:
                notes[label] = list(parsed.notes)
        else:
            rejects[label] = {"reason": parsed.error, "raw": None if answer is None else answer[:MAX_RAW_CHARS]}
    return {
        "format": FORMAT, "field": cfg.field, "engine": cfg.extract.engine, "model": model,
        "prompt_version": prompt_version(cfg.count, cfg.max_words), "count": cfg.count,
        "max_words": cfg.max_words, "max_new_tokens": cfg.extract.max_new_tokens,
        "decoding": cfg.extract.decoding, "seed": cfg.extract.seed,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "labels": len(labels), "descriptions": described, "rejects": rejects, "notes": notes,
    }
