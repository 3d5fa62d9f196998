"""Descriptions stored with a dataset version, and `model.variant.descriptions` resolved for training.

    {root}/prompts/descriptions-v0003-label_short.json
        {"format", "version", "field", "engine", "model", "prompt_version", "count", "max_words",
         "max_new_tokens", "decoding", "seed", "created_at", "labels",
         "descriptions": {label: [text, ...]}, "rejects": {label: {"reason", "raw"}},
         "notes": {label: [what was dropped from its answer]}}

Named after the version and the described field (describing `material` must not overwrite the
labels' file); written through `Store`, so local roots and s3:// work alike. Training reads the
file once, on the driver, and puts the `{label: [texts]}` it holds into the variant config
(`with_descriptions`): every worker, every cross-validation run and the checkpoint then carry the
very texts that were embedded, and serving needs no dataset.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ilid_ray.config import StorageConfig
from ilid_ray.prompts.describe import FORMAT, DescribeConfig, describe_labels
from ilid_ray.storage import Store

if TYPE_CHECKING:
    from ilid_ray.train.config import TrainConfig

DATASET = "dataset"  # model.variant.descriptions: the trained dataset version's own file


def descriptions_name(version: str, field: str) -> str:
    return f"prompts/descriptions-{version}-{field}.json"


def version_labels(store: Store, version: str | int | None, field: str) -> tuple[str, list[str]]:
    """(version name, distinct whitespace-normalised values of `field`) of a committed version."""
    from ilid_ray.dataset.manifest import Versions, version_name

    versions = Versions(store)
    number = versions.resolve(version)
    table = versions.manifest(number)
    text_fields = [f.name for f in table.schema if str(f.type) == "string"]
    if field not in table.column_names:
        raise ValueError(f"the manifest has no field {field!r}; describe one of {text_fields}")
    labels = sorted({" ".join(str(v).split()) for v in table.column(field).to_pylist() if v and str(v).strip()})
    if not labels:
        raise ValueError(f"{version_name(number)} of {store.root} has no {field} values to describe")
    return version_name(number), labels


def describe_version(root: str, version: str | int | None, cfg: DescribeConfig,
                     storage: StorageConfig | None = None) -> tuple[dict[str, Any], str]:
    """Describe every distinct `cfg.field` value of a version and store the document with it;
    returns (document, where it was written)."""
    store = Store(root, storage)
    name, labels = version_labels(store, version, cfg.field)
    doc = {"version": name, **describe_labels(labels, cfg)}
    return doc, write_descriptions(doc, store.uri(descriptions_name(name, cfg.field)), storage)


def _split(location: str) -> tuple[str, str]:
    folder, _, name = location.rstrip("/").rpartition("/")
    return folder or ".", name


def write_descriptions(doc: dict[str, Any], location: str, storage: StorageConfig | None = None) -> str:
    """Write a document to a file path or s3:// URL (atomically, through `Store`); returns its URI."""
    folder, name = _split(location)
    store = Store(folder, storage)
    store.put_bytes(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8"), name)
    return store.uri(name)


def read_descriptions(location: str, storage: StorageConfig | None = None) -> dict[str, Any]:
    """A descriptions document from a file path or s3:// URL; refuses other JSON."""
    folder, name = _split(location)
    try:
        doc = json.loads(Store(folder, storage).get_bytes(name))
    except FileNotFoundError:
        raise FileNotFoundError(f"no descriptions file at {location}: write one with `ilid prompts describe`") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("descriptions"), dict):
        raise ValueError(f"{location} is not a descriptions file ({FORMAT}) written by `ilid prompts describe`")
    return doc


def dataset_descriptions_uri(root: str, field: str, storage: StorageConfig | None = None) -> str:
    """Where the latest version's descriptions of `field` are (training reads the latest version)."""
    from ilid_ray.dataset.manifest import Versions, version_name

    store = Store(root, storage)
    latest = Versions(store).latest()
    if latest is None:
        raise FileNotFoundError(f"model.variant.descriptions={DATASET!r} needs a committed dataset version at "
                                f"{store.root}; give the path of a descriptions file instead")
    return store.uri(descriptions_name(version_name(latest), field))


def class_descriptions(doc: dict[str, Any], field: str, max_words: int | None) -> dict[str, list[str]]:
    """{label text as training sees it: [descriptions]}; labels cut to `max_words` words that
    coincide pool their descriptions."""
    from ilid_ray.train.data import label_text

    if doc.get("field") != field:
        raise ValueError(f"the descriptions describe {doc.get('field')!r} but data.label_field is {field!r}: "
                         f"run `ilid prompts describe --field {field}`")
    pooled: dict[str, list[str]] = {}
    for label, texts in doc["descriptions"].items():
        bucket = pooled.setdefault(label_text({field: label}, field, max_words), [])
        bucket += [t for t in texts if t not in bucket]
    return pooled


def with_descriptions(cfg: TrainConfig) -> TrainConfig:
    """`model.variant.descriptions` as a path or "dataset" -> the config with the mapping it names
    (a mapping already there is kept)."""
    from ilid_ray.train.config import TrainConfig

    source = cfg.model.variant.descriptions
    if not isinstance(source, str):
        return cfg
    location = (dataset_descriptions_uri(cfg.data.root, cfg.data.label_field, cfg.storage) if source == DATASET
                else source)
    mapping = class_descriptions(read_descriptions(location, cfg.storage), cfg.data.label_field, cfg.data.max_words)
    if not mapping:
        raise ValueError(f"{location} holds no descriptions (every label was rejected: see its rejects)")
    data = cfg.model_dump()
    data["model"]["variant"]["descriptions"] = mapping
    return TrainConfig.model_validate(data)
