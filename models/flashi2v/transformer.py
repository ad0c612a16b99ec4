"""FlashI2V's denoiser: diffusers' `WanTransformer3DModel` (Wan2.1-T2V-1.3B) with two small added
modules, the only architectural change FlashI2V makes (arXiv 2509.25187; PKU-YuanGroup/FlashI2V):

- `learnable_proj` P: Conv3d(16 -> 64) - SiLU - Conv3d(64 -> 16) on the image latent. Its output p is
  subtracted from the latent the DiT sees at every step ("latent shifting"); the sampler state
  itself is never shifted, so the final latent is decoded as it is. Kernel (3, 3, 3), padding 1 in
  the released (MindSpeed "npu") checkpoint, (1, 3, 3) in the GPU branch (`conv3x3x3_proj`).
- `fourier_embedding`: Conv3d(16 -> D, kernel = stride = patch) then a 1x1x1 Conv3d(D -> D), no
  activation between; it embeds the image latent's high-frequency magnitude (models/flashi2v/fourier.py)
  and is added to the patch embedding of the latent, before the tokens are flattened.

Nothing else differs: no image cross-attention, no CLIP, no channel concat, the same timestep
embedding. The Fourier tokens are added by a forward hook on `patch_embedding`, so diffusers'
forward (and every Wan hook on the blocks: chunking, streaming) runs unchanged.
"""
from __future__ import annotations

from typing import Any

import torch
from diffusers import WanTransformer3DModel
from diffusers.configuration_utils import register_to_config
from torch import nn


class _Chain(nn.Module):
    """Modules applied in order under the names "0", "1", ... (the release's parameter names).
    Not an nn.Sequential on purpose: memory/ streams lists of blocks, and these two small heads
    belong with the DiT's other non-block weights."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            self.add_module(str(i), layer)

    def __getitem__(self, index: int) -> nn.Module:
        return getattr(self, str(index))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x


class FlashI2VTransformer3DModel(WanTransformer3DModel):
    """Wan2.1 DiT + `learnable_proj` + `fourier_embedding` (parameter names of the released weights)."""

    @register_to_config
    def __init__(self, patch_size: tuple[int, int, int] = (1, 2, 2), num_attention_heads: int = 12,
                 attention_head_dim: int = 128, in_channels: int = 16, out_channels: int = 16, text_dim: int = 4096,
                 freq_dim: int = 256, ffn_dim: int = 8960, num_layers: int = 30, cross_attn_norm: bool = True,
                 qk_norm: str | None = "rms_norm_across_heads", eps: float = 1e-6, image_dim: int | None = None,
                 added_kv_proj_dim: int | None = None, rope_max_seq_len: int = 1024,
                 pos_embed_seq_len: int | None = None, conv3x3x3_proj: bool = True,
                 low_freq_energy_ratio: float = 0.1) -> None:
        if image_dim is not None or added_kv_proj_dim is not None or pos_embed_seq_len is not None:
            raise ValueError("FlashI2V has no image cross-attention (image_dim / added_kv_proj_dim must be None)")
        super().__init__(patch_size=patch_size, num_attention_heads=num_attention_heads,
                         attention_head_dim=attention_head_dim, in_channels=in_channels, out_channels=out_channels,
                         text_dim=text_dim, freq_dim=freq_dim, ffn_dim=ffn_dim, num_layers=num_layers,
                         cross_attn_norm=cross_attn_norm, qk_norm=qk_norm, eps=eps, rope_max_seq_len=rope_max_seq_len)
        inner = num_attention_heads * attention_head_dim
        kernel, padding = ((3, 3, 3), (1, 1, 1)) if conv3x3x3_proj else ((1, 3, 3), (0, 1, 1))
        self.learnable_proj = _Chain(
            nn.Conv3d(in_channels, 4 * in_channels, kernel, padding=padding), nn.SiLU(),
            nn.Conv3d(4 * in_channels, in_channels, kernel, padding=padding))
        self.fourier_embedding = _Chain(
            nn.Conv3d(in_channels, inner, kernel_size=patch_size, stride=patch_size),
            nn.Conv3d(inner, inner, kernel_size=1))
        for last in (self.learnable_proj[2], self.fourier_embedding[1]):
            nn.init.zeros_(last.weight)  # both start as no-ops, as in training
            nn.init.zeros_(last.bias)
        self._fourier_features: torch.Tensor | None = None
        self.patch_embedding.register_forward_hook(self._add_fourier_tokens)

    def _add_fourier_tokens(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        features = self._fourier_features
        if features is None:
            return output
        return output + self.fourier_embedding(features.to(output.dtype))

    @torch.no_grad()
    def latent_shift(self, image_latent: torch.Tensor, frames: int) -> torch.Tensor:
        """p = P(c repeated over `frames` latent frames): (B, C, 1, h, w) -> (B, C, frames, h, w).
        The repeat comes first (the released pipeline's order): with the 3x3x3 kernel and zero time
        padding the first and last frames of p differ from the middle ones."""
        weight = self.learnable_proj[0].weight
        c = image_latent.to(weight.device, weight.dtype).expand(-1, -1, frames, -1, -1)
        return self.learnable_proj(c)

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                encoder_hidden_states_image: torch.Tensor | None = None, return_dict: bool = True,
                attention_kwargs: dict[str, Any] | None = None,
                fourier_features: torch.Tensor | None = None) -> Any:
        """diffusers' Wan forward; `fourier_features` (B, C, T, h, w), the image latent's
        high-frequency magnitude repeated over the latent frames, are embedded and added to the
        patch embedding (None: the plain Wan DiT)."""
        self._fourier_features = fourier_features
        try:
            return super().forward(hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image,
                                   return_dict=return_dict, attention_kwargs=attention_kwargs)
        finally:
            self._fourier_features = None
