"""Strong few-shot baselines on the feature cache: ZS-init linear probe, Tip-Adapter(-F), low-rank.

The few-shot CLIP literature finds that prompt learning and adapters are often matched or beaten
by much simpler models on the same frozen features (LP++, CLAP's ZS-LP, Tip-Adapter-F), so a
comparison of the paper's variants means little without them. All of them work on exactly what the
adapters train from (the cached frozen image features: K augmented views per training image, the
eval view for scoring) and are scored on the very same evaluation batches, in the same seeded
order, with the same metrics, so `ilid cv` puts them in one table with the paper's four.

- linear probe: a cosine classifier over the training folds' labels, its weights initialised from
  the zero-shot text embeddings of the labels (ZS-LP), trained with cross-entropy (AdamW).
- Tip-Adapter: zero-shot logits + alpha * a cache model: affinities exp(-beta (1 - f.k)) of the
  image to every training image's key (its mean view), summed per label. Training-free.
- Tip-Adapter-F: the same with the cache keys fine-tuned by cross-entropy.
- low-rank (CLIP-LoRA as far as the cache allows): a rank-r residual x + B A x on the cached image
  features and on the text embeddings, B starting at zero (so at zero-shot). On the image side this
  is exactly a LoRA of the image tower's output projection ((I + BA) W = W + B (A W)); LoRA inside
  the towers' attention would need the towers' forward at every step, i.e. no feature cache.
Alpha and beta are chosen on a fold-internal split of the training folds (never the held-out
fold). A label the training folds never showed scores zero-shot only (its cache/probe column is
the zero-shot one; the low-rank residuals adapt any text), so open-vocabulary batches stay scorable.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ilid_ray.train.evaluate import EvalAccumulator, eval_order, flat_metrics

if TYPE_CHECKING:
    from ilid_ray.models import AdaptedCLIP
    from ilid_ray.train.config import BaselineSection, TrainConfig

BASELINES = {"linearprobe": "linear probe (ZS-init)", "tipadapter": "Tip-Adapter", "tipadapterf": "Tip-Adapter-F",
             "lowrank": "low-rank residual (LoRA-like)"}
_ALIASES = {"lp": "linearprobe", "zslp": "linearprobe", "tip": "tipadapter", "tipf": "tipadapterf", "lora": "lowrank"}


def canonical_baseline(name: str) -> str | None:
    """'Tip-Adapter-F', 'linear_probe', 'LP' -> the baseline's name; None if `name` is not one."""
    key = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    return key if key in BASELINES else None


# --------------------------------------------------------------------------- data
@dataclass
class TrainingFeatures:
    """The training folds as cached: per image its K raw view features, label and key."""

    views: np.ndarray  # [N, K, D] float32, unnormalised frozen features
    texts: list[str]
    keys: list[str]

    @property
    def labels(self) -> list[str]:
        return sorted(set(self.texts))


def collect_training_features(ds, skipped: Counter) -> TrainingFeatures:
    """All usable rows of a cached training split (small: K x D half floats per image)."""
    from ilid_ray.train.data import usable_rows

    views, texts, keys = [], [], []
    for batch in ds.iter_batches(batch_size=4096, batch_format="numpy"):
        rows = usable_rows(batch, skipped)
        views.append(np.asarray(rows["views"], dtype=np.float32))
        texts += [str(t) for t in rows["text"]]
        keys += [str(k) for k in rows["key"]]
    if not texts:
        raise ValueError("the training folds hold no usable sample (see the skipped reasons)")
    return TrainingFeatures(np.concatenate(views), texts, keys)


def internal_split(keys: list[str], seed: int, held_out: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(fit, check) index arrays: a seeded split of the training images for choosing alpha/beta."""
    rank = np.argsort(eval_order([f"internal:{k}" for k in keys], seed), kind="stable")
    n_check = max(1, int(round(len(keys) * held_out))) if len(keys) > 1 else 0
    return np.sort(rank[n_check:]), np.sort(rank[:n_check])


# --------------------------------------------------------------------------- scorers
class Scorer:
    """Scores images (raw cached features) against a batch's texts: [n, len(texts)] logits."""

    def __init__(self, zero_shot: AdaptedCLIP, labels: list[str]):
        self.zero_shot, self.labels = zero_shot, list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}
        self.scale = zero_shot.logit_scale

    def text_features(self, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            return self.zero_shot.encode_texts(list(texts)).float()

    def zero_shot_logits(self, feats: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return self.scale * feats @ self.text_features(texts).T

    def known(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(positions in `texts` of labels the training folds hold, their label indices)."""
        pairs = [(j, self.index[t]) for j, t in enumerate(texts) if t in self.index]
        pos = torch.tensor([p for p, _ in pairs], dtype=torch.long)
        return pos, torch.tensor([i for _, i in pairs], dtype=torch.long)

    def logits(self, raw: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return self.zero_shot_logits(F.normalize(raw.float(), dim=-1), texts)


class LinearProbe(Scorer):
    """Cosine classifier, weights initialised from the labels' zero-shot text embeddings."""

    def __init__(self, zero_shot: AdaptedCLIP, labels: list[str]):
        super().__init__(zero_shot, labels)
        self.weight = torch.nn.Parameter(self.text_features(self.labels).clone())
        self.log_scale = torch.nn.Parameter(torch.tensor(float(np.log(self.scale))))

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.weight, self.log_scale]

    def class_logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * feats @ F.normalize(self.weight, dim=-1).T

    def logits(self, raw: torch.Tensor, texts: list[str]) -> torch.Tensor:
        feats = F.normalize(raw.float(), dim=-1)
        with torch.no_grad():
            out = self.log_scale.exp() * feats @ self.text_features(texts).T
            pos, idx = self.known(texts)
            if len(pos):
                out[:, pos] = self.class_logits(feats)[:, idx]
        return out


class TipAdapter(Scorer):
    """Zero-shot logits + alpha * exp(-beta (1 - f.keys)) @ one-hot labels of the keys."""

    def __init__(self, zero_shot: AdaptedCLIP, labels: list[str], keys: torch.Tensor, key_labels: list[str],
                 alpha: float, beta: float):
        super().__init__(zero_shot, labels)
        self.keys = torch.nn.Parameter(F.normalize(keys.float(), dim=-1).clone())
        self.values = F.one_hot(torch.tensor([self.index[t] for t in key_labels]), len(self.labels)).float()
        self.alpha, self.beta = alpha, beta
        self.label_text = self.text_features(self.labels)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.keys]

    def class_logits(self, feats: torch.Tensor) -> torch.Tensor:
        affinity = torch.exp(-self.beta * (1.0 - feats @ F.normalize(self.keys, dim=-1).T))
        return self.scale * feats @ self.label_text.T + self.alpha * affinity @ self.values

    def logits(self, raw: torch.Tensor, texts: list[str]) -> torch.Tensor:
        feats = F.normalize(raw.float(), dim=-1)
        with torch.no_grad():
            out = self.zero_shot_logits(feats, texts)
            pos, idx = self.known(texts)
            if len(pos):
                out[:, pos] = self.class_logits(feats)[:, idx]
        return out


class LowRankResidual(Scorer):
    """x + B A x on the normalised image features and on the text embeddings (rank r, B = 0 at start),
    scored like zero-shot: any text, seen in training or not, goes through the adapted text side."""

    def __init__(self, zero_shot: AdaptedCLIP, labels: list[str], rank: int):
        super().__init__(zero_shot, labels)
        dim = self.text_features(self.labels[:1]).shape[-1]
        self.down = [torch.nn.Parameter(torch.randn(rank, dim) / dim ** 0.5) for _ in range(2)]  # image, text
        self.up = [torch.nn.Parameter(torch.zeros(dim, rank)) for _ in range(2)]
        self.label_text = self.text_features(self.labels)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [*self.down, *self.up]

    def residual(self, x: torch.Tensor, side: int) -> torch.Tensor:
        return F.normalize(x + x @ self.down[side].T @ self.up[side].T, dim=-1)

    def class_logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self.scale * self.residual(feats, 0) @ self.residual(self.label_text, 1).T

    def logits(self, raw: torch.Tensor, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            feats = self.residual(F.normalize(raw.float(), dim=-1), 0)
            return self.scale * feats @ self.residual(self.text_features(texts), 1).T


def mean_view_keys(views: np.ndarray) -> torch.Tensor:
    """One cache key per training image: the mean of its normalised augmented views (Tip-Adapter)."""
    return F.normalize(F.normalize(torch.from_numpy(views), dim=-1).mean(dim=1), dim=-1)


def train_classifier(scorer, views: np.ndarray, texts: list[str], section: BaselineSection, seed: int) -> None:
    """Cross-entropy over the labels on every cached view (AdamW, cosine schedule, seeded batches)."""
    feats = F.normalize(torch.from_numpy(views.reshape(-1, views.shape[-1])), dim=-1)
    targets = torch.tensor([scorer.index[t] for t in texts]).repeat_interleave(views.shape[1])
    optimizer = torch.optim.AdamW(scorer.parameters(), lr=section.lr, weight_decay=section.weight_decay)
    steps_per_epoch = max(1, -(-len(feats) // section.batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, section.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(section.epochs):
        for chunk in torch.randperm(len(feats), generator=generator).split(section.batch_size):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(scorer.class_logits(feats[chunk]), targets[chunk]).backward()
            optimizer.step()
            schedule.step()


def choose_alpha_beta(zero_shot: AdaptedCLIP, train: TrainingFeatures, section: BaselineSection,
                      seed: int) -> tuple[float, float]:
    """The (alpha, beta) of the grid with the best label accuracy on a fold-internal split."""
    if section.tip_alpha is not None and section.tip_beta is not None:
        return section.tip_alpha, section.tip_beta
    fit_idx, check_idx = internal_split(train.keys, seed)
    if not len(check_idx) or not len(fit_idx):
        return section.tip_alpha or 1.0, section.tip_beta or 5.5
    labels = train.labels
    keys = mean_view_keys(train.views[fit_idx])
    check = F.normalize(torch.from_numpy(train.views[check_idx, 0]), dim=-1)  # one augmented view each
    truth = torch.tensor([labels.index(train.texts[i]) for i in check_idx])
    best, best_acc = (1.0, 5.5), -1.0
    alphas = [section.tip_alpha] if section.tip_alpha is not None else section.tip_alpha_grid
    betas = [section.tip_beta] if section.tip_beta is not None else section.tip_beta_grid
    for alpha, beta in itertools.product(alphas, betas):
        tip = TipAdapter(zero_shot, labels, keys, [train.texts[i] for i in fit_idx], alpha, beta)
        with torch.no_grad():
            acc = float((tip.class_logits(check).argmax(dim=1) == truth).float().mean())
        if acc > best_acc:
            best, best_acc = (alpha, beta), acc
    return best


def build_baseline(name: str, zero_shot: AdaptedCLIP, train: TrainingFeatures, section: BaselineSection,
                   seed: int, classes: list[str] | None = None) -> Scorer:
    """The baseline trained on `train`; its classifier covers `classes` (a fixed label set, class
    mode: weights for every class text, also those the training folds lack) or else the training
    folds' labels."""
    torch.manual_seed(seed)
    labels = classes or train.labels
    if name == "linearprobe":
        probe = LinearProbe(zero_shot, labels)
        train_classifier(probe, train.views, train.texts, section, seed)
        return probe
    if name == "lowrank":
        lowrank = LowRankResidual(zero_shot, labels, section.rank)
        train_classifier(lowrank, train.views, train.texts, section, seed)
        return lowrank
    alpha, beta = choose_alpha_beta(zero_shot, train, section, seed)
    tip = TipAdapter(zero_shot, labels, mean_view_keys(train.views), train.texts, alpha, beta)
    if name == "tipadapterf":
        train_classifier(tip, train.views, train.texts, section, seed)
    return tip


# --------------------------------------------------------------------------- scoring and a run
def score_split(scorer: Scorer, ds, batch_size: int, ks: list[int], skipped: Counter) -> EvalAccumulator:
    """Batch-wise accuracy over a cached evaluation split, batch by batch as the training loop reads it."""
    from ilid_ray.train.data import usable_rows

    acc = EvalAccumulator(list(ks))
    for batch in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
        rows = usable_rows(batch, skipped)
        if len(rows["text"]):
            texts = [str(t) for t in rows["text"]]
            acc.add(scorer.logits(torch.from_numpy(np.asarray(rows["eval"], dtype=np.float32)), texts), texts)
    return acc


def classify_split(scorers: dict[str, Scorer], ds, classes: list[str], skipped: Counter) -> dict[str, dict]:
    """{name: class report} (train/classes.py) of each scorer on a cached evaluation split, every
    image scored against every class text: class mode (eval.classes)."""
    from ilid_ray.train.classes import check_classes, class_report
    from ilid_ray.train.data import usable_rows

    feats, truth = [], []
    for batch in ds.iter_batches(batch_size=4096, batch_format="numpy"):
        rows = usable_rows(batch, skipped)
        if len(rows["text"]):
            feats.append(np.asarray(rows["eval"], dtype=np.float32))
            truth += [str(t) for t in rows["text"]]
    if not truth:
        raise ValueError("the held-out folds hold no usable sample to classify (see the skipped reasons)")
    check_classes(truth, classes)
    raw = torch.from_numpy(np.concatenate(feats))
    return {name: class_report(truth, [classes[i] for i in scorer.logits(raw, classes).argmax(dim=1).tolist()],
                               classes) for name, scorer in scorers.items()}


def fit_baseline(cfg: TrainConfig) -> dict[str, Any]:
    """One baseline on one split of the feature cache: {"summary": ..., "rows": ...} like a trained run."""
    from ilid_ray.models import AdaptedCLIP, create_frozen_clip, preprocess_config
    from ilid_ray.prompts.files import with_descriptions
    from ilid_ray.runtime import init_ray
    from ilid_ray.storage import Store
    from ilid_ray.train.classes import format_reports, note_class_f1, run_classes, write_class_outputs
    from ilid_ray.train.evaluate import history_to_table, write_metric_files
    from ilid_ray.train.features import cached_split_datasets, ensure_feature_cache

    name = cfg.baseline.name
    if name is None:
        raise ValueError("baseline.name is not set")
    classes = run_classes(cfg)  # a bad class list: say so before the cache is built
    cfg = with_descriptions(cfg)  # the zero-shot part (and the probe's initial weights) use them too
    init_ray(cfg.ray)
    cache_uri, _ = ensure_feature_cache(cfg, preprocess_config(cfg.model.name, cfg.model.pretrained,
                                                                 cfg.model.cache_dir))
    splits = cached_split_datasets(cfg, cache_uri, cfg.eval.train_split)
    skipped: Counter = Counter()
    train = collect_training_features(splits["train"], skipped)
    base = create_frozen_clip(cfg.model.name, cfg.model.pretrained, cache_dir=cfg.model.cache_dir)
    zero_shot = AdaptedCLIP(base, cfg.model.variant.zero_shot()).eval()
    scorers = {"": build_baseline(name, zero_shot, train, cfg.baseline, cfg.seed, classes)}
    plain = Scorer(zero_shot, train.labels)
    if cfg.eval.zero_shot:
        scorers["zeroshot/"] = plain
    entry: dict[str, Any] = {"epoch": cfg.optim.epochs, "variant": name, "skipped": sum(skipped.values())}
    for prefix, scorer in scorers.items():
        for split, label in (("val", "val"), ("train_eval", "train")):
            if split in splits:
                acc = score_split(scorer, splits[split], cfg.eval.batch_size, cfg.eval.topk, Counter())
                entry.update(flat_metrics(f"{prefix}{label}", acc.metrics()))
    run = Store(f"{cfg.output.storage_path.rstrip('/')}/{cfg.run_name}", cfg.storage)
    class_files: list[str] = []
    if classes:
        class_skipped: Counter = Counter()
        reports = classify_split({"zeroshot": plain, name: scorers[""]}, splits["val"], classes, class_skipped)
        class_files = write_class_outputs(run, reports, class_skipped)
        note_class_f1([entry], reports, name)
        print(f"[{cfg.run_name}] held-out folds {cfg.data.val_folds} over {len(classes)} classes:\n"
              f"{format_reports(reports)}", flush=True)
    rows = history_to_table([entry], cfg.run_name, "+".join(str(f) for f in cfg.data.val_folds))
    metrics = write_metric_files(run, rows, extra={"history": [entry], "config": cfg.model_dump(mode="json")})
    final = {k: v for k, v in entry.items() if not k.startswith("zeroshot/")}
    return {"summary": {"run_dir": run.root, "model": None, "checkpoint": None, "metrics": metrics + class_files[:1],
                        "plots": class_files[1:], "final": final}, "rows": rows}
