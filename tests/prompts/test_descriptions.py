"""`ilid prompts describe` and CuPL class texts: parsing, storage, the averaged embedding, the real LLM."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from ilid_ray.cli import main
from ilid_ray.dataset.manifest import LATEST, write_parquet
from ilid_ray.models import TINY_MODEL, AdaptedCLIP, VariantConfig, create_frozen_clip, load_clip, save_trainable
from ilid_ray.models.adapters import residual_mix
from ilid_ray.prompts.describe import (FORMAT, DescribeConfig, descriptions_schema, parse_descriptions,
                                       prompt_version)
from ilid_ray.prompts.files import descriptions_name, read_descriptions, with_descriptions
from ilid_ray.records import MANIFEST_SCHEMA
from ilid_ray.storage import Store
from ilid_ray.testing.textures import TextureSpec, write_texture_dataset
from ilid_ray.train.config import TrainConfig
from ilid_ray.train.data import iter_local_samples


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("answer, reason", [
    (None, "empty answer"),
    ("   ", "empty answer"),
    ("I cannot describe that.", "no JSON object with a descriptions list"),
    ('{"descriptions": "a striped cloth"}', "descriptions is a str, not a list"),
    ('{"text": ["a striped cloth"]}', "no JSON object with a descriptions list"),
    ('{"descriptions": [1, "", "' + "word " * 30 + '"]}',
     "no usable description (description 1 is not text; description 2 is empty; description 3 has 30 words"),
    ('{"descriptions": ["a striped cloth", "A STRIPED CLOTH"', "no JSON object with a descriptions list"),  # cut off
])
def test_answers_that_do_not_parse_are_rejects_with_a_reason(answer, reason):
    parsed = parse_descriptions(answer, "striped", count=3, max_words=20)
    assert parsed.texts is None and parsed.error.startswith(reason), parsed.error


def test_usable_descriptions_are_kept_named_bounded_and_distinct():
    answer = ('Sure! {"descriptions": ["A striped cloth with thin bands.", "a STRIPED cloth with thin bands.", '
              '"Alternating dark and light bands", "A third, beyond the count.",]} done')
    parsed = parse_descriptions(answer, "striped", count=2, max_words=20)
    assert parsed.texts == ["A striped cloth with thin bands.", "striped: Alternating dark and light bands"]
    assert "description 2 repeats an earlier one" in parsed.notes
    assert any("beyond the 2 asked for" in note for note in parsed.notes)


def test_the_schema_bounds_count_and_words_and_the_prompt_version_follows_it():
    schema = json.loads(descriptions_schema(3, 12))["properties"]["descriptions"]
    assert schema["minItems"] == schema["maxItems"] == 3 and "{0,11}" in schema["items"]["pattern"]
    assert prompt_version(3, 12) != prompt_version(3, 20) and prompt_version(3, 12) == prompt_version(3, 12)


def test_the_rules_engine_cannot_write_descriptions(tmp_path):
    with pytest.raises(ValueError, match="rules.*not an LLM"):
        DescribeConfig.model_validate({"extract": {"engine": "rules"}})
    result = CliRunner().invoke(main, ["prompts", "describe", "--root", str(tmp_path), "--engine", "rules"])
    assert result.exit_code == 1 and "not an LLM" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- class embeddings
def tiny(variant: VariantConfig) -> AdaptedCLIP:
    return AdaptedCLIP(create_frozen_clip(TINY_MODEL, None, init_seed=0), variant).eval()


def raw_text(model: AdaptedCLIP, texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return model.clip.encode_text(model.tokenizer(texts)).float()


DESCRIBED = {"striped": ["a striped cloth with thin bands", "striped: alternating dark and light bands",
                         "a close-up of a striped surface"]}


def test_a_described_class_is_the_normalised_mean_of_its_normalised_description_embeddings():
    model = tiny(VariantConfig(name="zeroshot", descriptions=DESCRIBED))
    feats = model.encode_texts(["striped", "dotted", "striped"])
    expected = F.normalize(F.normalize(raw_text(model, DESCRIBED["striped"]), dim=-1).mean(dim=0), dim=-1)
    assert torch.allclose(feats[0], expected, atol=1e-6) and torch.equal(feats[0], feats[2])
    template = F.normalize(raw_text(model, [model.variant.template.format("dotted")])[0], dim=-1)
    assert torch.allclose(feats[1], template, atol=1e-6)  # no descriptions: the template
    plain = tiny(VariantConfig(name="zeroshot")).encode_texts(["striped"])[0]
    assert not torch.allclose(plain, expected, atol=1e-3)


def test_clip_adapter_adapts_the_averaged_class_embedding_and_checkpoints_keep_the_texts(tmp_path):
    model = tiny(VariantConfig(name="clipadapter", descriptions=DESCRIBED))
    with torch.no_grad():
        for p in model.text_adapter.parameters():
            p.copy_(torch.rand_like(p))
        mean = F.normalize(raw_text(model, DESCRIBED["striped"]), dim=-1).mean(dim=0, keepdim=True)
        expected = F.normalize(residual_mix(mean, model.text_adapter, model.variant.text_ratio), dim=-1)[0]
        assert torch.allclose(model.encode_texts(["striped"])[0], expected, atol=1e-5)
    loaded = load_clip(str(save_trainable(model, tmp_path / "ckpt")))
    assert loaded.variant.descriptions == DESCRIBED
    assert torch.allclose(loaded.encode_texts(["striped", "dotted"]), model.encode_texts(["striped", "dotted"]),
                          atol=1e-6)
    assert loaded.variant.zero_shot().descriptions == DESCRIBED  # the run's zero-shot baseline scores them too


def test_a_file_reference_must_be_read_before_a_model_is_built():
    with pytest.raises(ValueError, match="names a file"):
        tiny(VariantConfig(name="zeroshot", descriptions="dataset"))


# --------------------------------------------------------------------------- storage and resolution
def versioned_textures(root: str, samples: int = 12) -> list[str]:
    """The texture task in one shard, committed as version v0001 (its manifest written directly)."""
    [shard] = write_texture_dataset(root, TextureSpec(samples=samples, image_size=16, shard_size=samples))["shards"]
    rows = [{"id": r["key"], "key": r["key"], "shard": shard, "fold": int(r["fold"]), **json.loads(r["meta"])}
            for r in iter_local_samples(root, None, "label_short")]
    store = Store(root)
    write_parquet(store, pa.Table.from_pylist([{n: row.get(n) for n in MANIFEST_SCHEMA.names} for row in rows],
                                              schema=MANIFEST_SCHEMA), "manifest/v0001.parquet")
    store.put_bytes(b"v0001", LATEST)
    return sorted({row["label_short"] for row in rows})


def train_config(root: str, descriptions, **data) -> TrainConfig:
    return TrainConfig.model_validate({"model": {"name": TINY_MODEL, "pretrained": None,
                                                 "variant": {"name": "clipadapter", "descriptions": descriptions}},
                                       "data": {"root": root, **data}})


def test_a_descriptions_file_resolves_by_path_pooling_cut_labels_and_refusing_another_field(tmp_path):
    doc = {"format": FORMAT, "field": "label_long", "descriptions": {
        "striped textured surface": ["a striped surface"], "striped cloth": ["a striped cloth", "a striped surface"]}}
    (tmp_path / "d.json").write_text(json.dumps(doc))
    cfg = with_descriptions(train_config(str(tmp_path), str(tmp_path / "d.json"), label_field="label_long",
                                         max_words=1))
    assert cfg.model.variant.descriptions == {"striped": ["a striped surface", "a striped cloth"]}
    assert with_descriptions(cfg) == cfg  # already texts: kept
    with pytest.raises(ValueError, match="describe 'label_long' but data.label_field is 'label_short'"):
        with_descriptions(train_config(str(tmp_path), str(tmp_path / "d.json")))
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="not a descriptions file"):
        read_descriptions(str(tmp_path / "other.json"))
    with pytest.raises(FileNotFoundError, match="needs a committed dataset version"):
        with_descriptions(train_config(str(tmp_path), "dataset"))


@pytest.mark.slow
def test_describe_writes_the_versions_descriptions_to_s3_and_training_reads_them(s3_server):
    """The real embedded SmolLM2 (transformers engine) on the texture task's labels, stored on S3."""
    root = s3_server.root("describe-e2e")
    labels = versioned_textures(root)
    result = CliRunner().invoke(main, ["prompts", "describe", "--root", root, "--count", "2", "--max-words", "12",
                                       "-o", "extract.max_new_tokens=64"])
    assert result.exit_code == 0, result.output
    doc = read_descriptions(Store(root).uri(descriptions_name("v0001", "label_short")))
    assert doc["version"] == "v0001" and doc["field"] == "label_short" and doc["engine"] == "transformers"
    assert "SmolLM2-135M-Instruct" in doc["model"] and doc["prompt_version"] == prompt_version(2, 12)
    assert doc["max_new_tokens"] == 64 and doc["labels"] == len(labels)
    assert sorted([*doc["descriptions"], *doc["rejects"]]) == labels
    assert doc["descriptions"], doc["rejects"]  # greedy decoding: the same answers every run
    for label, texts in doc["descriptions"].items():
        assert 1 <= len(texts) <= 2 and all(label in t and len(t.split()) <= 12 + 1 for t in texts)
    assert all(r["reason"] for r in doc["rejects"].values())
    cfg = with_descriptions(train_config(root, "dataset"))
    assert cfg.model.variant.descriptions == doc["descriptions"]
