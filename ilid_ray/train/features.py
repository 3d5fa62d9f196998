"""Feature cache: the frozen image encoder runs once per augmented view, not once per epoch.

Every variant keeps CLIP's image tower frozen, so an image's features depend only on the pixels the
augmentation produced. The cache stores, per image, K augmented views (random resized crop + flip,
each seeded by the sample key) and the eval view, encoded by the frozen tower. Training then draws one
of the K views per image and epoch and runs only the adapters (and, for CoOp variants, the text
side), which is where the speed-up comes from. With K views, epochs beyond K repeat augmentations;
that is the trade.

Layout: `{cache root}/{fingerprint}/part-*.parquet` plus `_cache.json`, written last. The fingerprint
covers the base model and weights, preprocessing, augmentation, K and the shard list, so a cache is
reused exactly when it is valid (across variants, folds and label fields: the sample JSON is kept).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np
import torch

from ilid_ray.storage import Store
from ilid_ray.train.config import TrainConfig
from ilid_ray.train.data import (dataset_source, decode_image, eval_ordered, label_text, read_rows, select_folds,
                                 view_seed)

MARKER = "_cache.json"


def fingerprint(cfg: TrainConfig, preprocess_cfg: dict[str, Any], shards: list[str]) -> str:
    spec = {"model": cfg.model.name, "pretrained": cfg.model.pretrained, "preprocess": preprocess_cfg,
            "crop_scale": list(cfg.data.crop_scale), "flip": cfg.data.flip, "views": cfg.feature_cache.views,
            "seed": cfg.seed, "root": cfg.data.root, "shards": shards}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


class EncodeViews:
    """Ray Data callable class: image bytes -> K augmented views + eval view -> frozen features."""

    def __init__(self, model_name: str, pretrained: str | None, cache_dir: str | None, preprocess_cfg: dict,
                 views: int, crop_scale: tuple[float, float], flip: bool, seed: int, use_gpu: bool):
        from ilid_ray.models.base import create_frozen_clip, eval_transform, train_transform

        self.device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
        self.clip = create_frozen_clip(model_name, pretrained, cache_dir=cache_dir, device=self.device).clip
        self.train_tf = train_transform(preprocess_cfg, crop_scale, flip)
        self.eval_tf = eval_transform(preprocess_cfg)
        self.views, self.seed = views, seed
        size = preprocess_cfg.get("size", 224)
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        with torch.no_grad():
            self.dim = int(self.clip.encode_image(torch.zeros(1, 3, h, w, device=self.device)).shape[-1])

    def _pixels(self, key: str, data: bytes) -> torch.Tensor:
        image = decode_image(data)
        out = []
        for view in range(self.views):
            torch.manual_seed(view_seed(key, view, self.seed))  # torchvision draws from torch's RNG
            out.append(self.train_tf(image))
        out.append(self.eval_tf(image))
        return torch.stack(out)

    @torch.no_grad()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["key"])
        errors = batch["error"].copy()
        stacks, ok = [], []
        for i in range(n):
            if errors[i]:
                continue
            try:
                stacks.append(self._pixels(str(batch["key"][i]), batch["image"][i]))
                ok.append(i)
            except Exception as exc:  # noqa: BLE001 - the sample's reject reason
                errors[i] = f"undecodable image: {type(exc).__name__}: {exc}"
        views = np.zeros((n, self.views, self.dim), dtype=np.float16)
        eval_view = np.zeros((n, self.dim), dtype=np.float16)
        if stacks:
            pixels = torch.cat(stacks).to(self.device)
            feats = self.clip.encode_image(pixels).float().cpu().numpy().reshape(len(ok), self.views + 1, -1)
            views[ok] = feats[:, : self.views]
            eval_view[ok] = feats[:, self.views]
        return {"key": batch["key"], "fold": batch["fold"], "meta": batch["meta"], "error": errors,
                "views": views, "eval": eval_view}


def ensure_feature_cache(cfg: TrainConfig, preprocess_cfg: dict[str, Any]) -> tuple[str, dict]:
    """The cache's location (building it if it is absent) and its `_cache.json` record."""
    import ray.data

    store, shards, keys = dataset_source(cfg.data.root, cfg.storage, cfg.data.max_shards)
    fp = fingerprint(cfg, preprocess_cfg, shards)
    cache = Store(f"{cfg.feature_cache_root}/{fp}", cfg.storage)
    if cache.exists(MARKER):
        return cache.root, json.loads(cache.get_bytes(MARKER))
    started = time.perf_counter()
    rows = read_rows(store, shards, keys, label_field=None, max_words=None)
    fc = cfg.feature_cache
    encoded = rows.map_batches(
        EncodeViews, batch_size=fc.batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=fc.encoder_concurrency),
        num_gpus=1 if cfg.scaling.use_gpu else 0, label_selector=cfg.scaling.label_selector,
        fn_constructor_kwargs={"model_name": cfg.model.name, "pretrained": cfg.model.pretrained,
                               "cache_dir": cfg.model.cache_dir, "preprocess_cfg": preprocess_cfg,
                               "views": fc.views, "crop_scale": tuple(cfg.data.crop_scale),
                               "flip": cfg.data.flip, "seed": cfg.seed, "use_gpu": cfg.scaling.use_gpu})
    for stale in cache.list(""):
        cache.delete(stale)  # leftovers of an interrupted build (no marker) are never mixed in
    fs, base = cache.arrow_filesystem()
    encoded.write_parquet(base, filesystem=fs)
    parquet = [p for p in cache.list("") if p.endswith(".parquet")]
    stats = ray.data.read_parquet(cache.arrow_paths(parquet)[1], filesystem=fs, columns=["error"]).to_pandas()
    record = {"fingerprint": fp, "views": fc.views, "rows": len(stats),
              "errors": int((stats["error"].astype(str) != "").sum()), "shards": shards,
              "model": cfg.model.name, "pretrained": cfg.model.pretrained,
              "build_seconds": round(time.perf_counter() - started, 2)}
    cache.put_bytes(json.dumps(record, indent=1).encode(), MARKER)
    return cache.root, record


def cached_rows_with_labels(batch: dict[str, np.ndarray], label_field: str,
                            max_words: int | None) -> dict[str, np.ndarray]:
    """Cache rows -> + `text` (the label field of the kept sample JSON); empty label = error row."""
    texts, errors = [], batch["error"].copy()
    for i, meta in enumerate(batch["meta"]):
        text = label_text(json.loads(meta) if meta else {}, label_field, max_words)
        if not text and not errors[i]:
            errors[i] = f"empty {label_field}"
        texts.append(text)
    out = {k: v for k, v in batch.items() if k != "meta"}
    out.update(text=np.array(texts, dtype=object), error=errors)
    return out


def cached_split_datasets(cfg: TrainConfig, cache_uri: str, include_train_eval: bool = True) -> dict[str, Any]:
    """The same splits as `data.split_datasets`, from the cache (views for training, eval view else).

    The splits are materialised in the object store once (the cache is small: K x D half floats per
    image), so epochs iterate over memory instead of re-reading parquet; the per-epoch randomness
    (which view, shuffle) happens in the training loop."""
    import ray.data

    cache = Store(cache_uri, cfg.storage)
    fs, paths = cache.arrow_paths([p for p in cache.list("") if p.endswith(".parquet")])
    train_folds, val_folds = cfg.data.effective_train_folds, list(cfg.data.val_folds)

    def split(folds, keep_unknown, columns):
        ds = ray.data.read_parquet(paths, filesystem=fs, columns=columns)
        ds = ds.map_batches(select_folds, fn_kwargs={"folds": folds, "keep_unknown": keep_unknown},
                            batch_format="numpy")
        ds = ds.map_batches(cached_rows_with_labels, batch_format="numpy",
                            fn_kwargs={"label_field": cfg.data.label_field, "max_words": cfg.data.max_words})
        # a seeded random order, the same in every run: materialized blocks come back in task
        # completion order, so a block-order shuffle of them is not reproducible
        return eval_ordered(ds, cfg.seed).materialize()

    common = ["key", "fold", "meta", "error"]
    out = {"train": split(train_folds, True, common + ["views"]),
           "val": split(val_folds, False, common + ["eval"])}
    if include_train_eval:
        out["train_eval"] = split(train_folds, False, common + ["eval"])
    return out
