"""Cheap latent -> RGB previews for Wan latents, with a linear map fitted to the job's own VAE.

No published per-channel table is used: during the encode phase (the VAE is on the device then)
an image of 8 x 8 random colour blocks (one per latent cell) is encoded once, and RGB = W z + b is fitted by least
squares between its latent and the image averaged over each latent cell. Any Wan VAE (16 or 48
channels, 8x or 16x) gets a map that way; a tiny random VAE gets a meaningless one (noise).
"""
from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def fit_rgb_map(vae: torch.nn.Module, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, 3) weight and (3,) bias mapping raw (unnormalised) Wan latents to RGB in [0, 1]."""
    scale = int(vae.config.scale_factor_spatial)
    side = 8 * scale  # 8 x 8 latent cells: 64 samples for at most 48 channels + bias
    g = torch.Generator().manual_seed(0)
    blocks = torch.rand(3, 1, 8, 8, generator=g)
    image = torch.nn.functional.interpolate(blocks, size=(side, side), mode="nearest")   # (3, 1, side, side)
    pixels = (image * 2 - 1).unsqueeze(0).to(device, next(vae.parameters()).dtype)      # (1, 3, 1, side, side)
    latent = vae.encode(pixels).latent_dist.mode()[0, :, 0].float().cpu()            # (C, cells, cells)
    target = torch.nn.functional.avg_pool2d(image[:, 0][None], scale)[0]              # (3, cells, cells)
    z = latent.reshape(latent.shape[0], -1).T                                          # (cells^2, C)
    design = torch.cat([z, torch.ones(z.shape[0], 1)], dim=1)
    # A little ridge keeps the fit finite when a tiny random VAE gives near-collinear channels.
    gram = design.T @ design + 1e-3 * torch.eye(design.shape[1])
    solution = torch.linalg.solve(gram, design.T @ target.reshape(3, -1).T)             # (C + 1, 3)
    return solution[:-1], solution[-1]


@torch.no_grad()
def latent_preview(latents: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                   mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """(1, C, T, h, w) normalised latents -> h x (T*w) x 3 uint8, frames left to right."""
    x = latents[0].detach().float().cpu() * std.view(-1, 1, 1, 1) + mean.view(-1, 1, 1, 1)
    rgb = torch.einsum("cthw,cr->thwr", x, weight) + bias
    rgb = (rgb.clamp(0, 1) * 255).round().to(torch.uint8)
    return torch.cat(list(rgb), dim=1).numpy()
