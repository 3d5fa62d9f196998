"""In-batch contrastive loss over features gathered from every worker (OpenCLIP's local-loss form).

Each worker scores its own B images against all N texts of the step (and texts against all N
images), N = the batch summed over workers. Features are all-gathered *with* gradients, so a worker's
loss also sends gradient to the features other workers computed. Every worker's loss is its rows'
cross-entropies divided by the global counts, so the workers' losses add up to the single-process
loss on the concatenated batch; gradients of the trainable parameters are then summed over workers
(`sum_gradients`) and equal the single-process gradients exactly, whatever the per-worker sizes.

Two target forms:
- diagonal (the paper's, `multi_positive=False`): logits N x N, sample i's positive is column i.
- label-level (`multi_positive=True`): one text column per distinct label of the step. An image's
  positive is its label's column; a label's positives are all its images (soft targets). Why not
  soft targets over the N x N logits: a label's text feature is the same for all its samples, so
  duplicate columns are identical and soft N x N targets give exactly the diagonal loss. Here the
  duplicates are one positive instead of competing copies in every softmax.

Directions: `both` (CLIP's symmetric loss: image->text and text->image, averaged) or
`image_to_text` (what the reference trainer optimises: each image picks its text, nothing else).
"""

from __future__ import annotations

import hashlib

import torch
import torch.distributed as dist
import torch.nn.functional as F


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def label_ids(texts: list[str]) -> torch.Tensor:
    """A stable 63-bit id per text, so labels can be compared across workers as a tensor."""
    return torch.tensor([int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "big") >> 1
                         for t in texts], dtype=torch.long)


def _all_sizes(n: int, device: torch.device) -> list[int]:
    local = torch.tensor([n], device=device, dtype=torch.long)
    sizes = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, local)
    return [int(s.item()) for s in sizes]


def _gather_padded(x: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[: x.shape[0]] = x
    out = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(out, padded.contiguous())
    return [o[:n] for o, n in zip(out, sizes)]


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 (sizes may differ per worker); backward sums every worker's gradient
    of the gathered tensor and returns this worker's rows (all_reduce works on every backend)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int]):
        ctx.sizes, ctx.rank = sizes, dist.get_rank()
        return torch.cat(_gather_padded(x, sizes))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None


class Gathered:
    """Every worker's rows of a step, and where this worker's rows sit among them."""

    def __init__(self, n_local: int, device: torch.device):
        if distributed():
            self.sizes = _all_sizes(n_local, device)
            self.offset = sum(self.sizes[: dist.get_rank()])
        else:
            self.sizes, self.offset = [n_local], 0
        self.total = sum(self.sizes)

    def with_grad(self, x: torch.Tensor) -> torch.Tensor:
        return _GatherWithGrad.apply(x, self.sizes) if distributed() else x

    def no_grad(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(_gather_padded(x, self.sizes)) if distributed() else x


def contrastive_targets(local_ids: torch.Tensor, all_ids: torch.Tensor, offset: int) -> torch.Tensor:
    """[B, N] one-hot diagonal targets of this worker's rows within the gathered batch."""
    targets = torch.zeros(local_ids.shape[0], all_ids.shape[0], device=local_ids.device)
    targets[torch.arange(local_ids.shape[0]), offset + torch.arange(local_ids.shape[0])] = 1.0
    return targets


def _soft_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum()


def diagonal_loss_share(image_local: torch.Tensor, text_local: torch.Tensor, image_all: torch.Tensor,
                        text_all: torch.Tensor, ids: torch.Tensor, all_ids: torch.Tensor, offset: int,
                        logit_scale: float, symmetric: bool = True) -> torch.Tensor:
    """The paper's form: (CE image->texts + CE text->images) over this worker's rows / 2N, or the
    image->texts term alone / N."""
    targets = contrastive_targets(ids, all_ids, offset)
    total = all_ids.shape[0]
    image_side = _soft_ce(logit_scale * image_local @ text_all.T, targets)
    if not symmetric:
        return image_side / total
    return (image_side + _soft_ce(logit_scale * text_local @ image_all.T, targets)) / (2 * total)


def label_loss_share(image_local: torch.Tensor, image_all: torch.Tensor, text_all: torch.Tensor,
                     all_ids: torch.Tensor, offset: int, logit_scale: float, symmetric: bool = True) -> torch.Tensor:
    """Label-level form over the step's distinct labels (M of them):
    mean over images of CE(image -> M label texts) + mean over labels of soft CE(label -> its images),
    halved; this worker takes its own images and the labels whose first sample it holds."""
    n_local = image_local.shape[0]
    unique_ids, inverse = torch.unique(all_ids, return_inverse=True)
    m = unique_ids.shape[0]
    positions = torch.arange(all_ids.shape[0], device=all_ids.device)
    first = torch.full((m,), all_ids.shape[0], device=all_ids.device, dtype=torch.long)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    label_text = text_all[first]  # [M, D]: every copy of a label's feature is the same
    image_to_label = F.one_hot(inverse[offset:offset + n_local], m).float()
    image_side = _soft_ce(logit_scale * image_local @ label_text.T, image_to_label) / all_ids.shape[0]
    if not symmetric:
        return image_side
    mine = (first >= offset) & (first < offset + n_local)
    members = (inverse[None, :] == torch.arange(m, device=all_ids.device)[:, None]).float()[mine]
    label_side = _soft_ce(logit_scale * label_text[mine] @ image_all.T,
                          members / members.sum(dim=1, keepdim=True)) / m
    return (image_side + label_side) / 2


def gathered_contrastive_loss(image_features: torch.Tensor, text_features: torch.Tensor, texts: list[str],
                              logit_scale: float, multi_positive: bool = False,
                              direction: str = "both") -> torch.Tensor:
    """This worker's share of the step's contrastive loss (shares sum to the full-batch loss).

    `image_features[i]` and `text_features[i]` (normalised) belong to sample i with label `texts[i]`.
    """
    device = image_features.device
    gathered = Gathered(image_features.shape[0], device)
    ids = label_ids(texts).to(device)
    all_ids = gathered.no_grad(ids)
    if gathered.total == 0:  # every worker's batch was unusable: a zero step that still backpropagates
        return (image_features.sum() + text_features.sum()) * 0.0
    if direction not in ("both", "image_to_text"):
        raise ValueError(f"loss direction {direction!r}: use 'both' or 'image_to_text'")
    symmetric = direction == "both"
    image_all, text_all = gathered.with_grad(image_features), gathered.with_grad(text_features)
    if multi_positive:
        return label_loss_share(image_features, image_all, text_all, all_ids, gathered.offset, logit_scale,
                                symmetric)
    return diagonal_loss_share(image_features, text_features, image_all, text_all, ids, all_ids,
                               gathered.offset, logit_scale, symmetric)


def sum_gradients(params: list[torch.nn.Parameter]) -> None:
    """Sum the trainable gradients over workers (one flat all-reduce; the frozen towers never travel)."""
    if not distributed():
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    start = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[start:start + n].view_as(p).clone()
        start += n


def sum_scalar(value: float, device: torch.device) -> float:
    """Sum of a per-worker number over workers (e.g. the loss shares)."""
    if not distributed():
        return float(value)
    t = torch.tensor([float(value)], device=device, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())
