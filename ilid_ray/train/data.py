"""Dataset shards -> training and evaluation batches.

Shards are read as a stream with Ray Data's `read_webdataset` (local folder or S3), parsed into
(key, fold, label text, image bytes) rows, split by the `fold` of each sample's JSON, and turned into
normalised image tensors by CPU tasks: the paper's augmentation (random resized crop + flip) for
training, the model's eval transform for evaluation. The per-row work is plain functions over
batches (dicts of arrays), testable without a cluster.

Nothing is dropped silently: a sample whose image does not decode, whose JSON does not parse or
whose label field is empty keeps flowing with an `error` reason and is counted (and skipped) by the
consumer, which reports the counts per epoch.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any, Iterator

import numpy as np

from ilid_ray.config import StorageConfig
from ilid_ray.storage import Store

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
UNKNOWN_FOLD = -1


# --------------------------------------------------------------------------- which shards
def dataset_source(root: str, storage: StorageConfig | None = None,
                   max_shards: int | None = None) -> tuple[Store, list[str], set[str] | None]:
    """(store, shard paths, keys of the current version or None).

    With a committed manifest, the shards and sample keys of its latest version; without one (a
    bare folder of shards) every `shards/**.tar` and no key filter.
    """
    store = Store(root, storage)
    shards: list[str] = []
    keys: set[str] | None = None
    try:
        from ilid_ray.dataset.manifest import Versions
    except ImportError:  # a dataset package without manifests: plain listing
        Versions = None  # noqa: N806
    if Versions is not None:
        table = Versions(store).manifest()
        if table.num_rows:
            shards = sorted(set(table.column("shard").to_pylist()))
            keys = set(table.column("key").to_pylist())
    if not shards:
        shards = [rel for rel in store.list("shards") if rel.endswith(".tar")]
    if not shards:
        raise FileNotFoundError(f"no WebDataset shards under {store.uri('shards')}: build a dataset there "
                                "first (`ilid build`) or point data.root at one")
    return store, shards[:max_shards] if max_shards else shards, keys


# --------------------------------------------------------------------------- rows
def label_text(meta: dict[str, Any], field: str, max_words: int | None) -> str:
    """The label a sample trains on: `field` of its JSON, whitespace-normalised, first N words."""
    value = meta.get(field)
    if value is None:
        return ""
    words = str(value).split()
    return " ".join(words[:max_words] if max_words else words)


def parse_samples(batch: dict[str, Any], label_field: str | None, max_words: int | None,
                  keys: set[str] | None = None) -> dict[str, np.ndarray]:
    """WebDataset rows (raw bytes per extension) -> key, fold, text, image bytes, meta, error.
    `label_field` None: no label wanted (the feature cache keeps the JSON and labels later)."""
    out: dict[str, list] = {"key": [], "fold": [], "text": [], "image": [], "meta": [], "error": []}
    n = len(batch["__key__"])
    for i in range(n):
        key = str(batch["__key__"][i]).rsplit("/", 1)[-1]
        if keys is not None and key not in keys:
            continue  # not part of the dataset version being trained on
        error, meta = "", {}
        raw_json = batch.get("json", [None] * n)[i]
        try:
            meta = json.loads(raw_json) if raw_json is not None else {}
            if not meta:
                error = "missing json"
        except (ValueError, TypeError) as exc:
            error = f"bad json: {exc}"
        image = next((batch[e][i] for e in IMAGE_EXTS if e in batch and _present(batch[e][i])), None)
        if image is None and not error:
            error = "missing image"
        text = label_text(meta, label_field, max_words) if label_field else ""
        if label_field and not text and not error:
            error = f"empty {label_field}"
        fold = meta.get("fold")
        out["key"].append(key)
        out["fold"].append(int(fold) if isinstance(fold, int) else UNKNOWN_FOLD)
        out["text"].append(text)
        out["image"].append(bytes(image) if image is not None else b"")
        out["meta"].append(json.dumps(meta))
        out["error"].append(error)
    return {k: np.array(v, dtype=np.int64 if k == "fold" else object) for k, v in out.items()}


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and len(value) > 0


def select_folds(batch: dict[str, np.ndarray], folds: list[int], keep_unknown: bool) -> dict[str, np.ndarray]:
    """Rows of the given folds; rows whose fold is unknown (broken JSON) stay where keep_unknown,
    so the split that keeps them reports them."""
    fold = batch["fold"]
    mask = np.isin(fold, folds) | ((fold == UNKNOWN_FOLD) & keep_unknown)
    return {k: v[mask] for k, v in batch.items()}


def decode_image(data: bytes):
    """Sample bytes -> upright RGB, through the build's decoder (`ilid_ray.imaging.decode`): EXIF
    orientation applied, transparency composited on white, 16-bit scaled, so training sees the
    pixels the build and serving see."""
    from ilid_ray.imaging import decode

    return decode(data, max_pixels=MAX_PIXELS).image


MAX_PIXELS = 50_000_000  # shards hold resized images; anything larger is not a sample we wrote


def view_seed(key: str, view: int, seed: int) -> int:
    """The RNG seed of one augmented view of one sample: a function of (run seed, key, view) only."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{key}:{view}".encode(), digest_size=8).digest(), "big") >> 1


def execution_index() -> int:
    """How many times Ray Data has executed this dataset before (0, 1, ... per epoch); 0 outside Ray."""
    try:
        from ray.data import DataContext

        return int(getattr(DataContext.get_current(), "_execution_idx", 0) or 0)
    except ImportError:
        return 0


def transform_images(batch: dict[str, np.ndarray], preprocess_cfg: dict[str, Any], train: bool,
                     crop_scale: tuple[float, float] = (0.08, 1.0), flip: bool = True, seed: int = 0,
                     epoch: int | None = None) -> dict[str, np.ndarray]:
    """Image bytes -> float32 [B, 3, H, W] (augmented when `train`); undecodable images get an
    error reason and a zero tensor. A training view is seeded by (seed, key, epoch), `epoch` None =
    Ray Data's execution index of the dataset, so a run's augmentations are a function of its seed."""
    import torch

    from ilid_ray.models.base import eval_transform, train_transform

    transform = train_transform(preprocess_cfg, crop_scale, flip) if train else eval_transform(preprocess_cfg)
    epoch = execution_index() if epoch is None else epoch
    size = preprocess_cfg.get("size", 224)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    images = np.zeros((len(batch["key"]), 3, h, w), dtype=np.float32)
    errors = batch["error"].copy()
    for i, data in enumerate(batch["image"]):
        if errors[i]:
            continue
        try:
            image = decode_image(data)
            if train:
                torch.manual_seed(view_seed(str(batch["key"][i]), epoch, seed))  # torchvision draws from torch's RNG
            images[i] = transform(image).numpy()
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this sample's reject reason
            errors[i] = f"undecodable image: {type(exc).__name__}: {exc}"
    out = {k: v for k, v in batch.items() if k not in ("image", "meta")}
    out.update(pixels=images, error=errors)
    return out


def with_eval_order(batch: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """+ `order`: the seeded random evaluation order of each row (see `evaluate.eval_order`)."""
    from ilid_ray.train.evaluate import eval_order

    return {**batch, "order": eval_order([str(k) for k in batch["key"]], seed)}


def eval_ordered(ds, seed: int):
    """A Ray dataset in the seeded random evaluation order, so batches of 32 mix the shards."""
    return ds.map_batches(with_eval_order, fn_kwargs={"seed": seed}, batch_format="numpy").sort("order")


# --------------------------------------------------------------------------- Ray Data
def read_rows(store: Store, shards: list[str], keys: set[str] | None, label_field: str | None,
              max_words: int | None, shuffle_seed: int | None = None):
    """Ray Data stream of parsed rows (one per sample) from the shards; with `shuffle_seed` the
    shard order is shuffled, differently per epoch but the same for the same seed."""
    import ray.data

    fs, paths = store.arrow_paths(shards)
    shuffle = ray.data.FileShuffleConfig(seed=shuffle_seed) if shuffle_seed is not None else None
    ds = ray.data.read_webdataset(paths, filesystem=fs, decoder=None, shuffle=shuffle)
    return ds.map_batches(parse_samples, fn_kwargs={"label_field": label_field, "max_words": max_words,
                                                     "keys": keys}, batch_format="numpy")


def split_datasets(cfg, preprocess_cfg: dict[str, Any], storage: StorageConfig | None = None,
                   include_train_eval: bool = True, seed: int = 0) -> dict[str, Any]:
    """{"train": augmented train folds, "val": eval-transformed held-out folds, ["train_eval"]};
    the evaluation splits in their seeded random order."""
    store, shards, keys = dataset_source(cfg.root, storage, cfg.max_shards)
    train_folds, val_folds = cfg.effective_train_folds, list(cfg.val_folds)

    def images(ds, folds, train, keep_unknown):
        ds = ds.map_batches(select_folds, fn_kwargs={"folds": folds, "keep_unknown": keep_unknown},
                            batch_format="numpy")
        ds = ds if train else eval_ordered(ds, seed)
        return ds.map_batches(transform_images, batch_format="numpy", fn_kwargs={
            "preprocess_cfg": preprocess_cfg, "train": train, "crop_scale": tuple(cfg.crop_scale),
            "flip": cfg.flip, "seed": seed})

    rows = lambda shuffle: read_rows(store, shards, keys, cfg.label_field, cfg.max_words, shuffle)  # noqa: E731
    out = {"train": images(rows(seed), train_folds, True, True),
           "val": images(rows(None), val_folds, False, False)}
    if include_train_eval:
        out["train_eval"] = images(rows(None), train_folds, False, False)
    return out


# --------------------------------------------------------------------------- consumer side
def usable_rows(batch: dict[str, np.ndarray], skipped: Counter) -> dict[str, np.ndarray]:
    """The rows without an error; the others are counted in `skipped` by reason (first 40 chars)."""
    errors = batch["error"]
    bad = np.array([bool(e) for e in errors], dtype=bool)
    for reason in errors[bad]:
        skipped[str(reason)[:40]] += 1
    return {k: v[~bad] for k, v in batch.items()}


# --------------------------------------------------------------------------- without Ray
def iter_local_samples(root: str, folds: list[int] | None, label_field: str, max_words: int | None = None,
                       storage: StorageConfig | None = None, max_shards: int | None = None
                       ) -> Iterator[dict[str, Any]]:
    """Parsed rows (see `parse_samples`) streamed with the `webdataset` library, in one process:
    for evaluation and plots on a laptop, no cluster needed."""
    import webdataset as wds
    from webdataset.tariterators import group_by_keys, tar_file_expander

    store, shards, keys = dataset_source(root, storage, max_shards)

    def opened():
        for rel in shards:
            yield {"url": store.uri(rel), "stream": store.open_read(rel)}

    for sample in group_by_keys(tar_file_expander(opened(), handler=wds.reraise_exception)):
        batch = {"__key__": [sample["__key__"]]}
        for name, value in sample.items():
            if not name.startswith("__"):
                batch[name] = [value]
        parsed = parse_samples(batch, label_field, max_words, keys)
        if not len(parsed["key"]):
            continue
        if folds is not None and parsed["fold"][0] not in folds and parsed["fold"][0] != UNKNOWN_FOLD:
            continue  # rows of unknown fold (broken JSON) are kept so the consumer counts them
        yield {k: v[0] for k, v in parsed.items()}
