"""The contrastive loss in one process: the paper's diagonal form and the label-level option."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from ilid_ray.train.loss import contrastive_targets, gathered_contrastive_loss, label_ids


def features(n: int, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (F.normalize(torch.randn(n, d, generator=g), dim=-1),
            F.normalize(torch.randn(n, d, generator=g), dim=-1))


def label_level_by_hand(img: torch.Tensor, txt: torch.Tensor, texts: list[str], scale: float) -> torch.Tensor:
    """Reference: softmax over the distinct labels' texts; each label's images share its target mass."""
    labels = list(dict.fromkeys(texts))
    label_txt = torch.stack([txt[texts.index(lab)] for lab in labels])
    own = torch.tensor([labels.index(t) for t in texts])
    image_side = F.cross_entropy(scale * img @ label_txt.T, own)
    members = torch.stack([torch.tensor([float(t == lab) for t in texts]) for lab in labels])
    targets = members / members.sum(1, keepdim=True)
    label_side = -(targets * F.log_softmax(scale * label_txt @ img.T, dim=1)).sum(1).mean()
    return (image_side + label_side) / 2


def test_diagonal_form_equals_open_clip_loss():
    img, txt = features(6)
    texts = [f"label {i}" for i in range(6)]
    ours = gathered_contrastive_loss(img, txt, texts, logit_scale=20.0, multi_positive=False)
    assert torch.allclose(ours, ClipLoss()(img, txt, torch.tensor(20.0)), atol=1e-6)


def test_label_level_form_without_duplicates_is_the_paper_loss():
    img, txt = features(6)
    texts = [f"label {i}" for i in range(6)]
    assert torch.allclose(gathered_contrastive_loss(img, txt, texts, 20.0, multi_positive=True),
                          gathered_contrastive_loss(img, txt, texts, 20.0, multi_positive=False), atol=1e-6)


def test_label_level_form_with_duplicates():
    img, txt = features(6, seed=3)
    texts = ["red square", "blue circle", "red square", "green cross", "blue circle", "red square"]
    txt = torch.stack([txt[texts.index(t)] for t in texts])  # one feature per label text, as the model gives
    img = img.clone().requires_grad_(True)
    ours = gathered_contrastive_loss(img, txt, texts, 10.0, multi_positive=True)
    assert torch.allclose(ours, label_level_by_hand(img, txt, texts, 10.0), atol=1e-6)
    diagonal = gathered_contrastive_loss(img, txt, texts, 10.0, multi_positive=False)
    assert not torch.allclose(ours, diagonal)
    # duplicates aligned with their label's text: in the label-level form the image side can approach
    # zero (one column per label); the diagonal form keeps a floor from the duplicate columns
    aligned = txt.clone()
    assert gathered_contrastive_loss(aligned, txt, texts, 100.0, True) < gathered_contrastive_loss(
        aligned, txt, texts, 100.0, False)
    ours.backward()
    assert img.grad.abs().sum() > 0


def test_diagonal_targets_sit_at_this_workers_offset():
    ids = label_ids(["a", "b", "c"])
    all_ids = label_ids(["x", "y", "a", "b", "c"])
    targets = contrastive_targets(ids, all_ids, 2)
    assert torch.equal(targets[:, 2:], torch.eye(3)) and targets[:, :2].sum() == 0


def test_label_ids_are_stable_and_distinct():
    assert torch.equal(label_ids(["a", "b"]), label_ids(["a", "b"]))
    assert label_ids(["a"]).item() != label_ids(["b"]).item()
    assert (label_ids(["x" * 1000, "y"]) >= 0).all()


def test_image_to_text_direction_is_the_image_half_of_clip_loss():
    img, txt = features(6, seed=1)
    texts = [f"label {i}" for i in range(6)]
    one_way = gathered_contrastive_loss(img, txt, texts, 20.0, direction="image_to_text")
    assert torch.allclose(one_way, F.cross_entropy(20.0 * img @ txt.T, torch.arange(6)), atol=1e-6)
    assert not torch.allclose(one_way, gathered_contrastive_loss(img, txt, texts, 20.0))
    dup = ["a", "b", "a", "c", "b", "a"]
    txt_dup = torch.stack([txt[dup.index(t)] for t in dup])
    label_one_way = gathered_contrastive_loss(img, txt_dup, dup, 10.0, multi_positive=True, direction="image_to_text")
    labels = list(dict.fromkeys(dup))
    own = torch.tensor([labels.index(t) for t in dup])
    label_txt = torch.stack([txt_dup[dup.index(lab)] for lab in labels])
    assert torch.allclose(label_one_way, F.cross_entropy(10.0 * img @ label_txt.T, own), atol=1e-6)
