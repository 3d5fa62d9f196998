"""Constraining HF `generate` to the five-field JSON schema with xgrammar.

xgrammar is also vLLM's structured-output backend, so the transformers and vLLM engines decode
under the same grammar. Without it SmolLM2-135M answers a batch with almost no parseable JSON (it
runs to the token cap repeating itself, see MODELS.md); with it every finished answer is a
schema-valid object and a sequence ends as soon as its object closes (the grammar then allows
only the end-of-sequence token).

The processor is written here instead of using `xgrammar.contrib.hf.LogitsProcessor` to (a) mask
only the rows still decoding, (b) fail loudly, not by `assert`, if a token the grammar refused
was chosen, and (c) place sampling after the mask: `generate` runs the processors it builds itself
(temperature, top-p) before user processors, and a top-p cut made before the mask can leave no
allowed token at all. The engine therefore passes temperature/top-p as processors after this one.
"""

from __future__ import annotations

import torch
import transformers
import xgrammar as xgr

from ilid_ray.dataset.extract.schema import schema_json


class SchemaCompiler:
    """JSON schemas (text) compiled for one tokenizer; a schema seen before comes from the cache.
    `vocab_size` is the model's (its logits' width), which can exceed the tokenizer's; the stop
    tokens must be the ones `generate` stops on."""

    def __init__(self, tokenizer, vocab_size: int, stop_token_ids: list[int]):
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)
        self.compiler = xgr.GrammarCompiler(info)

    def compile(self, schema: str | None = None) -> xgr.CompiledGrammar:
        """`schema`: JSON text, default the generic five-field schema."""
        # No free whitespace between JSON tokens: a small model would otherwise fill the budget with it.
        return self.compiler.compile_json_schema(schema or schema_json(), any_whitespace=False, strict_mode=True)


class GrammarConstraint(transformers.LogitsProcessor):
    """Masks, per row of one `generate` call, every token that row's grammar does not allow next.

    One instance per `generate` call: its matchers hold the state of that batch's sequences.
    """

    def __init__(self, grammars: list[xgr.CompiledGrammar]):
        self.matchers = [xgr.GrammarMatcher(grammar) for grammar in grammars]
        self.vocab_size = grammars[0].tokenizer_info.vocab_size
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), self.vocab_size)
        self.started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != len(self.matchers):
            raise RuntimeError(f"grammar built for {len(self.matchers)} sequences, got {input_ids.shape[0]}")
        if self.started:  # feed each live matcher the token chosen at the previous step
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_terminated():
                    token = int(input_ids[row, -1])
                    if not matcher.accept_token(token):
                        raise RuntimeError(f"row {row}: token {token} was generated but the grammar refused it")
        self.started = True
        live = [row for row, matcher in enumerate(self.matchers) if not matcher.is_terminated()]
        for row in live:
            self.matchers[row].fill_next_token_bitmask(self.bitmask, row)
        if live:
            xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device), vocab_size=self.vocab_size,
                                            indices=live)
        return scores
