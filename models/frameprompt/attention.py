"""FramePrompt's causal attention (paper §3.5) as a processor on diffusers' WanAttention.

The paper: target tokens attend only to the preceding context (reference and skeleton), so
information flows from the context to the target and never back. Read as a block mask over frame
groups in sequence order: a query of group g attends to the keys of groups <= g. With the groups
(context = reference + skeleton, target) that is: context tokens attend to context tokens only;
target tokens attend to the context and to the target (the target's own frames stay coherent).
Nothing else changes: cross-attention to text / CLIP is untouched, and with `causal` off the
stock processors run.

Because the groups are ordered along the sequence, a group's keys are a prefix of it: the mask is
applied exactly by attending each group's queries to that prefix, with no (tokens x tokens) mask
tensor (32760^2 booleans at 480p). `block_mask` builds the dense mask for tests.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch


def token_groups(frame_groups: Sequence[int], tokens_per_frame: int) -> list[tuple[int, int]]:
    """(start, end) token ranges of each group; groups must be non-decreasing along the frames."""
    if list(frame_groups) != sorted(frame_groups):
        raise ValueError(f"frame groups must be in sequence order, got {list(frame_groups)}")
    ranges: list[tuple[int, int]] = []
    for i, group in enumerate(frame_groups):
        start, end = i * tokens_per_frame, (i + 1) * tokens_per_frame
        if ranges and frame_groups[i - 1] == group:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def block_mask(frame_groups: Sequence[int], tokens_per_frame: int) -> torch.Tensor:
    """(S, S) bool, True where a query (row) may attend to a key (column): group(key) <= group(query)."""
    ids = torch.tensor(frame_groups).repeat_interleave(tokens_per_frame)
    return ids[None, :] <= ids[:, None]


class GroupCausalAttnProcessor:
    """Self-attention under the block-causal mask of `ranges` (token ranges of the groups in order)."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self.ranges = ranges

    def attend(self, attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(B, S, heads, hd) -> (B, S, heads, hd); also used by the chunked blocks (models/wan/blocks.py)."""
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        if self.ranges[-1][1] != q.shape[1]:
            raise RuntimeError(f"causal attention set for {self.ranges[-1][1]} tokens, called with {q.shape[1]}")
        parts = [dispatch_attention_fn(q[:, start:end], k[:, :end], v[:, :end], attn_mask=None, dropout_p=0.0,
                                       is_causal=False) for start, end in self.ranges]
        return torch.cat(parts, dim=1)

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: Any = None,
                 attention_mask: Any = None, rotary_emb: Any = None) -> torch.Tensor:
        from models.wan.blocks import project

        if encoder_hidden_states is not None or attention_mask is not None:
            raise RuntimeError("the causal processor is for the blocks' self-attention (attn1) only")
        q, k, v = project(attn, hidden_states, rotary_emb)
        out = self.attend(attn, q, k, v).flatten(2, 3).type_as(q)
        return attn.to_out[1](attn.to_out[0](out))


@contextlib.contextmanager
def group_causal(transformer: Any, frame_groups: Sequence[int] | None, tokens_per_frame: int) -> Iterator[None]:
    """Every block's attn1 under the block-causal mask inside the block (None: nothing changes);
    the previous processors come back afterwards (the cached model stays stock)."""
    if frame_groups is None:
        yield
        return
    processor = GroupCausalAttnProcessor(token_groups(frame_groups, tokens_per_frame))
    previous = [(block.attn1, block.attn1.processor) for block in transformer.blocks]
    try:
        for attn, _ in previous:
            attn.set_processor(processor)
        yield
    finally:
        for attn, old in previous:
            attn.set_processor(old)
