"""Typed configuration of a training run, loaded from one YAML file (torchtune style).

`configs/train/paper.yaml` holds the paper's settings (ViT-B/16 openai, Adadelta 0.15, cosine, 3
warm-up epochs at 1e-2, batch 64, test batch 32, 6 folds); `configs/train/tiny-cpu.yaml` a few-minute
CPU demo on the shipped tiny model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ilid_ray.config import RayConfig, StorageConfig, StrictModel, apply_overrides, read_yaml
from ilid_ray.models.variants import VARIANTS, VariantConfig, canonical_variant
from ilid_ray.train.baselines import BASELINES, canonical_baseline


class ModelSection(StrictModel):
    name: str = "ViT-B-16"  # any open_clip model name (or hf-hub:/local-dir: source)
    pretrained: str | None = "openai"  # tag, local weights file, or null (random init: tests only)
    cache_dir: str | None = None  # where tagged weights are looked up (HF cache / open_clip URL cache)
    variant: VariantConfig = Field(default_factory=lambda: VariantConfig(name="coopiata"))


class DataSection(StrictModel):
    root: str = "./ilid-data"  # dataset root: local folder or s3://bucket/prefix
    label_field: str = "label_short"  # any text field of the sample JSON
    max_words: int | None = None  # keep only the first N words of the label
    folds: int = 6
    val_folds: list[int] = Field(default_factory=lambda: [0])
    train_folds: list[int] | None = None  # None: every fold not in val_folds
    batch_size: int = 64  # per worker; the contrastive batch is batch_size x workers
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop scale (reference: 0.08-1.0)
    flip: bool = True
    shuffle_buffer: int = 512  # local shuffle buffer (rows) per worker, on top of shuffled shard order
    max_shards: int | None = None  # read only the first N shards (demos)

    @model_validator(mode="after")
    def _folds(self) -> DataSection:
        bad = [f for f in self.val_folds + (self.train_folds or []) if not 0 <= f < self.folds]
        if bad:
            raise ValueError(f"fold numbers {bad} outside 0..{self.folds - 1}")
        if self.train_folds is not None and set(self.train_folds) & set(self.val_folds):
            raise ValueError("train_folds and val_folds overlap")
        return self

    @property
    def effective_train_folds(self) -> list[int]:
        if self.train_folds is not None:
            return list(self.train_folds)
        return [f for f in range(self.folds) if f not in self.val_folds]


class OptimSection(StrictModel):
    name: Literal["adadelta", "sgd", "adamw"] = "adadelta"
    lr: float = 0.15
    weight_decay: float = 1e-3
    epochs: int = 100
    warmup_epochs: int = 3  # constant warm-up (Dassl's ConstantWarmupScheduler)
    warmup_lr: float = 1e-2
    schedule: Literal["cosine", "constant"] = "cosine"
    momentum: float = 0.9  # sgd only
    amp: bool = True  # mixed precision where a GPU is used (ignored on CPU)


class LossSection(StrictModel):
    # False: the paper's diagonal targets over N x N logits. True: label-level targets, one text
    # column per distinct label of the step, all of a label's images its positives (see train/loss.py)
    multi_positive: bool = False
    # both: CLIP's symmetric loss (image->text and text->image averaged); image_to_text: the
    # reference trainer's one direction (each image picks its text among the step's texts)
    direction: Literal["both", "image_to_text"] = "both"


class ScalingSection(StrictModel):
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0  # leave CPUs for Ray Data's read/augment tasks on small machines
    gpus_per_worker: float = 1.0  # with use_gpu
    label_selector: dict[str, str] | None = None  # node labels for the workers (and the cache encoder)


class FeatureCacheSection(StrictModel):
    """Frozen image encoder -> cache K augmented views per image once; adapters train from it."""

    enabled: bool = False
    views: int = 8
    path: str | None = None  # default: {output.storage_path}/feature-cache
    batch_size: int = 64
    encoder_concurrency: int = 1  # encoder actors (each takes a GPU with scaling.use_gpu)


class EvalSection(StrictModel):
    batch_size: int = 32  # accuracy = the right text among the batch's texts
    topk: list[int] = Field(default_factory=lambda: [1, 3])
    every_epochs: int = 1
    train_split: bool = True  # also score the training folds (eval transform) each time
    zero_shot: bool = True  # zero-shot baseline of the same base model, same splits
    tsne_samples: int = 100
    # a fixed label set (train/classes.py): after training, score the held-out folds against every
    # class text, not the batch's, and write classes.json + confusion PNGs; `class_f1` in the metric
    # rows and the cv table. true: the dataset's labels; a list: those classes (a superset of them)
    classes: bool | list[str] = False

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: bool | list[str]) -> bool | list[str]:
        if isinstance(value, list):
            value = [c.strip() for c in value]
            if len(set(value)) < 2 or not all(value) or len(set(value)) != len(value):
                raise ValueError(f"a fixed label set needs at least two distinct, non-empty classes, got {value}")
        return value


class OutputSection(StrictModel):
    storage_path: str = "./runs"  # local folder or s3://bucket/prefix (Ray Train storage)
    name: str | None = None  # run name (folder); None: {variant}-{label_field}-val{folds}
    checkpoint_every: int = 1  # epochs
    keep_checkpoints: int = 2
    resume_from: str | None = None  # a checkpoint folder to start from (weights + optimizer + epoch)
    progress: bool = True  # per-batch progress bar on rank 0


class BaselineSection(StrictModel):
    """A baseline on the feature cache instead of a CLIP variant (see train/baselines.py)."""

    name: str | None = None  # linearprobe | tipadapter | tipadapterf | lowrank; None: train model.variant
    epochs: int = 50  # linear probe, Tip-Adapter-F and low-rank: passes over every cached view
    lr: float = 1e-3  # AdamW
    weight_decay: float = 1e-4
    batch_size: int = 256
    tip_alpha: float | None = None  # None: chosen on a fold-internal split of the training folds
    tip_beta: float | None = None
    tip_alpha_grid: list[float] = Field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0])
    tip_beta_grid: list[float] = Field(default_factory=lambda: [1.0, 3.0, 5.5, 10.0])
    rank: int = Field(default=4, ge=1)  # low-rank: rank of the image and text residuals

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = canonical_baseline(value)
        if name is None:
            raise ValueError(f"unknown baseline {value!r}; choose one of {list(BASELINES)}")
        return name


def canonical_method(name: str) -> str:
    """A CLIP variant's or a baseline's canonical name (errors list both kinds)."""
    baseline = canonical_baseline(name)
    if baseline:
        return baseline
    try:
        return canonical_variant(name)
    except ValueError:
        raise ValueError(f"unknown variant {name!r}; choose CLIP variants from {list(VARIANTS)} "
                         f"or baselines from {list(BASELINES)}") from None


class CVSection(StrictModel):
    # the paper's variants and/or baselines (linearprobe, tipadapter, tipadapterf, lowrank: need the feature cache)
    variants: list[str] = Field(default_factory=lambda: ["coop", "clipadapter", "coopia", "coopiata"])
    folds: list[int] | None = None  # None: all
    seeds: list[int] | None = None  # repeat every run per seed (mean ± std over seeds); None: [seed]
    max_parallel: int | None = None  # runs at once; None: as many as the cluster's resources allow

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: list[str]) -> list[str]:
        names = [canonical_method(v) for v in value]
        if "zeroshot" in names:
            raise ValueError("zero-shot is the baseline of every run (eval.zero_shot); list trained variants")
        return names


class TrainConfig(StrictModel):
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    loss: LossSection = Field(default_factory=LossSection)
    scaling: ScalingSection = Field(default_factory=ScalingSection)
    feature_cache: FeatureCacheSection = Field(default_factory=FeatureCacheSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    output: OutputSection = Field(default_factory=OutputSection)
    cv: CVSection = Field(default_factory=CVSection)
    baseline: BaselineSection = Field(default_factory=BaselineSection)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    seed: int = 0  # drives initialisation, augmentation, shuffling, view draws and evaluation batches

    @model_validator(mode="after")
    def _baselines_need_the_cache(self) -> TrainConfig:
        wants = [self.baseline.name] if self.baseline.name else [v for v in self.cv.variants if v in BASELINES]
        if wants and not self.feature_cache.enabled:
            raise ValueError(f"baselines {wants} run on the feature cache: set feature_cache.enabled=true")
        return self

    @model_validator(mode="after")
    def _classes_are_whole_labels(self) -> TrainConfig:
        if self.eval.classes and self.data.max_words:
            raise ValueError("eval.classes scores whole labels as the classes: unset data.max_words")
        return self

    @property
    def run_name(self) -> str:
        if self.output.name:
            return self.output.name
        folds = "".join(str(f) for f in self.data.val_folds)
        return f"{self.method}-{self.data.label_field}-val{folds}"

    @property
    def method(self) -> str:
        """What this run trains: the baseline's name if one is set, else the CLIP variant's."""
        return self.baseline.name or self.model.variant.name

    def for_fold(self, variant: str, fold: int, seed: int | None = None) -> TrainConfig:
        """The config of one cross-validation run: `variant` (or baseline) trained with `fold` held
        out; with `seed`, that seed's repetition."""
        data = self.model_dump()
        if variant in BASELINES:
            data["baseline"]["name"] = variant
        else:
            data["model"]["variant"]["name"] = variant
            data["baseline"]["name"] = None
        data["data"]["val_folds"] = [fold]
        data["data"]["train_folds"] = None
        data["feature_cache"]["path"] = self.feature_cache_root  # every fold run shares one cache
        data["output"]["storage_path"] = self.cv_root
        data["output"]["name"] = f"{variant}-fold{fold}" + (f"-seed{seed}" if seed is not None else "")
        if seed is not None:
            data["seed"] = seed
        return TrainConfig.model_validate(data)

    @property
    def feature_cache_root(self) -> str:
        return self.feature_cache.path or f"{self.output.storage_path.rstrip('/')}/feature-cache"

    @property
    def cv_root(self) -> str:
        """Where a cross-validation keeps its runs and its combined table and plots."""
        return f"{self.output.storage_path.rstrip('/')}/{self.output.name or 'cv-' + self.data.label_field}"


def load_train_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    return TrainConfig.model_validate(apply_overrides(read_yaml(path), list(overrides)))


__all__ = ["BASELINES", "TrainConfig", "load_train_config", "VARIANTS"]
