"""`engine: vllm` — the five fields from vLLM in batches, as a ray.data.llm processor in the build.

    build rows -> to_requests -> [vLLM engine] -> postprocess -> to_build_rows
    (driver's environment)      (vLLM's env,      (driver's environment)
                                 GPU or CPU)

The bracketed stage is ray.data.llm's (`vLLMEngineProcessorConfig` + `build_processor`); its
actors start with the vLLM environment's interpreter (`vllm_env.py`), the rest of the build never
leaves the driver's. Prompt and answer handling are the shared ones: the chat messages come from
`prompt.build_messages` and are tokenized as the transformers engine tokenizes them, the answer
goes through `engine.apply_answer` (`vllm_rows.py`), so both engines see the same token ids and
the same answer text gives the same row. Structured outputs constrain each answer to the
five-field JSON schema (`schema.py`); whatever still fails to parse is rejected with its reason,
as with every engine.

Resources: each replica is one placement group of `tensor_parallel_size` x pipeline-parallel
bundles of `num_cpus` CPUs and `num_gpus` GPUs, so the same config runs on GPU nodes
(`num_gpus: 1`) and on CPU bundles here (`num_gpus: 0`). The driver resolves the model first
(converting the embedded GGUF once), so the actors get a ready folder or an HF id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ilid_ray.config import ExtractConfig
from ilid_ray.dataset.extract import vllm_rows
from ilid_ray.dataset.extract.models import resolve_model
from ilid_ray.dataset.extract.prompt import PROMPT_VERSION
from ilid_ray.dataset.extract.vllm_env import VllmEnv, resolve_env, runtime_env

log = logging.getLogger(__name__)


def on_cpu(cfg: ExtractConfig) -> bool:
    return cfg.num_gpus == 0


def placement_bundles(cfg: ExtractConfig) -> list[dict[str, float]]:
    """One bundle per vLLM worker of a replica (tensor x pipeline parallel)."""
    workers = cfg.tensor_parallel_size * int(cfg.engine_kwargs.get("pipeline_parallel_size", 1))
    bundle = {"CPU": cfg.num_cpus, **({"GPU": cfg.num_gpus} if cfg.num_gpus else {})}
    return [dict(bundle) for _ in range(workers)]


def engine_kwargs(cfg: ExtractConfig) -> dict[str, Any]:
    """vLLM engine arguments; `extract.engine_kwargs` overrides any of them.

    Structured outputs use xgrammar (the transformers engine's backend) without free whitespace
    between JSON tokens (vLLM then uses compact separators, the transformers grammar ", " and
    ": "); vLLM reads both settings per engine, not per request.
    On CPU bundles: eager mode (no graph compilation, so an engine starts in about 35 s here) and
    float32 for `dtype: auto`, the type vLLM's CPU backend was measured to run here (MODELS.md).
    Prefix caching is on: every prompt starts with the same system message and few-shot turns
    (`prompt.py`), whose KV blocks are then computed once per replica, not once per record.
    """
    kwargs: dict[str, Any] = {"tensor_parallel_size": cfg.tensor_parallel_size, "max_model_len": cfg.max_model_len,
                              "dtype": "float32" if on_cpu(cfg) and cfg.dtype == "auto" else cfg.dtype,
                              "enable_prefix_caching": True}
    if cfg.structured_output:
        kwargs["structured_outputs_config"] = {"backend": "xgrammar", "disable_any_whitespace": True}
    if on_cpu(cfg):
        kwargs["enforce_eager"] = True
    return {**kwargs, **cfg.engine_kwargs}


def replicas(concurrency: int | tuple[int, int]) -> tuple[int, int]:
    """An int is a fixed number of replicas (ray.data.llm would read it as autoscaling 1..n)."""
    return (concurrency, concurrency) if isinstance(concurrency, int) else tuple(concurrency)


def processor_config(cfg: ExtractConfig, model_source: str, env: VllmEnv):
    """The `vLLMEngineProcessorConfig` of the extraction stage.

    ray.data.llm's chat-template, tokenize and detokenize stages are off: `to_requests` hands over
    token ids (see vllm_rows.py) and vLLM returns the text. Each of those stages would be one more
    actor pool loading torch and transformers, and its CPU reservation would, on a 2-core machine,
    leave the pipeline's 1-CPU tasks nowhere to run.
    """
    from ray.data.llm import vLLMEngineProcessorConfig

    return vLLMEngineProcessorConfig(
        model_source=model_source,
        engine_kwargs=engine_kwargs(cfg),
        batch_size=cfg.batch_size,
        concurrency=replicas(cfg.concurrency),
        accelerator_type=cfg.accelerator_type,
        placement_group_config={"bundles": placement_bundles(cfg), "strategy": cfg.placement_strategy},
        runtime_env=runtime_env(cfg, env),
        chat_template_stage=False,
        tokenize_stage=False,
        detokenize_stage=False,
        should_continue_on_error=True,  # one failing request rejects its row, not the build
    )


def build_vllm_processor(cfg: ExtractConfig, model_source: str, env: VllmEnv):
    """The ray.data.llm processor; `extract.label_selector` places its engine replicas.

    ray.data.llm 2.60 has no label selector for the placement groups of tensor/pipeline-parallel
    replicas, so there the selector is refused rather than silently ignored.
    """
    from ray.data.llm import build_processor

    if cfg.label_selector and len(placement_bundles(cfg)) > 1:
        raise ValueError("extract.label_selector works for one-worker vLLM replicas only (tensor and pipeline "
                         "parallel size 1); place multi-GPU replicas with accelerator_type instead")
    processor = build_processor(processor_config(cfg, model_source, env), postprocess=vllm_rows.engine_output)
    if cfg.label_selector:
        processor.get_stage_by_name("vLLMEngineStage").map_batches_kwargs["label_selector"] = dict(cfg.label_selector)
    return processor


@dataclass
class VllmExtraction:
    """The prepared stage: the ray.data.llm processor and what each row records."""

    processor: Any  # ray.data.llm Processor
    model: str  # recorded with each row (same label as the transformers engine for the same model)
    prompt_version: str
    params: dict[str, Any]  # sampling params of every request
    env: VllmEnv
    model_source: str  # folder or HF id: tokenizer (here) and weights (vLLM)
    chat_template: str | None

    @classmethod
    def prepare(cls, cfg: ExtractConfig) -> VllmExtraction:
        """On the driver: resolve the model and the vLLM environment, build the processor."""
        from ilid_ray.runtime import init_ray

        init_ray()  # a no-op when connected; build_processor would otherwise start Ray in the vLLM env
        resolved = resolve_model(cfg.model)
        env = resolve_env(cfg.python)
        vllm_rows.chat_tokenizer(resolved.source, cfg.chat_template)  # fails here, not in a task, without a template
        log.info("vllm %s (%s) on %s", env.vllm_version, env.python or "driver's python", resolved.source)
        processor = build_vllm_processor(cfg, resolved.source, env)
        return cls(processor, resolved.label, PROMPT_VERSION, vllm_rows.sampling_params(cfg), env, resolved.source,
                   cfg.chat_template)

    def outputs(self, ds):
        """Build rows -> the processor's output rows (packed build row + what the engine said)."""
        ds = ds.map_batches(vllm_rows.to_requests, batch_format="pyarrow",
                            fn_kwargs={"params": self.params, "model_source": self.model_source,
                                       "chat_template": self.chat_template})
        return self.processor(ds)

    def __call__(self, ds):
        """Build rows -> the same rows with the five fields filled or rejected."""
        return self.outputs(ds).map_batches(
            vllm_rows.to_build_rows, fn_kwargs={"model": self.model, "prompt_version": self.prompt_version},
            batch_format="pyarrow")


def add_vllm_extraction_stage(ds, cfg: ExtractConfig):
    """`ds` (row-schema batches) -> the same rows, extracted by vLLM. Row count and schema are kept."""
    return VllmExtraction.prepare(cfg)(ds)
