"""Activation ledgers of the Wan DiT and VAE (used by every Wan family's memory profile)."""
from __future__ import annotations

from memory.activations import ActivationEstimate, fp32_factor


def wan_tokens(width: int, height: int, frames: int, patch: tuple[int, int, int] = (1, 2, 2)) -> int:
    latent_frames = (frames - 1) // 4 + 1
    return (latent_frames // patch[0]) * (height // 8 // patch[1]) * (width // 8 // patch[2])


def wan_dit_activation(tokens: int, context_tokens: int, dim: int, ffn_dim: int, itemsize: int,
                       head_dim: int = 128, what: str = "Wan transformer forward") -> ActivationEstimate:
    """Peak of a diffusers Wan block (its norms and residual adds run in fp32, f = 4/s):
      FFN  : 4 + 2r     block input (held by the caller), hidden, modulated norm3, ffn proj, GELU
      norm : 2 + 2f     input, hidden, LayerNorm and modulation temporaries in fp32
      attn : 6 + 2f     input, norm, q, k, v, SDPA out; fp32 temporaries of RoPE / RMSNorm
    with r = ffn_dim / dim, plus the fp32 RoPE tables (cos, sin) and the cross-attention keys and
    values of `context_tokens`.
    """
    unit = tokens * dim * itemsize
    f = fp32_factor(itemsize)
    r = ffn_dim / dim
    peaks = {"ffn": 4 + 2 * r, "norm": 2 + 2 * f, "attn": 6 + 2 * f}
    units = max(peaks.values())
    terms = {"block_peak": int(units * unit), "rope_tables": tokens * head_dim * 8,
             "context_kv": 2 * context_tokens * dim * itemsize}
    formula = (f"A*max(4+2r, 2+2f, 6+2f) + L*hd*8 + 2*Lctx*D*s; A={tokens}*{dim}*{itemsize}, "
               f"r={r:.2f}, f={f:g}")
    return ActivationEstimate(what, sum(terms.values()), terms, formula)


