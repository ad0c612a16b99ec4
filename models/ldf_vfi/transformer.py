"""LDF-VFI's denoiser: diffusers' `WanTransformer3DModel` over a grid of space-time tiles, no text.

The class *is* diffusers' Wan DiT (same modules, same parameter names: the released
`transformer/` folder loads with no renaming; tests/test_ldf_vfi_manifest.py checks the keys and
shapes against ../shared/manifests/ldf_vfi_transformer.json) customised in three small ways:
- no text: the text embedder is removed (the checkpoint has none);
- attention processors (`LocalTileAttnProcessor`): `attn1` attends only to neighbouring tiles,
  and `attn2` — text cross-attention in Wan — attends to the video tokens themselves (query, key
  and value from `norm2(x)`), without RoPE and without a gate, under the same tile window;
- `forward` takes the tile grid `(B, nT, nH, nW, C, T, H, W)` with one timestep per tile, and
  runs the blocks with the Wan layer's chunked execution (models/wan/blocks.py), the per-tile
  adaLN modulation kept per tile (a per-token table would be 7.6 GB at 1080p).

Facts (xypeng9903/LDF-VFI training/models/transformer_wan.py): tokens are ordered tile-major
`(nt, nh, nw, t, h, w)`; RoPE positions are global over the grid (tile index * tile size + offset),
which equals the raster position of the assembled latent, so diffusers' RoPE of the assembled
latent, permuted to tile-major order, is exactly LDF-VFI's. Timesteps are on the 0..1000 scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import WanTransformer3DModel
from diffusers.configuration_utils import register_to_config

from models.ldf_vfi.attention import Backend, TileGrid, Window, local_attention
from models.wan.blocks import Modulation, run_block

# Token-wise work is done this many tiles at a time: the FFN's hidden layer (8960 wide) and the
# float32 temporaries of norms/modulation/RoPE then stay small whatever the resolution.
CHUNK_TILES = 8


@dataclass
class TileLayout:
    """What the attention processors need to know about the current call (set by `forward`)."""

    grid: TileGrid | None = None
    backend: Backend = "auto"


class LocalTileAttnProcessor:
    """Attention under the tile window of the current call. `self_attention` (for `attn2`): keys
    and values come from the same tokens as the queries, whatever context is passed."""

    def __init__(self, layout: TileLayout, self_attention: bool = False, rope: bool = True) -> None:
        self.layout = layout
        self.self_attention = self_attention
        self.rope = rope

    def attend(self, attn: torch.nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.layout.grid is None:
            raise RuntimeError("LDF-VFI attention outside a forward call (no tile grid set)")
        return local_attention(q, k, v, self.layout.grid, self.layout.backend)

    def __call__(self, attn: torch.nn.Module, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, rotary_emb=None) -> torch.Tensor:
        """The whole attention at once (diffusers' block forward calls this)."""
        from models.wan.blocks import project

        del encoder_hidden_states, attention_mask  # no text: always self-attention
        q, k, v = project(attn, hidden_states, rotary_emb if self.rope else None)
        out = self.attend(attn, q, k, v).flatten(2, 3).type_as(hidden_states)
        return attn.to_out[1](attn.to_out[0](out))


class LDFVFITransformer3DModel(WanTransformer3DModel):
    """Wan2.1 DiT with 36 input channels (16 noisy latent, 16 low-frame-rate latent, 4 mask)."""

    @register_to_config
    def __init__(self, patch_size: tuple[int, int, int] = (1, 2, 2), num_attention_heads: int = 12,
                 attention_head_dim: int = 128, in_channels: int = 36, out_channels: int = 16, text_dim: int = 4096,
                 freq_dim: int = 256, ffn_dim: int = 8960, num_layers: int = 30, cross_attn_norm: bool = True,
                 qk_norm: str | None = "rms_norm_across_heads", eps: float = 1e-6, image_dim: int | None = None,
                 added_kv_proj_dim: int | None = None, rope_max_seq_len: int = 1024,
                 pos_embed_seq_len: int | None = None,
                 attention_type: str = "slide_chunk_all_block") -> None:  # training default; inference passes its window
        if qk_norm != "rms_norm_across_heads":
            raise NotImplementedError(f"qk_norm {qk_norm!r}: LDF-VFI uses 'rms_norm_across_heads'")
        if image_dim is not None or added_kv_proj_dim is not None or pos_embed_seq_len is not None:
            raise NotImplementedError("image/text conditioning is not part of LDF-VFI")
        super().__init__(patch_size=patch_size, num_attention_heads=num_attention_heads,
                         attention_head_dim=attention_head_dim, in_channels=in_channels, out_channels=out_channels,
                         text_dim=text_dim, freq_dim=freq_dim, ffn_dim=ffn_dim, num_layers=num_layers,
                         cross_attn_norm=cross_attn_norm, qk_norm=qk_norm, eps=eps, rope_max_seq_len=rope_max_seq_len)
        self.condition_embedder.text_embedder = None  # no text: the checkpoint has no text embedder
        self.layout = TileLayout()
        for block in self.blocks:
            block.attn1.set_processor(LocalTileAttnProcessor(self.layout))
            block.attn2.set_processor(LocalTileAttnProcessor(self.layout, self_attention=True, rope=False))

    def tokens_per_tile(self, latent_tile: tuple[int, int, int]) -> int:
        """Tokens of one tile of latent size (T, H, W)."""
        pt, ph, pw = self.config.patch_size
        t, h, w = latent_tile
        return (t // pt) * (h // ph) * (w // pw)

    def forward(self, latents: torch.Tensor, timestep: torch.Tensor, *, window: Window | None = (2, 1, 1),
                attention_backend: Backend = "auto") -> torch.Tensor:  # type: ignore[override]
        """latents (B, nT, nH, nW, C_in, T, H, W), timestep (B, nT, nH, nW) on 0..1000 ->
        velocity (B, nT, nH, nW, C_out, T, H, W)."""
        batch, nt, nh, nw, channels, t, h, w = latents.shape
        if tuple(timestep.shape) != (batch, nt, nh, nw):
            raise ValueError(f"timestep must be per tile {(batch, nt, nh, nw)}, got {tuple(timestep.shape)}")
        pt, ph, pw = self.config.patch_size
        tp, hp, wp = t // pt, h // ph, w // pw
        n_tiles, tokens = nt * nh * nw, tp * hp * wp
        whole = latents.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(batch, channels, nt * t, nh * h, nw * w)
        dtype = self.patch_embedding.weight.dtype

        # Patch embedding and RoPE of the assembled latent (tiles align with patches), then the
        # tokens in LDF-VFI's tile-major order.
        order = _tile_major(nt, nh, nw, tp, hp, wp, latents.device)
        cos, sin = self.rope(whole)
        rope = (cos[:, order], sin[:, order])
        x = self.patch_embedding(whole.to(dtype)).flatten(2).transpose(1, 2)[:, order].contiguous()
        del whole, cos, sin  # only the tile-major copies stay

        # One adaLN modulation per tile (diffusers' embedders, applied to the tiles' timesteps).
        embedder = self.condition_embedder
        freq = embedder.timesteps_proj(timestep.reshape(-1))
        temb = embedder.time_embedder(freq.to(next(embedder.time_embedder.parameters()).dtype)).type_as(x)
        tproj = embedder.time_proj(embedder.act_fn(temb)).unflatten(1, (6, -1)).reshape(batch, n_tiles, 6, -1)
        groups = torch.arange(n_tiles, device=x.device).repeat_interleave(tokens)
        mod = Modulation(tproj, groups)

        self.layout.grid, self.layout.backend = TileGrid((nt, nh, nw), tokens, window), attention_backend
        try:
            for block in self.blocks:
                x = run_block(block, x, None, mod, rope, chunk_tokens=CHUNK_TILES * tokens)
        finally:
            self.layout.grid = None

        # Output norm and projection, a chunk of tiles at a time, then back to the tile grid.
        temb = temb.reshape(batch, n_tiles, 1, -1)
        head = x.new_empty((batch, n_tiles * tokens, self.proj_out.out_features))
        step = CHUNK_TILES * tokens
        for start in range(0, n_tiles * tokens, step):
            c = slice(start, min(start + step, n_tiles * tokens))
            rows = groups[c]
            shift, scale = (self.scale_shift_table.to(temb.device) + temb[:, rows]).unbind(2)
            head[:, c] = self.proj_out((self.norm_out(x[:, c].float()) * (1 + scale) + shift).type_as(x))
        out_channels = self.config.out_channels
        head = head.reshape(batch, nt, nh, nw, tp, hp, wp, pt, ph, pw, out_channels)
        head = head.permute(0, 1, 2, 3, 10, 4, 7, 5, 8, 6, 9)
        return head.reshape(batch, nt, nh, nw, out_channels, tp * pt, hp * ph, wp * pw)


def _tile_major(nt: int, nh: int, nw: int, tp: int, hp: int, wp: int, device: torch.device) -> torch.Tensor:
    """Raster index (over the assembled token grid) of each token in tile-major order."""
    f = (torch.arange(nt, device=device).view(nt, 1, 1, 1, 1, 1) * tp
         + torch.arange(tp, device=device).view(1, 1, 1, tp, 1, 1))
    y = (torch.arange(nh, device=device).view(1, nh, 1, 1, 1, 1) * hp
         + torch.arange(hp, device=device).view(1, 1, 1, 1, hp, 1))
    x = (torch.arange(nw, device=device).view(1, 1, nw, 1, 1, 1) * wp
         + torch.arange(wp, device=device).view(1, 1, 1, 1, 1, wp))
    return ((f * (nh * hp) + y) * (nw * wp) + x).reshape(-1)
