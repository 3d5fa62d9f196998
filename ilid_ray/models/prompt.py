"""CoOp: learnable context vectors in front of (or around) the label, through the frozen text encoder.

Unlike CoOp's classification setting there is no fixed class list here: every step brings its own
label texts, so prompts are laid out per call from token ids ([SOT] ctx... label . [EOT]) and the
context vectors are written into the token embeddings at their positions.
"""

from __future__ import annotations

import torch
from torch import nn


def text_encoder_supports_prompts(clip: nn.Module, tokenizer) -> bool:
    """CoOp needs the built-in CLIP text transformer and the BPE tokenizer (ids per word)."""
    from open_clip.tokenizer import SimpleTokenizer

    return isinstance(tokenizer, SimpleTokenizer) and all(
        hasattr(clip, a) for a in ("token_embedding", "positional_embedding", "transformer", "ln_final"))


def encode_token_embeddings(clip: nn.Module, x: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
    """open_clip's `CLIP.encode_text` from the token embeddings on: [M, L, W] -> [M, D] (unnormalised),
    pooled at the given end-of-text positions."""
    cast_dtype = clip.transformer.get_cast_dtype()
    x = x.to(cast_dtype) + clip.positional_embedding.to(cast_dtype)
    x = clip.transformer(x, attn_mask=clip.attn_mask)
    x = clip.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), eot_index]
    projection = clip.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, nn.Linear) else x @ projection


class PromptLearner(nn.Module):
    """One shared context of `n_ctx` vectors, initialised from `ctx_init`'s word embeddings."""

    def __init__(self, token_embedding: nn.Embedding, tokenizer, context_length: int, *,
                 ctx_init: str, n_ctx: int | None, position: str = "end", init_std: float = 0.02):
        super().__init__()
        init_ids = tokenizer.encode(ctx_init) if ctx_init.strip() else []
        n_ctx = n_ctx or len(init_ids)
        if n_ctx < len(init_ids):
            raise ValueError(f"n_ctx={n_ctx} is shorter than ctx_init {ctx_init!r} ({len(init_ids)} tokens)")
        x_id = tokenizer.encode("X")[0]
        self.sot_id, self.eot_id = tokenizer.sot_token_id, tokenizer.eot_token_id
        self.period_ids = tokenizer.encode(".")
        self.tokenizer = tokenizer
        self.context_length = context_length
        self.position = position
        self.n_ctx = n_ctx
        self.max_label_tokens = context_length - 2 - n_ctx - len(self.period_ids)
        if self.max_label_tokens < 1:
            raise ValueError(f"n_ctx={n_ctx} leaves no room for a label in context length {context_length}")
        if init_ids:
            ids = torch.tensor([x_id] * (n_ctx - len(init_ids)) + init_ids,
                               device=token_embedding.weight.device)
            with torch.no_grad():
                ctx = token_embedding(ids).detach().clone().float()
        else:
            ctx = torch.randn(n_ctx, token_embedding.embedding_dim) * init_std
        self.ctx = nn.Parameter(ctx)
        self.x_id = x_id

    def layout(self, labels: list[str], device: torch.device | str
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token ids [M, L] with placeholders where the context goes, context positions [M, n_ctx],
        end-of-text positions [M]. Labels too long for the context are cut (like the tokenizer does)."""
        rows, ctx_positions, eot_positions = [], [], []
        n = self.n_ctx
        for label in labels:
            label_ids = self.tokenizer.encode(label)[: self.max_label_tokens]
            if self.position == "end":
                body = [self.x_id] * n + label_ids
                ctx_pos = list(range(1, 1 + n))
            elif self.position == "front":
                body = label_ids + [self.x_id] * n
                ctx_pos = list(range(1 + len(label_ids), 1 + len(label_ids) + n))
            else:  # middle: half the context, the label, the other half
                half = n // 2
                body = [self.x_id] * half + label_ids + [self.x_id] * (n - half)
                ctx_pos = list(range(1, 1 + half)) + list(
                    range(1 + half + len(label_ids), 1 + n + len(label_ids)))
            ids = [self.sot_id] + body + self.period_ids + [self.eot_id]
            rows.append(ids + [0] * (self.context_length - len(ids)))
            ctx_positions.append(ctx_pos)
            eot_positions.append(len(ids) - 1)
        as_tensor = lambda v: torch.tensor(v, dtype=torch.long, device=device)  # noqa: E731
        return as_tensor(rows), as_tensor(ctx_positions), as_tensor(eot_positions)

    def forward(self, token_embedding: nn.Embedding, ids: torch.Tensor, ctx_positions: torch.Tensor
                ) -> torch.Tensor:
        """Token embeddings [M, L, W] of the laid-out prompts with the learned context in place."""
        x = token_embedding(ids).to(self.ctx.dtype)
        rows = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1)
        return x.index_put((rows, ctx_positions), self.ctx.unsqueeze(0).expand(ids.shape[0], -1, -1))
