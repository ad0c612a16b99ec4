"""Chunked token-wise execution of diffusers' Wan transformer blocks: a memory option for every Wan family.

A stock `WanTransformerBlock.forward` holds, besides the residual stream, full-length copies of the
modulated norm, q/k/v, the attention output and the FFN's hidden layer (13824 wide for the 14B
models): about 9.5 x tokens x width alive at its peak. Here every token-wise step (norms,
modulation, projections, RoPE, gated residuals, FFN) runs on `chunk_tokens` tokens at a time and
the residual stream is updated in place, so only x, q, k, v and the attention output exist at
full length (5 units; docs/memory.md). The numbers are the stock block's: same modules, same
dtype casts, same order of operations per token; only the attention call sees the whole sequence.

`install_chunking(transformer)` puts a diffusers `ModelHook` on every Wan block once, at load
time, so that block streaming hooks applied later wrap it; `set_chunking(transformer, n)` turns
it on for a job (None: the stock forward runs). Blocks whose attention processor offers
`attend(attn, q, k, v)` (LDF-VFI's local tile attention) use it for self-attention; a processor
with `self_attention = True` on `attn2` makes the second attention attend to the video tokens
themselves (LDF-VFI has no text).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

HOOK_NAME = "frame_studio_chunked_block"
DEFAULT_CHUNK_TOKENS = 4096


@dataclass
class Modulation:
    """adaLN modulation (shift, scale, gate, c_shift, c_scale, c_gate) of the tokens of one call.

    `values` is (B, G, 6, D) float32 for G groups of tokens; `groups` gives each token's group (S,)
    or is None when every token shares group 0 (Wan 2.1) or G == S (per-token, Wan 2.2 TI2V)."""

    values: torch.Tensor
    groups: torch.Tensor | None = None

    @classmethod
    def from_diffusers(cls, temb: torch.Tensor) -> "Modulation":
        """diffusers passes (B, 6, D) or, with per-token timesteps, (B, S, 6, D)."""
        return cls(temb.unsqueeze(1) if temb.ndim == 3 else temb)

    def rows(self, chunk: slice) -> torch.Tensor:
        """(B, n or 1, 6, D) for the tokens of `chunk`."""
        if self.groups is not None:
            return self.values[:, self.groups[chunk]]
        if self.values.shape[1] == 1:
            return self.values
        return self.values[:, chunk]


def is_wan_block(module: torch.nn.Module) -> bool:
    """diffusers' Wan blocks (WanTransformerBlock in transformer_wan and transformer_wan_animate)."""
    return type(module).__name__ == "WanTransformerBlock" and all(
        hasattr(module, name) for name in ("norm1", "attn1", "attn2", "norm2", "ffn", "norm3", "scale_shift_table"))


def _chunks(length: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, length)) for i in range(0, length, size)]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's rotary embedding on (B, n, heads, hd) with diffusers' interleaved cos/sin tables
    (1, n, 1, hd): pairs (x1, x2) rotate by the angle stored at their even / odd positions."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)


def project(attn: Any, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v (B, n, heads, hd) of a self-attention over `h` (B, n, D), as WanAttnProcessor does."""
    q = attn.norm_q(attn.to_q(h)).unflatten(2, (attn.heads, -1))
    k = attn.norm_k(attn.to_k(h)).unflatten(2, (attn.heads, -1))
    v = attn.to_v(h).unflatten(2, (attn.heads, -1))
    if rope is not None:
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    return q, k, v


def attend(attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, S, heads, hd) attention through the block's processor if it has its own kernel (local
    tiles), else diffusers' dispatcher (so `diffusers.attention_backend(...)` applies)."""
    processor = attn.processor
    if hasattr(processor, "attend"):
        return processor.attend(attn, q, k, v)
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    return dispatch_attention_fn(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 backend=getattr(processor, "_attention_backend", None))


def _self_attention(x: torch.Tensor, attn: Any, pre: Any, gate: Any, rope: Any, chunks: list[slice]) -> None:
    """x += [gate *] out_proj(attention(pre(x))) in place; `pre(chunk)` gives the normed input."""
    shape = (*x.shape[:2], attn.heads, x.shape[2] // attn.heads)
    q, k, v = x.new_empty(shape), x.new_empty(shape), x.new_empty(shape)
    for c in chunks:
        r = (rope[0][:, c], rope[1][:, c]) if rope is not None else None
        q[:, c], k[:, c], v[:, c] = project(attn, pre(c), r)
    out = attend(attn, q, k, v)
    del q, k, v
    for c in chunks:
        y = attn.to_out[1](attn.to_out[0](out[:, c].flatten(2, 3).type_as(x)))
        if gate is None:
            x[:, c] = x[:, c] + y
        else:
            x[:, c] = (x[:, c].float() + y * gate(c)).type_as(x)


@torch.no_grad()
def run_block(block: Any, x: torch.Tensor, context: torch.Tensor | None, mod: Modulation,
              rope: tuple[torch.Tensor, torch.Tensor] | None, chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> torch.Tensor:
    """One Wan block on x (B, S, D), chunked; x is updated in place and returned."""
    chunks = _chunks(x.shape[1], max(1, int(chunk_tokens)))
    table = block.scale_shift_table.float()

    def part(c: slice, index: int) -> torch.Tensor:
        return (table[:, index].unsqueeze(1) + mod.rows(c)[:, :, index].float())  # (B, n or 1, D)

    # 1. self-attention with RoPE, gated
    _self_attention(x, block.attn1,
                    lambda c: (block.norm1(x[:, c].float()) * (1 + part(c, 1)) + part(c, 0)).type_as(x),
                    lambda c: part(c, 2), rope, chunks)
    # 2. cross-attention to the context (no gate); LDF-VFI's processor makes it self-attention
    if getattr(block.attn2.processor, "self_attention", False):
        _self_attention(x, block.attn2, lambda c: block.norm2(x[:, c].float()).type_as(x), None, None, chunks)
    else:
        for c in chunks:  # queries are independent: chunking the cross-attention changes nothing
            x[:, c] = x[:, c] + block.attn2(block.norm2(x[:, c].float()).type_as(x), context, None, None)
    # 3. feed-forward, modulated and gated
    for c in chunks:
        h = (block.norm3(x[:, c].float()) * (1 + part(c, 4)) + part(c, 3)).type_as(x)
        x[:, c] = (x[:, c].float() + block.ffn(h).float() * part(c, 5)).type_as(x)
    return x


class ChunkedBlockHook:
    """diffusers ModelHook: runs `run_block` when chunking is on, the block's own forward otherwise."""

    _is_stateful = False

    def __init__(self) -> None:
        self.chunk_tokens: int | None = None
        self.fn_ref: Any = None

    # ModelHook interface (duck-typed: diffusers calls these)
    def initialize_hook(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def deinitalize_hook(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def pre_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> tuple[tuple, dict]:
        return args, kwargs

    def post_forward(self, module: torch.nn.Module, output: Any) -> Any:
        return output

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def new_forward(self, module: torch.nn.Module, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                    temb: torch.Tensor, rotary_emb: Any = None) -> torch.Tensor:
        if self.chunk_tokens is None or torch.is_grad_enabled():
            return self.fn_ref.original_forward(hidden_states, encoder_hidden_states, temb, rotary_emb)
        # In place on the caller's tensor: diffusers' block loops rebind it to the block's output, so
        # nothing reads the input again (a copy would cost one more full-length tensor). Step
        # caches that keep block inputs are refused by `set_chunking`.
        return run_block(module, hidden_states, encoder_hidden_states, Modulation.from_diffusers(temb),
                         rotary_emb, self.chunk_tokens)


def install_chunking(transformer: torch.nn.Module) -> int:
    """Hook every Wan block of `transformer` (once; call before any placement hooks). Returns the count."""
    from diffusers.hooks import HookRegistry

    count = 0
    for module in transformer.modules():
        if is_wan_block(module):
            registry = HookRegistry.check_if_exists_or_initialize(module)
            if registry.get_hook(HOOK_NAME) is None:
                registry.register_hook(ChunkedBlockHook(), HOOK_NAME)
            count += 1
    return count


def set_chunking(transformer: torch.nn.Module, chunk_tokens: int | None) -> None:
    """Chunk every hooked block by `chunk_tokens` tokens (None: the stock forward)."""
    if chunk_tokens is not None:
        cached = [name for module in transformer.modules() if getattr(module, "_diffusers_hook", None)
                  for name in module._diffusers_hook.hooks if "cache" in name]
        if cached:
            raise ValueError(f"chunked blocks update activations in place and cannot run under step caches "
                             f"({sorted(set(cached))}); turn the cache or the chunking off")
    for module in transformer.modules():
        registry = getattr(module, "_diffusers_hook", None)
        hook = registry.get_hook(HOOK_NAME) if registry is not None else None
        if hook is not None:
            hook.chunk_tokens = chunk_tokens
