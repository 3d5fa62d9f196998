"""Scoring many crops against many texts with the adapted CLIP in one forward pass.

The scorer deployment batches requests from different users (`@serve.batch`); this class does
the work for one such batch: every crop of every request goes through the image encoder together,
each distinct text through the text encoder once (and is remembered, since prompts repeat: the
empty prompt is in every segmentation request), and each request gets back its own logit matrix.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ilid_ray.config import StorageConfig
from ilid_ray.serve.config import ClipConfig
from ilid_ray.serve.sam import resolve_device


@dataclass
class ScoreRequest:
    """Crops (RGB uint8 arrays of any size) to score against `texts`."""

    crops: list[np.ndarray]
    texts: list[str]


def crops_in(requests: list[ScoreRequest]) -> int:
    """How many images a batch sends through the encoder (the batch size that matters)."""
    return sum(len(r.crops) for r in requests)


class ClipScorer:
    """`model`: an already built AdaptedCLIP (a multiplexed adapter); default: the one `cfg` names."""

    def __init__(self, cfg: ClipConfig, storage: StorageConfig | None = None, model=None):
        import torch

        from ilid_ray.models import load_clip

        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.cfg = cfg
        self.model = model or load_clip(cfg.checkpoint, model_name=cfg.model_name, pretrained=cfg.pretrained,
                                        variant=cfg.variant, device=resolve_device(cfg.device), storage=storage)
        self.model.eval()
        self._texts: OrderedDict[str, object] = OrderedDict()

    def describe(self) -> dict:
        return {"model_name": self.model.model_name, "pretrained": self.model.pretrained,
                "variant": self.model.variant.name, "checkpoint": self.cfg.checkpoint}

    def _text_features(self, texts: list[str]):
        """[M, D] features, each text encoded once and kept (LRU) for later requests."""
        import torch

        missing = [t for t in dict.fromkeys(texts) if t not in self._texts]
        if missing:
            for text, feat in zip(missing, self.model.encode_texts(missing)):
                self._texts[text] = feat
        for text in texts:
            self._texts.move_to_end(text)
        rows = torch.stack([self._texts[t] for t in texts])
        while len(self._texts) > self.cfg.text_cache_size:
            self._texts.popitem(last=False)
        return rows

    def logits(self, requests: list[ScoreRequest]) -> list[np.ndarray]:
        """Per request a [len(crops), len(texts)] matrix of scaled similarities."""
        import torch
        from PIL import Image

        with torch.inference_mode():
            images = [self.model.preprocess(Image.fromarray(c)) for r in requests for c in r.crops]
            image_feats = (self.model.encode_images(torch.stack(images).to(self.model.device))
                           if images else None)
            texts = list(dict.fromkeys(t for r in requests for t in r.texts))
            text_feats = self._text_features(texts)
            column = {t: i for i, t in enumerate(texts)}
            scale = self.model.logit_scale
            out, start = [], 0
            for r in requests:
                n = len(r.crops)
                if n == 0:
                    out.append(np.zeros((0, len(r.texts)), dtype=np.float32))
                    continue
                cols = text_feats[[column[t] for t in r.texts]]
                out.append((scale * image_feats[start:start + n] @ cols.T).float().cpu().numpy())
                start += n
        return out
