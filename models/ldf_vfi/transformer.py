"""LDF-VFI's denoiser: a Wan2.1-1.3B DiT over a grid of space-time tiles, without text conditioning.

Parameter names and shapes are those of diffusers' `WanTransformer3DModel` minus
`condition_embedder.text_embedder.*` (checked against ../shared/manifests/ldf_vfi_transformer.json
by tests/test_ldf_vfi_manifest.py), so the released `transformer/` folder loads with no renaming.

What differs from a stock Wan DiT (facts from xypeng9903/LDF-VFI training/models/transformer_wan.py):
- Input is a tile grid `(B, nT, nH, nW, C, T, H, W)`; every tile is patch-embedded on its own and
  the tokens are ordered tile-major `(nt, nh, nw, t, h, w)`. RoPE positions are global over the
  whole grid (tile index * tile size + offset), so tiles know where they are.
- One timestep per tile (`timestep` is `(B, nT, nH, nW)`): each tile gets its own adaLN
  modulation. This is how context tiles sit at the low noise level t_cond while the others are
  sampled ("per-tile noise levels").
- No text: `attn2` keeps its parameters but attends to the video tokens themselves (query, key and
  value all from `norm2(x)`), without RoPE and without a gate, under the same tile mask as `attn1`.
- Attention is local between neighbouring tiles (see `attention.py`).

Timesteps are given on the 0..1000 scale; the sampler passes `int(t * 1000)` like the reference.

Memory (inference only; blocks work in place): everything token-wise (norms, modulation, q/k/v
projections, RoPE, output projection, gated residuals, FFN) runs on chunks of `CHUNK_TILES` tiles,
so besides the residual stream x only q, k, v and the attention output exist at full size
(5 x tokens x dim in the compute dtype); the attention itself gathers at most the window's tiles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import FeedForward
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import FP32LayerNorm
from torch import nn

from models.ldf_vfi.attention import Backend, TileGrid, Window, local_attention

# Token-wise work is done this many tiles at a time: the FFN's hidden layer (8960 wide) and the
# float32 temporaries of norms/modulation/RoPE then stay small whatever the resolution.
CHUNK_TILES = 8


class FP32RMSNorm(nn.Module):
    """RMS norm over the last dim, computed in float32 (parameter: `weight`)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x32 * self.weight.float()).to(x.dtype)


@dataclass
class RopeTables:
    """Per-axis complex rotations for a tile grid: t (nT*Tp, .), h (nH*Hp, .), w (nW*Wp, .)."""

    tiles: tuple[int, int, int]
    tile_shape: tuple[int, int, int]
    per_axis: tuple[torch.Tensor, torch.Tensor, torch.Tensor]

    def for_tiles(self, first: int, stop: int) -> torch.Tensor:
        """Rotations of the tokens of tiles [first, stop) in tile-major order: (n, D, 1, hd/2)."""
        nt, nh, nw = self.tiles
        tp, hp, wp = self.tile_shape
        index = torch.arange(first, stop)
        it, ih, iw = index // (nh * nw), (index // nw) % nh, index % nw
        t_tab, h_tab, w_tab = self.per_axis
        n = stop - first
        t = t_tab.view(nt, tp, -1)[it.to(t_tab.device)].view(n, tp, 1, 1, -1).expand(n, tp, hp, wp, -1)
        h = h_tab.view(nh, hp, -1)[ih.to(h_tab.device)].view(n, 1, hp, 1, -1).expand(n, tp, hp, wp, -1)
        w = w_tab.view(nw, wp, -1)[iw.to(w_tab.device)].view(n, 1, 1, wp, -1).expand(n, tp, hp, wp, -1)
        return torch.cat([t, h, w], dim=-1).reshape(n, tp * hp * wp, 1, -1)


class TileRope:
    """Wan's 3-axis RoPE (head dim split t/h/w = hd - 2*(2*(hd//6)) / 2*(hd//6) / 2*(hd//6)).

    Positions are global over the tile grid. Angles are computed in float64 (like the reference)
    and applied in float32, a chunk of tiles at a time, so no (tokens x head_dim) table is built.
    """

    def __init__(self, head_dim: int, max_seq_len: int, theta: float = 10000.0) -> None:
        hw = 2 * (head_dim // 6)
        self.dims = (head_dim - 2 * hw, hw, hw)
        self.max_seq_len = max_seq_len
        self.theta = theta

    def tables(self, tiles: tuple[int, int, int], tile_shape: tuple[int, int, int],
               device: torch.device) -> RopeTables:
        per_axis = []
        for axis, dim in enumerate(self.dims):
            length = tiles[axis] * tile_shape[axis]
            if length > self.max_seq_len:
                raise ValueError(f"RoPE axis {axis} needs {length} positions; the model has {self.max_seq_len}")
            inv = 1.0 / (self.theta ** (torch.arange(0, dim, 2, dtype=torch.float64)[: dim // 2] / dim))
            angles = torch.outer(torch.arange(length, dtype=torch.float64), inv)
            per_axis.append(torch.polar(torch.ones_like(angles), angles).to(torch.complex64).to(device))
        return RopeTables(tiles, tile_shape, tuple(per_axis))  # type: ignore[arg-type]

    @staticmethod
    def rotate(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        """x (B, n, D, heads, hd) rotated pairwise by `rotation` (n, D, 1, hd/2)."""
        pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())
        return torch.view_as_real(pairs * rotation).flatten(-2).to(x.dtype)


class TileSelfAttention(nn.Module):
    """q/k/v/out projections with RMS q/k norms across heads (diffusers' Wan attention names)."""

    def __init__(self, dim: int, heads: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.norm_q = FP32RMSNorm(dim, eps)
        self.norm_k = FP32RMSNorm(dim, eps)

    def project(self, h: torch.Tensor, rotation: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """(B, n, D, C) -> q, k, v each (B, n, D, heads, hd); q and k rotated when given RoPE."""
        split = (*h.shape[:3], self.heads, -1)
        q = self.norm_q(self.to_q(h)).reshape(split)
        k = self.norm_k(self.to_k(h)).reshape(split)
        v = self.to_v(h).reshape(split)
        if rotation is not None:
            q, k = TileRope.rotate(q, rotation), TileRope.rotate(k, rotation)
        return q, k, v

    def output(self, attended: torch.Tensor) -> torch.Tensor:
        return self.to_out[1](self.to_out[0](attended))


def _chunks(n: int) -> list[slice]:
    return [slice(i, min(i + CHUNK_TILES, n)) for i in range(0, n, CHUNK_TILES)]


class LDFVFIBlock(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, heads: int, cross_attn_norm: bool, eps: float) -> None:
        super().__init__()
        self.norm1 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.attn1 = TileSelfAttention(dim, heads, eps)
        self.attn2 = TileSelfAttention(dim, heads, eps)
        self.norm2 = FP32LayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        self.ffn = FeedForward(dim, inner_dim=ffn_dim, activation_fn="gelu-approximate")
        self.norm3 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(self, x: torch.Tensor, tproj: torch.Tensor, grid: TileGrid, tables: RopeTables,
                backend: Backend) -> torch.Tensor:
        """x (B, N, D, C) is updated in place; tproj (B, N, 6, C) is the per-tile modulation."""
        mod = (self.scale_shift_table.float() + tproj.float()).unsqueeze(3)  # (B, N, 6, 1, C)
        shift, scale, gate, c_shift, c_scale, c_gate = mod.unbind(2)
        dtype = x.dtype

        def pre1(c: slice) -> torch.Tensor:
            return (self.norm1(x[:, c].float()) * (1 + scale[:, c]) + shift[:, c]).to(dtype)

        def pre2(c: slice) -> torch.Tensor:
            return self.norm2(x[:, c].float()).to(dtype)

        # 1. self-attention (RoPE, gated); 2. the former cross-attention, now self-attention on
        # norm2(x) without RoPE or gate; 3. the modulated, gated FFN.
        self._attend(x, self.attn1, pre1, gate, grid, tables, backend)
        self._attend(x, self.attn2, pre2, None, grid, None, backend)
        for c in _chunks(x.shape[1]):
            h = (self.norm3(x[:, c].float()) * (1 + c_scale[:, c]) + c_shift[:, c]).to(dtype)
            x[:, c] = (x[:, c].float() + self.ffn(h).float() * c_gate[:, c]).to(dtype)
        return x

    @staticmethod
    def _attend(x: torch.Tensor, attn: TileSelfAttention, pre: Callable[[slice], torch.Tensor],
                gate: torch.Tensor | None, grid: TileGrid, tables: RopeTables | None, backend: Backend) -> None:
        batch, n_tiles, tokens, dim = x.shape
        shape = (batch, n_tiles, tokens, attn.heads, dim // attn.heads)
        q, k, v = x.new_empty(shape), x.new_empty(shape), x.new_empty(shape)
        for c in _chunks(n_tiles):
            rotation = tables.for_tiles(c.start, c.stop) if tables is not None else None
            q[:, c], k[:, c], v[:, c] = attn.project(pre(c), rotation)
        flat = (batch, n_tiles * tokens, attn.heads, dim // attn.heads)
        out = local_attention(q.view(flat), k.view(flat), v.view(flat), grid, backend)
        del q, k, v
        out = out.reshape(batch, n_tiles, tokens, dim)
        for c in _chunks(n_tiles):
            y = attn.output(out[:, c].to(x.dtype))
            if gate is None:
                x[:, c] += y
            else:
                x[:, c] = (x[:, c].float() + y.float() * gate[:, c]).to(x.dtype)


class ConditionEmbedder(nn.Module):
    """Timestep embedding only (the real checkpoint has no text embedder)."""

    def __init__(self, dim: int, freq_dim: int) -> None:
        super().__init__()
        self.timesteps_proj = Timesteps(num_channels=freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedder = TimestepEmbedding(in_channels=freq_dim, time_embed_dim=dim)
        self.act_fn = nn.SiLU()
        self.time_proj = nn.Linear(dim, dim * 6)

    def forward(self, timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freq = self.timesteps_proj(timestep.float())
        temb = self.time_embedder(freq.to(self.time_embedder.linear_1.weight.dtype))
        tproj = self.time_proj(self.act_fn(temb).to(self.time_proj.weight.dtype))
        return temb, tproj


class LDFVFITransformer3DModel(ModelMixin, ConfigMixin):
    """Wan2.1 DiT with 36 input channels (16 noisy latent, 16 low-frame-rate latent, 4 mask)."""

    config_name = "config.json"
    _no_split_modules = ["LDFVFIBlock"]
    _keep_in_fp32_modules = ["time_embedder", "scale_shift_table", "norm1", "norm2", "norm3"]

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        num_attention_heads: int = 12,
        attention_head_dim: int = 128,
        in_channels: int = 36,
        out_channels: int = 16,
        text_dim: int = 4096,            # kept for config compatibility; there is no text embedder
        freq_dim: int = 256,
        ffn_dim: int = 8960,
        num_layers: int = 30,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = None,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        attention_type: str = "slide_chunk_all_block",  # training default; inference passes its window
    ) -> None:
        super().__init__()
        if qk_norm != "rms_norm_across_heads":
            raise NotImplementedError(f"qk_norm {qk_norm!r}: LDF-VFI uses 'rms_norm_across_heads'")
        if image_dim is not None or added_kv_proj_dim is not None or pos_embed_seq_len is not None:
            raise NotImplementedError("image/text conditioning is not part of LDF-VFI")
        dim = num_attention_heads * attention_head_dim
        self.rope = TileRope(attention_head_dim, rope_max_seq_len)
        self.patch_embedding = nn.Conv3d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.condition_embedder = ConditionEmbedder(dim, freq_dim)
        self.blocks = nn.ModuleList([
            LDFVFIBlock(dim, ffn_dim, num_attention_heads, cross_attn_norm, eps) for _ in range(num_layers)
        ])
        self.norm_out = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.proj_out = nn.Linear(dim, out_channels * math.prod(patch_size))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def tokens_per_tile(self, latent_tile: tuple[int, int, int]) -> int:
        """Tokens of one tile of latent size (T, H, W)."""
        pt, ph, pw = self.config.patch_size
        t, h, w = latent_tile
        return (t // pt) * (h // ph) * (w // pw)

    def forward(self, latents: torch.Tensor, timestep: torch.Tensor, *, window: Window | None = (2, 1, 1),
                attention_backend: Backend = "auto") -> torch.Tensor:
        """latents (B, nT, nH, nW, C_in, T, H, W), timestep (B, nT, nH, nW) on 0..1000 ->
        velocity (B, nT, nH, nW, C_out, T, H, W)."""
        batch, nt, nh, nw, channels, t, h, w = latents.shape
        if tuple(timestep.shape) != (batch, nt, nh, nw):
            raise ValueError(f"timestep must be per tile {(batch, nt, nh, nw)}, got {tuple(timestep.shape)}")
        pt, ph, pw = self.config.patch_size
        n_tiles = nt * nh * nw
        weight = self.patch_embedding.weight
        x = self.patch_embedding(latents.reshape(batch * n_tiles, channels, t, h, w).to(weight.dtype))
        tile_shape = tuple(x.shape[2:])
        tokens = math.prod(tile_shape)
        dim = x.shape[1]
        x = x.flatten(2).transpose(1, 2).reshape(batch, n_tiles, tokens, dim)

        grid = TileGrid((nt, nh, nw), tokens, window)
        tables = self.rope.tables((nt, nh, nw), tile_shape, x.device)  # type: ignore[arg-type]
        temb, tproj = self.condition_embedder(timestep.reshape(-1))
        tproj = tproj.reshape(batch, n_tiles, 6, dim)
        x = x.contiguous()  # the blocks update it in place
        for block in self.blocks:
            x = block(x, tproj, grid, tables, attention_backend)

        shift, scale = (self.scale_shift_table.float() + temb.float().reshape(batch, n_tiles, 1, dim)
                        ).reshape(batch, n_tiles, 2, 1, dim).unbind(2)
        head = x.new_empty((batch, n_tiles, tokens, self.proj_out.out_features))
        for c in _chunks(n_tiles):
            h = (self.norm_out(x[:, c].float()) * (1 + scale[:, c]) + shift[:, c]).to(x.dtype)
            head[:, c] = self.proj_out(h)
        x = head  # (B, N, D, pt*ph*pw*C_out)
        tp, hp, wp = tile_shape
        out_channels = self.config.out_channels
        x = x.reshape(batch, nt, nh, nw, tp, hp, wp, pt, ph, pw, out_channels)
        x = x.permute(0, 1, 2, 3, 10, 4, 7, 5, 8, 6, 9)
        x = x.reshape(batch, nt, nh, nw, out_channels, tp * pt, hp * ph, wp * pw)
        return x

