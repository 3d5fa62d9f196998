"""The per-worker training loop that Ray Train's `TorchTrainer` runs (one process per worker).

Each epoch: contrastive steps over this worker's stream of the training folds (features gathered
over workers, trainable gradients summed), then batch-32 evaluation of the held-out (and training)
folds, a metrics report, and on rank 0 a checkpoint (trainable tensors + optimizer + history).
A run restarted under the same name, or given `output.resume_from`, continues after the last
checkpointed epoch.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ilid_ray.models import AdaptedCLIP, create_frozen_clip, save_trainable
from ilid_ray.models.checkpoint import WEIGHTS_FILE, parse_checkpoint
from ilid_ray.storage import Store
from ilid_ray.train.config import OptimSection, TrainConfig
from ilid_ray.train.data import usable_rows
from ilid_ray.train.evaluate import flat_metrics, gather_accumulators, gather_embeddings, score_batches
from ilid_ray.train.loss import distributed, gathered_contrastive_loss, sum_gradients, sum_scalar

STATE_FILE = "train_state.pt"
HISTORY_FILE = "history.json"
EMBEDDINGS_FILE = "embeddings.npz"


# --------------------------------------------------------------------------- optimiser
def lr_at(epoch: int, optim: OptimSection) -> float:
    """Constant warm-up, then cosine from `lr` towards 0 over the remaining epochs."""
    if epoch < optim.warmup_epochs:
        return optim.warmup_lr
    if optim.schedule == "constant":
        return optim.lr
    span = max(1, optim.epochs - optim.warmup_epochs)
    return 0.5 * optim.lr * (1.0 + math.cos(math.pi * (epoch - optim.warmup_epochs) / span))


def build_optimizer(params: list[torch.nn.Parameter], optim: OptimSection) -> torch.optim.Optimizer:
    if optim.name == "adadelta":
        return torch.optim.Adadelta(params, lr=optim.lr, weight_decay=optim.weight_decay)
    if optim.name == "sgd":
        return torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)


# --------------------------------------------------------------------------- steps
def step_loss(model: AdaptedCLIP, texts: list[str], images: torch.Tensor | None = None,
              raw: torch.Tensor | None = None, multi_positive: bool = False, direction: str = "both") -> torch.Tensor:
    """This worker's share of one step's gathered contrastive loss.

    A worker left with no usable rows still takes part in the collectives (forward gather and the
    backward all-reduce), through empty features tied to the trainable parameters.
    """
    if texts:
        image_feats, text_feats = model(texts, images=images, raw_image_features=raw)
    else:
        anchor = sum(p.reshape(-1)[0] for p in model.trainable_parameters()) * 0.0
        image_feats = text_feats = torch.zeros(0, model.embed_dim, device=model.device) + anchor
    return gathered_contrastive_loss(image_feats, text_feats, list(texts), model.logit_scale, multi_positive,
                                     direction)


def lockstep(items: Iterator, device: torch.device, skipped: Counter) -> Iterator:
    """Yield while every worker still has an item: collectives need equal step counts. Rows a worker
    holds beyond the others' end are counted, not silently lost."""
    it = iter(items)
    while True:
        item = next(it, None)
        flag = torch.tensor([0 if item is None else 1], device=device)
        if distributed():
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        if int(flag.item()) == 0:
            for rest in ([item] if item is not None else []) + list(it):
                skipped["uneven worker split tail"] += len(rest[0])
            return
        yield item


def to_tensors(rows: dict[str, np.ndarray], cached: bool, train: bool, rng: np.random.Generator,
               device: torch.device) -> tuple[list[str], torch.Tensor | None, torch.Tensor | None]:
    """(texts, pixels | None, raw features | None); from the cache a random view per row in training."""
    texts = [str(t) for t in rows["text"]]
    if not cached:
        return texts, torch.from_numpy(np.ascontiguousarray(rows["pixels"])).to(device), None
    if train:
        views = rows["views"]
        raw = views[np.arange(len(texts)), rng.integers(views.shape[1], size=len(texts))]
    else:
        raw = rows["eval"]
    return texts, None, torch.from_numpy(np.asarray(raw, dtype=np.float32)).to(device)


def batches(shard, batch_size: int, cached: bool, train: bool, rng: np.random.Generator,
            device: torch.device, skipped: Counter, shuffle_buffer: int | None = None,
            shuffle_seed: int | None = None) -> Iterator:
    """(texts, pixels, raw features) batches of a worker's dataset shard; a fresh stream per call."""
    for raw_batch in shard.iter_batches(batch_size=batch_size, batch_format="numpy",
                                        local_shuffle_buffer_size=shuffle_buffer or None,
                                        local_shuffle_seed=shuffle_seed if shuffle_buffer else None):
        yield to_tensors(usable_rows(raw_batch, skipped), cached, train, rng, device)


# --------------------------------------------------------------------------- checkpoints
def save_run_state(folder: Path, model: AdaptedCLIP, optimizer, scaler, epoch: int, history: list[dict],
                   cfg: TrainConfig, embeddings: dict[str, np.ndarray] | None = None) -> None:
    extra = {"epoch": epoch, "label_field": cfg.data.label_field, "max_words": cfg.data.max_words,
             "run": cfg.run_name, "train_config": cfg.model_dump(mode="json")}
    save_trainable(model, folder, extra=extra)
    torch.save({"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict() if scaler else {},
                "epoch": epoch}, folder / STATE_FILE)
    (folder / HISTORY_FILE).write_text(json.dumps(history))
    if embeddings and len(embeddings.get("label", ())):
        np.savez(folder / EMBEDDINGS_FILE, **embeddings)


def checkpoint_reader(checkpoint) -> Callable[[str], bytes]:
    """Read a Ray Train checkpoint's files by name through its own filesystem (local or S3), without
    listing or downloading the folder."""
    fs, base = checkpoint.filesystem, checkpoint.path.rstrip("/")

    def read(name: str) -> bytes:
        try:
            with fs.open_input_stream(f"{base}/{name}") as stream:
                return stream.read()
        except FileNotFoundError:
            raise
        except OSError as exc:  # pyarrow reports a missing S3 object as a generic OSError
            raise FileNotFoundError(f"{base}/{name}: {exc}") from exc

    return read


def check_run_state(folder: str, storage=None) -> None:
    """Raise unless `folder` holds what `load_run_state` reads (so a wrong --resume-from fails
    before Ray starts, not in a training worker)."""
    store = Store(folder, storage)
    missing = [name for name in (WEIGHTS_FILE, STATE_FILE, HISTORY_FILE) if not store.exists(name)]
    if missing:
        raise FileNotFoundError(f"no training checkpoint at {store.root} (missing {', '.join(missing)}): give a "
                                "checkpoint folder of an earlier run to --resume-from (output.resume_from)")


def load_run_state(read: Callable[[str], bytes]) -> tuple[dict, dict, dict, list[dict]]:
    """(trainable tensors, checkpoint info, optimizer/scaler/epoch, history) of a checkpoint, given
    a reader of its files (`checkpoint_reader`, or `Store(folder).get_bytes` for a plain folder)."""
    state, info = parse_checkpoint(read(WEIGHTS_FILE))
    train_state = torch.load(io.BytesIO(read(STATE_FILE)), map_location="cpu", weights_only=True)
    return state, info, train_state, json.loads(read(HISTORY_FILE))


# --------------------------------------------------------------------------- the loop
def evaluate_splits(model: AdaptedCLIP, shards: dict[str, Any], cfg: TrainConfig, cached: bool,
                    device: torch.device, prefix: str = "", collect: int = 0) -> tuple[dict, dict]:
    metrics: dict[str, float] = {}
    embeddings: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(0)
    for split, name in (("val", "val"), ("train_eval", "train")):
        if split not in shards:
            continue
        skipped: Counter = Counter()
        acc, emb = score_batches(model, batches(shards[split], cfg.eval.batch_size, cached, False, rng, device,
                                                skipped), cfg.eval.topk, collect if split == "val" else 0)
        metrics.update(flat_metrics(f"{prefix}{name}", gather_accumulators(acc).metrics()))
        metrics[f"{prefix}{name}/skipped"] = int(sum_scalar(sum(skipped.values()), device))
        if split == "val" and collect:
            embeddings = gather_embeddings(emb, collect)
    return metrics, embeddings


def train_loop_per_worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    cfg = TrainConfig.model_validate(config["train"])
    cached = bool(config.get("cached"))
    context = ray.train.get_context()
    rank = context.get_world_rank()
    device = ray.train.torch.get_device()
    torch.manual_seed(cfg.seed)  # the same initial adapters on every worker (gradients are summed)

    base = create_frozen_clip(cfg.model.name, cfg.model.pretrained, cache_dir=cfg.model.cache_dir, device=device)
    model = AdaptedCLIP(base, cfg.model.variant)
    optimizer = build_optimizer(model.trainable_parameters(), cfg.optim)
    use_amp = cfg.optim.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if use_amp else contextlib.nullcontext

    start_epoch, history = 0, []
    checkpoint = ray.train.get_checkpoint()  # set when Ray Train restores this run
    if checkpoint is not None or cfg.output.resume_from:
        read = (checkpoint_reader(checkpoint) if checkpoint is not None
                else Store(cfg.output.resume_from, cfg.storage).get_bytes)
        state, _, train_state, history = load_run_state(read)
        model.load_trainable_state_dict(state)
        optimizer.load_state_dict(train_state["optimizer"])
        if scaler and train_state.get("scaler"):
            scaler.load_state_dict(train_state["scaler"])
        start_epoch = int(train_state["epoch"])

    shards = {name: ray.train.get_dataset_shard(name) for name in ("train", "val", "train_eval")
              if name in config["datasets"]}
    baseline: dict[str, float] = {}
    if cfg.eval.zero_shot and start_epoch == 0:
        zero_shot = AdaptedCLIP(base, cfg.model.variant.zero_shot())
        baseline, _ = evaluate_splits(zero_shot, shards, cfg, cached, device, prefix="zeroshot/")
        del zero_shot

    for epoch in range(start_epoch, cfg.optim.epochs):
        started = time.perf_counter()
        lr = lr_at(epoch, cfg.optim)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        skipped: Counter = Counter()
        loss_sum, steps, samples = 0.0, 0, 0
        rng = np.random.default_rng([cfg.seed, rank, epoch])  # which cached view each row gets (resumable)
        stream = lockstep(batches(shards["train"], cfg.data.batch_size, cached, True, rng, device, skipped,
                                  cfg.data.shuffle_buffer, shuffle_seed=cfg.seed * 100_003 + epoch), device, skipped)
        for texts, images, raw in _progress(stream, rank, cfg, epoch):
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = step_loss(model, texts, images, raw, cfg.loss.multi_positive, cfg.loss.direction)
            (scaler.scale(loss) if scaler else loss).backward()
            sum_gradients(model.trainable_parameters())
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            loss_sum += sum_scalar(float(loss.detach()), device)
            steps += 1
            samples += len(texts)
        model.eval()
        train_time = time.perf_counter() - started
        metrics: dict[str, Any] = {"epoch": epoch + 1, "variant": cfg.model.variant.name, "lr": lr,
                                   "loss": loss_sum / max(1, steps), "steps": steps,
                                   "samples": int(sum_scalar(samples, device)), "train_time_s": train_time,
                                   "skipped": int(sum_scalar(sum(skipped.values()), device))}
        last = epoch + 1 == cfg.optim.epochs
        embeddings = None
        if last or (epoch + 1) % cfg.eval.every_epochs == 0:
            scores, embeddings = evaluate_splits(model, shards, cfg, cached, device,
                                                 collect=cfg.eval.tsne_samples if last else 0)
            metrics.update(scores)
        metrics.update(baseline if epoch == 0 else {})
        metrics["epoch_time_s"] = time.perf_counter() - started
        history.append(metrics)
        if rank == 0:
            _log_epoch(metrics, cfg, skipped)
        _report(metrics, history, model, optimizer, scaler, epoch + 1, cfg, rank, embeddings,
                due=last or (epoch + 1) % cfg.output.checkpoint_every == 0)


def _report(metrics, history, model, optimizer, scaler, epoch, cfg, rank, embeddings, due: bool) -> None:
    import ray.train

    reported = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
    if not due or rank != 0:
        ray.train.report(reported, checkpoint=None)
        return
    with tempfile.TemporaryDirectory() as tmp:
        save_run_state(Path(tmp), model, optimizer, scaler, epoch, history, cfg, embeddings)
        ray.train.report(reported, checkpoint=ray.train.Checkpoint.from_directory(tmp),
                         checkpoint_dir_name=f"checkpoint_epoch_{epoch:04d}")


def _progress(stream: Iterator, rank: int, cfg: TrainConfig, epoch: int) -> Iterator:
    if rank != 0 or not cfg.output.progress:
        return stream
    from tqdm import tqdm

    return tqdm(stream, desc=f"epoch {epoch + 1}/{cfg.optim.epochs}", unit="batch", mininterval=5, leave=False)


def _log_epoch(metrics: dict[str, Any], cfg: TrainConfig, skipped: Counter) -> None:
    shown = [f"{k} {v:.4f}" for k, v in metrics.items()
             if isinstance(v, float) and (k.endswith(("top1", "top3", "f1")) or k == "loss")]
    note = f" skipped(rank0) {dict(skipped)}" if skipped else ""
    print(f"[{cfg.run_name}] epoch {metrics['epoch']}/{cfg.optim.epochs} lr {metrics['lr']:.4g} "
          f"samples {metrics['samples']} {' '.join(shown)} ({metrics['epoch_time_s']:.1f}s){note}", flush=True)
