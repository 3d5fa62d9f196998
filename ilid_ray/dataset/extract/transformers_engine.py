"""`engine: transformers` — batched HF `generate`, constrained to the five-field JSON schema.

A batch of records is one left-padded `generate` call (the paper's reference answered one item
at a time). Decoding is greedy by default (reproducible); `decoding: paper` samples like the
paper (top-p 0.9, temperature 0.6) from a fixed seed. With `structured_output` (default) the
grammar in `grammar.py` makes every finished answer a schema-valid object and ends each sequence
at its closing brace, so `max_new_tokens` only has to cover one object.

The model loads once per engine, i.e. once per Ray Data actor (see `engine.ExtractBatches`).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from transformers import (AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList, TemperatureLogitsWarper,
                          TopPLogitsWarper)

from ilid_ray.config import ExtractConfig
from ilid_ray.dataset.extract.engine import PAPER_TEMPERATURE, PAPER_TOP_P, ExtractionEngine, ExtractionRequest
from ilid_ray.dataset.extract.grammar import GrammarConstraint, SchemaCompiler
from ilid_ray.dataset.extract.models import ModelNotAvailable, resolve_model
from ilid_ray.dataset.extract.prompt import PROMPT_VERSION


def pick_device(num_gpus: float) -> torch.device:
    return torch.device("cuda") if num_gpus > 0 and torch.cuda.is_available() else torch.device("cpu")


def cpu_budget(cfg: ExtractConfig) -> int:
    """Threads for torch: the CPUs Ray gave this actor, else `cfg.num_cpus` (one replica's budget).

    Never torch's default of one thread per core: on a shared machine, OpenMP threads that
    outnumber the free cores spin-wait on each other (measured here on 2 busy cores: 2 threads
    were 10x slower than 1).
    """
    import ray

    cpus = cfg.num_cpus
    if ray.is_initialized():
        context = ray.get_runtime_context()
        if context.get_actor_id() is not None:
            cpus = context.get_assigned_resources().get("CPU", cpus)
    return max(1, math.floor(cpus))


def stop_token_ids(model, tokenizer) -> list[int]:
    """Every id `generate` stops on: the generation config's eos (int or list) and the tokenizer's."""
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    ids = [*ids, tokenizer.eos_token_id]
    return sorted({int(i) for i in ids if i is not None})


class TransformersEngine(ExtractionEngine):
    name = "transformers"

    def __init__(self, cfg: ExtractConfig, schema: str | None = None):
        """`schema`: the JSON schema (text) every answer is constrained to (`ilid prompts describe`
        passes its own); default each request's own (`ExtractionRequest.schema`)."""
        self.cfg = cfg
        resolved = resolve_model(cfg.model)
        self.model, self.prompt_version = resolved.label, PROMPT_VERSION
        self.device = pick_device(cfg.num_gpus)
        if self.device.type == "cpu":
            torch.set_num_threads(cpu_budget(cfg))
        dtype = torch.float32 if self.device.type == "cpu" else (cfg.dtype if cfg.dtype != "auto" else "auto")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(resolved.source, padding_side="left")
            self.lm = AutoModelForCausalLM.from_pretrained(resolved.source, dtype=dtype).to(self.device).eval()
        except OSError as error:
            raise ModelNotAvailable(
                f"could not load extract.model={cfg.model!r} ({resolved.source}): {error}\n"
                f"Without network access the model must already be on disk: download it where there is "
                f"network (`hf download {resolved.source}`) into the HF cache, or set extract.model to a "
                f"local model folder") from error
        if cfg.chat_template:
            self.tokenizer.chat_template = cfg.chat_template
        if not self.tokenizer.chat_template:
            raise ValueError(f"{resolved.source} has no chat template: set extract.chat_template")
        self.stop_ids = stop_token_ids(self.lm, self.tokenizer)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_ids[0]
        self.tokenizer.pad_token_id = self.pad_id
        self.schema = schema
        self.compiler = (SchemaCompiler(self.tokenizer, self.lm.config.vocab_size, self.stop_ids)
                         if cfg.structured_output else None)
        self.generated_tokens = 0  # running total, for throughput reports

    def prompt_texts(self, requests: Sequence[ExtractionRequest]) -> list[str]:
        return [self.tokenizer.apply_chat_template(list(r.messages), add_generation_prompt=True, tokenize=False)
                for r in requests]

    def decoding_kwargs(self) -> tuple[dict, list]:
        """generate() arguments and the processors that must run after the grammar mask."""
        if self.cfg.decoding == "greedy":
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}, []
        torch.manual_seed(self.cfg.seed)
        # generate's own warpers would run before the grammar mask (see grammar.py): disable them and
        # apply the paper's temperature and top-p after it instead.
        return ({"do_sample": True, "temperature": 1.0, "top_p": 1.0, "top_k": 0},
                [TemperatureLogitsWarper(PAPER_TEMPERATURE), TopPLogitsWarper(PAPER_TOP_P)])

    def count_new_tokens(self, new_tokens: torch.Tensor) -> int:
        """Tokens generated per row up to and including its first stop token."""
        stops = torch.isin(new_tokens, torch.tensor(self.stop_ids, device=new_tokens.device))
        first_stop = torch.where(stops.any(dim=1), stops.int().argmax(dim=1) + 1,
                                 torch.full_like(stops[:, 0], new_tokens.shape[1], dtype=torch.long))
        return int(first_stop.sum())

    def generate(self, requests: Sequence[ExtractionRequest]) -> list[str]:
        if not requests:
            return []
        inputs = self.tokenizer(self.prompt_texts(requests), return_tensors="pt", padding=True,
                                add_special_tokens=False).to(self.device)
        kwargs, samplers = self.decoding_kwargs()
        processors = LogitsProcessorList()
        if self.compiler is not None:
            processors.append(GrammarConstraint([self.compiler.compile(self.schema or r.schema) for r in requests]))
        processors.extend(samplers)
        with torch.inference_mode():
            output = self.lm.generate(**inputs, logits_processor=processors, max_new_tokens=self.cfg.max_new_tokens,
                                      eos_token_id=self.stop_ids, pad_token_id=self.pad_id, **kwargs)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        self.generated_tokens += self.count_new_tokens(new_tokens)
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
