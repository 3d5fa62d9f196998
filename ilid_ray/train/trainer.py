"""Driver side of one training run: datasets -> Ray Train `TorchTrainer` -> files a person reads.

Outputs, under `{output.storage_path}/{run name}/` (local or S3, next to Ray Train's checkpoints):
`model.safetensors` (final trainable tensors + base model identity + config), `metrics.json` /
`metrics.csv` (per epoch and split, zero-shot baseline included), `curves.png` (Fig. 7 form) and
`tsne.png` (Fig. 8 form); with `eval.classes`, `classes.json` and `confusion-*.png` (train/classes.py).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ilid_ray.models import WEIGHTS_FILE, preprocess_config, resolve_pretrained
from ilid_ray.runtime import init_ray
from ilid_ray.storage import Store
from ilid_ray.train.config import TrainConfig
from ilid_ray.train.evaluate import history_to_table, write_metric_files
from ilid_ray.train.loop import (EMBEDDINGS_FILE, HISTORY_FILE, check_run_state, checkpoint_reader,
                                 train_loop_per_worker)
from ilid_ray.train.plots import accuracy_curves_png, tsne_png

EVAL_SPLITS = ("val", "train_eval")


@dataclass
class RunOutputs:
    run_dir: str
    model: str
    checkpoint: str
    metrics: list[str]
    plots: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "rows"}


def _split_config(names: list[str]):
    """Training split equal per worker (collectives need equal steps); evaluation splits uneven,
    so no held-out sample is dropped to even them out (evaluation has no per-step collectives)."""
    from ray.train import DataConfig

    class _Config(DataConfig):
        def configure(self, datasets, world_size, worker_handles, worker_node_ids, **kwargs):
            output = [{} for _ in range(world_size)]
            hints = worker_node_ids if self._enable_shard_locality else None
            for name, ds in datasets.items():
                ds = ds.copy(ds)
                ds.context.execution_options = self._resolve_execution_options(name)
                splits = ds.streaming_split(world_size, equal=name not in names, locality_hints=hints)
                for i, split in enumerate(splits):
                    output[i][name] = split
            return output

    return _Config()


def build_datasets(cfg: TrainConfig, preprocess_cfg: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The Ray datasets of a run, from the feature cache when it is enabled."""
    if cfg.feature_cache.enabled:
        from ilid_ray.train.features import cached_split_datasets, ensure_feature_cache

        cache_uri, _ = ensure_feature_cache(cfg, preprocess_cfg)
        return cached_split_datasets(cfg, cache_uri, cfg.eval.train_split), True
    from ilid_ray.train.data import split_datasets

    return split_datasets(cfg.data, preprocess_cfg, cfg.storage, cfg.eval.train_split, cfg.seed), False


# S3 client settings (no credentials) that workers must share with the driver: the endpoint of an
# S3-compatible store, the region, and the checksum mode (servers that do not understand aws-chunked
# uploads, like s3rver, need AWS_REQUEST_CHECKSUM_CALCULATION=when_required in every writing process)
WORKER_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
              "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION")


def _run_config(cfg: TrainConfig):
    import os

    from ray.train import CheckpointConfig, RunConfig

    fs, base = Store(cfg.output.storage_path, cfg.storage).arrow_filesystem()
    env = {k: os.environ[k] for k in WORKER_ENV if os.environ.get(k)}
    return RunConfig(name=cfg.run_name, storage_path=base, storage_filesystem=fs,
                     checkpoint_config=CheckpointConfig(num_to_keep=cfg.output.keep_checkpoints),
                     worker_runtime_env={"env_vars": env} if env else None)


def fit(cfg: TrainConfig) -> RunOutputs:
    """Train one variant on the training folds, scoring the held-out folds each epoch.

    Re-running with the same run name continues from its latest checkpoint (Ray Train restores it).
    """
    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer

    if not cfg.model.variant.trainable:
        raise ValueError("zero-shot CLIP has nothing to train; score it with `ilid eval run`")
    from ilid_ray.prompts.files import with_descriptions
    from ilid_ray.train.classes import run_classes
    from ilid_ray.train.data import dataset_source

    cfg = with_descriptions(cfg)  # a descriptions file -> the texts it holds, read once, here
    resolve_pretrained(cfg.model.name, cfg.model.pretrained, cfg.model.cache_dir)  # fail before launching
    dataset_source(cfg.data.root, cfg.storage, cfg.data.max_shards)  # no shards: say so before launching
    if cfg.output.resume_from:
        check_run_state(cfg.output.resume_from, cfg.storage)
    classes = run_classes(cfg)  # a bad class list: say so before launching
    init_ray(cfg.ray)
    preprocess_cfg = preprocess_config(cfg.model.name, cfg.model.pretrained, cfg.model.cache_dir)
    datasets, cached = build_datasets(cfg, preprocess_cfg)
    resources = {"CPU": cfg.scaling.cpus_per_worker}
    if cfg.scaling.use_gpu:
        resources["GPU"] = cfg.scaling.gpus_per_worker
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"train": cfg.model_dump(mode="json"), "cached": cached, "datasets": list(datasets)},
        scaling_config=ScalingConfig(num_workers=cfg.scaling.num_workers, use_gpu=cfg.scaling.use_gpu,
                                     resources_per_worker=resources, label_selector=cfg.scaling.label_selector),
        run_config=_run_config(cfg),
        datasets=datasets,
        dataset_config=_split_config(list(EVAL_SPLITS)),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"run {cfg.run_name} ended without a checkpoint: {result.error}")
    return write_run_outputs(cfg, result.checkpoint, classes)


def write_run_outputs(cfg: TrainConfig, checkpoint, classes: list[str] | None = None) -> RunOutputs:
    """Metric files, plots and the final model of a finished run, from its last checkpoint; with
    `classes`, the held-out folds classified over them too (classes.json, confusion PNGs)."""
    run = Store(f"{cfg.output.storage_path.rstrip('/')}/{cfg.run_name}", cfg.storage)
    read = checkpoint_reader(checkpoint)
    history = json.loads(read(HISTORY_FILE))
    run.put_bytes(read(WEIGHTS_FILE), WEIGHTS_FILE)
    class_files: list[str] = []
    if classes:
        from ilid_ray.train.classes import classify_held_out, format_reports, note_class_f1

        reports, class_files = classify_held_out(cfg, classes, run.uri(WEIGHTS_FILE), run)
        note_class_f1(history, reports, cfg.model.variant.name)
        print(f"[{cfg.run_name}] held-out folds {cfg.data.val_folds} over {len(classes)} classes:\n"
              f"{format_reports(reports)}", flush=True)
    try:
        embeddings = dict(np.load(io.BytesIO(read(EMBEDDINGS_FILE)), allow_pickle=False))
    except FileNotFoundError:
        embeddings = None  # no t-SNE samples were asked for
    folds = "+".join(str(f) for f in cfg.data.val_folds)
    rows = history_to_table(history, cfg.run_name, folds)
    final = {k: v for k, v in history[-1].items() if not k.startswith("zeroshot/")} if history else {}
    metrics = write_metric_files(run, rows, extra={"history": history, "config": cfg.model_dump(mode="json")})
    metrics += class_files[:1]
    plots = [_put(run, "curves.png", accuracy_curves_png(rows, f"{cfg.run_name} ({cfg.data.label_field})")),
             *class_files[1:]]
    if embeddings is not None and len(embeddings["label"]) >= 3:
        plots.append(_put(run, "tsne.png", tsne_png(embeddings["image"], embeddings["text"], embeddings["label"],
                                                    f"{cfg.run_name}: held-out image (o) and text (^) embeddings")))
    ckpt_uri = f"s3://{checkpoint.path}" if checkpoint.filesystem.type_name == "s3" else str(checkpoint.path)
    return RunOutputs(run_dir=run.root, model=run.uri(WEIGHTS_FILE), checkpoint=ckpt_uri,
                      metrics=metrics, plots=plots, rows=rows, final=final)


def _put(store: Store, name: str, data: bytes) -> str:
    store.put_bytes(data, name)
    return store.uri(name)
