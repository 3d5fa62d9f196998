"""The adapted-CLIP library on the shipped tiny open_clip config (random weights, no Ray)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ilid_ray.models import (
    TINY_MODEL,
    VARIANTS,
    AdaptedCLIP,
    PretrainedWeightsMissing,
    VariantConfig,
    canonical_variant,
    checkpoint_info,
    create_frozen_clip,
    load_clip,
    save_trainable,
)
from ilid_ray.models.prompt import encode_token_embeddings

pytestmark = pytest.mark.filterwarnings("ignore:building .* with RANDOM weights")


def tiny(variant: str | VariantConfig = "zeroshot", seed: int = 0) -> AdaptedCLIP:
    cfg = variant if isinstance(variant, VariantConfig) else VariantConfig(name=variant)
    return AdaptedCLIP(create_frozen_clip(TINY_MODEL, None, init_seed=seed), cfg)


def images(n: int = 3) -> torch.Tensor:
    model = tiny()
    colours = ["red", "blue", "green", "yellow", "purple"]
    return torch.stack([model.preprocess(Image.new("RGB", (40, 30), colours[i % 5])) for i in range(n)])


def test_variant_names_and_parts():
    assert canonical_variant("CoOpIATA") == "coopiata"
    assert canonical_variant("CLIP-Adapter") == "clipadapter"
    with pytest.raises(ValueError, match="unknown variant"):
        VariantConfig(name="coopxyz")
    parts = {v: (VariantConfig(name=v).uses_prompt_learner, VariantConfig(name=v).uses_image_adapter,
                 VariantConfig(name=v).uses_text_adapter) for v in VARIANTS}
    assert parts == {"zeroshot": (False, False, False), "coop": (True, False, False),
                     "clipadapter": (False, True, True), "coopia": (True, True, False),
                     "coopiata": (True, True, True)}
    with pytest.raises(ValueError, match="needs a"):
        VariantConfig(template="no placeholder")


def test_only_the_variant_parts_are_trainable():
    expected = {"zeroshot": set(), "coop": {"prompt.ctx"},
                "clipadapter": {"image_adapter.fc.0.weight", "image_adapter.fc.2.weight",
                                "text_adapter.fc.0.weight", "text_adapter.fc.2.weight"},
                "coopia": {"prompt.ctx", "image_adapter.fc.0.weight", "image_adapter.fc.2.weight"}}
    for variant, names in expected.items():
        model = tiny(variant)
        assert set(model.trainable_state_dict()) == names
        assert not any(p.requires_grad for p in model.clip.parameters())


def test_zero_shot_is_open_clip_with_the_template():
    model = tiny()
    x = images(2)
    texts = ["red square", "blue circle"]
    expected_txt = F.normalize(model.clip.encode_text(model.tokenizer(
        [f"a photo of an industrial product {t}" for t in texts])), dim=-1)
    assert torch.allclose(model.encode_texts(texts), expected_txt, atol=1e-5)
    assert torch.allclose(model.encode_images(x), F.normalize(model.clip.encode_image(x), dim=-1), atol=1e-5)
    assert model.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)


def test_prompt_path_matches_open_clip_text_encoder():
    model = tiny("coop")
    ids, _, eot = model.prompt.layout(["red square", "a much longer label with several words"], "cpu")
    via_embeddings = encode_token_embeddings(model.clip, model.clip.token_embedding(ids), eot)
    assert torch.allclose(via_embeddings, model.clip.encode_text(ids), atol=1e-5)


@pytest.mark.parametrize("position", ["end", "middle", "front"])
def test_context_positions(position):
    model = tiny(VariantConfig(name="coop", class_token_position=position, n_ctx=12))
    learner = model.prompt
    assert learner.n_ctx == 12  # 10 init tokens padded with two "X" in front
    label = learner.tokenizer.encode("blue circle")
    ids, ctx_pos, eot = learner.layout(["blue circle"], "cpu")
    row, positions = ids[0].tolist(), ctx_pos[0].tolist()
    assert row[0] == learner.sot_id and row[eot[0]] == learner.eot_id and len(positions) == 12
    rest = [t for i, t in enumerate(row[1:eot[0]], start=1) if i not in positions]
    assert rest == label + learner.period_ids  # the label (and the period) where CoOp puts them
    if position == "end":
        assert positions == list(range(1, 13))
    elif position == "front":
        assert positions[0] == 1 + len(label)
    else:
        assert positions[:6] == list(range(1, 7)) and positions[6] == 7 + len(label)
    # the learned vectors land exactly at those positions
    x = learner(model.clip.token_embedding, ids, ctx_pos)
    assert torch.equal(x[0, positions], learner.ctx.detach())


def test_context_init_from_words_and_gradients_reach_only_trainable_parts():
    model = tiny("coopiata")
    init_ids = torch.tensor(model.tokenizer.encode("X X X X a photo of an industrial product"))
    assert torch.allclose(model.prompt.ctx.detach(), model.clip.token_embedding(init_ids).detach())
    model.train()
    img, txt = model(["red square", "blue circle", "red square"], images=images(3))
    (img @ txt.T).diag().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.trainable_parameters())
    assert all(p.grad is None for p in model.clip.parameters())
    assert not model.clip.training  # frozen towers stay in eval mode


def test_each_distinct_text_is_encoded_once():
    model = tiny("coop")
    seen = []
    hook = model.clip.ln_final.register_forward_hook(lambda mod, inp, out: seen.append(out.shape[0]))
    feats = model.encode_texts(["a", "b", "a", "a", "c"])
    hook.remove()
    assert seen == [3]
    assert torch.equal(feats[0], feats[2]) and torch.equal(feats[0], feats[3])
    assert torch.allclose(feats.norm(dim=-1), torch.ones(5), atol=1e-5)


def test_adapter_ratio_zero_is_clip_itself():
    model = tiny(VariantConfig(name="clipadapter", image_ratio=0.0, text_ratio=0.0))
    plain = tiny("zeroshot")
    x = images(2)
    assert torch.allclose(model.encode_images(x), plain.encode_images(x), atol=1e-5)
    assert torch.allclose(model.encode_texts(["red"]), plain.encode_texts(["red"]), atol=1e-5)


def test_save_load_gives_identical_logits(tmp_path):
    model = tiny("coopiata")
    with torch.no_grad():  # make the trainable state differ from a fresh init
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x, texts = images(3), ["red square", "blue circle", "green cross"]
    before = model.logits(x, texts)
    path = save_trainable(model, tmp_path / "run", extra={"label_field": "material"})
    assert path.name == "model.safetensors"
    for ref in (tmp_path / "run", path):
        loaded = load_clip(str(ref), model_name="ignored", pretrained="ignored", variant="coop")
        assert loaded.variant.name == "coopiata" and loaded.model_name == TINY_MODEL
        assert loaded.checkpoint_extra == {"label_field": "material"}
        assert torch.equal(loaded.logits(x, texts), before)
    assert checkpoint_info(path)["pretrained"] is None
    # a fresh untrained model differs, so the comparison above means something
    assert not torch.allclose(tiny("coopiata").logits(x, texts), before)


def test_checkpoint_on_s3(s3_server):
    from ilid_ray.models import write_checkpoint_to

    model = tiny("clipadapter")
    uri = write_checkpoint_to(model, s3_server.root("models/ca"))
    assert uri.startswith("s3://")
    loaded = load_clip(s3_server.root("models/ca"))
    x = images(2)
    assert torch.equal(loaded.logits(x, ["a", "b"]), model.logits(x, ["a", "b"]))


def test_bad_checkpoints_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no adapted-CLIP checkpoint"):
        load_clip(str(tmp_path / "nothing"))
    (tmp_path / "x.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError):
        load_clip(str(tmp_path / "x.safetensors"))
    model = tiny("coop")
    with pytest.raises(ValueError, match="do not match"):
        tiny("coopia").load_trainable_state_dict(model.trainable_state_dict())


def test_missing_pretrained_weights_say_what_to_download(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PretrainedWeightsMissing) as err:
        load_clip(model_name="ViT-B-16", pretrained="openai")
    text = str(err.value)
    assert "timm/vit_base_patch16_clip_224.openai" in text and "ViT-B-16.pt" in text
    assert "pretrained=/path/to/weights" in text
    with pytest.raises(PretrainedWeightsMissing, match="known tags"):
        load_clip(model_name="ViT-B-16", pretrained="no-such-tag")


def test_local_weights_files(tmp_path):
    """A plain state dict and a TorchScript archive (OpenAI's format) load into the same weights."""
    reference = create_frozen_clip(TINY_MODEL, None, init_seed=3).clip
    torch.save(reference.state_dict(), tmp_path / "weights.pt")
    x, tx = torch.ones(1, 3, 32, 32), torch.zeros(1, 32, dtype=torch.long)
    traced = torch.jit.trace_module(reference, {"encode_image": (x,), "encode_text": (tx,)})
    traced.save(str(tmp_path / "scripted.pt"))
    for name in ("weights.pt", "scripted.pt"):
        loaded = create_frozen_clip(TINY_MODEL, str(tmp_path / name), init_seed=99).clip
        assert all(torch.equal(v, reference.state_dict()[k]) for k, v in loaded.state_dict().items())
