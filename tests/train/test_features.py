"""The feature cache's encoder, as a plain callable on a batch (no cluster)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ilid_ray.models import TINY_MODEL, load_clip, preprocess_config
from ilid_ray.testing.synthetic import SyntheticSpec, write_synthetic_dataset
from ilid_ray.train.config import TrainConfig
from ilid_ray.train.data import decode_image, iter_local_samples
from ilid_ray.train.features import EncodeViews, cached_rows_with_labels, fingerprint

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")


def batch_of(rows: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.array([r[k] for r in rows], dtype=np.int64 if k == "fold" else object) for k in rows[0]}


def test_encoder_views_are_seeded_and_eval_view_is_the_models(tmp_path):
    write_synthetic_dataset(tmp_path, SyntheticSpec(samples=4, image_size=32, corrupt_images=1))
    rows = list(iter_local_samples(str(tmp_path), None, None))
    cfg = preprocess_config(TINY_MODEL, None)
    encode = EncodeViews(TINY_MODEL, None, None, cfg, views=3, crop_scale=(0.3, 1.0), flip=True, seed=0,
                         use_gpu=False)
    out = encode(batch_of(rows))
    assert out["views"].shape == (4, 3, 32) and out["eval"].shape == (4, 32)
    assert out["error"][0].startswith("undecodable image") and not out["views"][0].any()
    assert not np.allclose(out["views"][1, 0], out["views"][1, 1])  # different augmentations
    again = encode(batch_of(rows[1:]))
    assert np.array_equal(again["views"], out["views"][1:])  # each view seeded by the sample key
    model = load_clip(model_name=TINY_MODEL, pretrained=None)
    expected = model.encode_raw_images(torch.stack([model.preprocess(decode_image(rows[2]["image"]))]))
    assert np.allclose(out["eval"][2], expected[0].numpy(), atol=2e-3)  # float16 storage


def test_cached_rows_take_any_label_field_later():
    batch = {"key": np.array(["a", "b"], dtype=object), "fold": np.array([0, 1]),
             "meta": np.array(['{"material": "steel", "label_short": "x"}', '{"material": null}'], dtype=object),
             "error": np.array(["", ""], dtype=object)}
    out = cached_rows_with_labels(batch, "material", None)
    assert list(out["text"]) == ["steel", ""] and list(out["error"]) == ["", "empty material"]
    assert "meta" not in out


def test_fingerprint_changes_with_what_the_features_depend_on():
    cfg = TrainConfig.model_validate({"model": {"name": TINY_MODEL, "pretrained": None}})
    pre = preprocess_config(TINY_MODEL, None)
    base = fingerprint(cfg, pre, ["shards/a.tar"])
    assert base == fingerprint(cfg.model_copy(), pre, ["shards/a.tar"])
    assert base != fingerprint(cfg, pre, ["shards/a.tar", "shards/b.tar"])
    other = TrainConfig.model_validate({"model": {"name": TINY_MODEL, "pretrained": None},
                                        "feature_cache": {"views": 3}})
    assert base != fingerprint(other, pre, ["shards/a.tar"])
    # the variant and the label field do not matter: one cache serves every variant and field
    variant = TrainConfig.model_validate({"model": {"name": TINY_MODEL, "pretrained": None,
                                                    "variant": {"name": "coop"}}, "data": {"label_field": "material"}})
    assert base == fingerprint(variant, pre, ["shards/a.tar"])
