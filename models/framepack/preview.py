"""Cheap latent -> RGB previews (one 1x1 linear map per pixel; no VAE).

For the 16-channel HunyuanVideo latent space the map is the published per-channel RGB factors
(the table community tools use for HunyuanVideo previews). The tiny kit's 4-channel latents have
no meaning, so a fixed, arbitrary 4x3 map just makes the noise visible. Frames are laid side by
side: the preview of a (1, C, T, h, w) latent is an h x (T*w) x 3 uint8 image at latent
resolution (the UI may upscale it). Tiny weights preview as noise.
"""
from __future__ import annotations

import math

import numpy as np
import torch

# (16, 3) RGB contribution of each HunyuanVideo latent channel, and the RGB bias.
HUNYUAN_RGB = (
    (-0.0395, -0.0331, 0.0445), (0.0696, 0.0795, 0.0518), (0.0135, -0.0945, -0.0282),
    (0.0108, -0.0250, -0.0765), (-0.0209, 0.0032, 0.0224), (-0.0804, -0.0254, -0.0639),
    (-0.0991, 0.0271, -0.0669), (-0.0646, -0.0422, -0.0400), (-0.0696, -0.0595, -0.0894),
    (-0.0799, -0.0208, -0.0375), (0.1166, 0.1627, 0.0962), (0.1165, 0.0432, 0.0407),
    (-0.2315, -0.1920, -0.1355), (-0.0270, 0.0401, -0.0821), (-0.0616, -0.0997, -0.0727),
    (0.0249, -0.0469, -0.1703),
)
HUNYUAN_BIAS = (0.0259, -0.0192, -0.0761)

# Tiny kit (4 channels): an arbitrary fixed map centred on mid-grey.
TINY_RGB = ((0.25, 0.0, 0.0), (0.0, 0.25, 0.0), (0.0, 0.0, 0.25), (0.1, 0.1, 0.1))
TINY_BIAS = (0.5, 0.5, 0.5)


def rgb_map(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(channels, 3) weight and (3,) bias for a latent space with `channels` channels."""
    if channels == 16:
        return torch.tensor(HUNYUAN_RGB), torch.tensor(HUNYUAN_BIAS)
    if channels == 4:
        return torch.tensor(TINY_RGB), torch.tensor(TINY_BIAS)
    # Unknown latent space: average the channels into grey so a preview still shows structure.
    return torch.full((channels, 3), 0.25 / channels ** 0.5), torch.full((3,), 0.5)


@torch.no_grad()
def latent_preview(latents: torch.Tensor) -> np.ndarray:
    """(1, C, T, h, w) latents -> h x (T*w) x 3 uint8, frames left to right."""
    x = latents[0].detach().float().cpu()  # (C, T, h, w)
    weight, bias = rgb_map(x.shape[0])
    rgb = torch.einsum("cthw,cr->thwr", x, weight) + bias  # (T, h, w, 3) in about [0, 1]
    rgb = (rgb.clamp(0, 1) * 255).round().to(torch.uint8)
    return torch.cat(list(rgb), dim=1).numpy()


def readable(strip: np.ndarray, frames: int, min_side: int = 240) -> np.ndarray:
    """A frames-left-to-right strip -> a near-square grid of its frames, enlarged (nearest, whole
    factors) until its shorter side reaches `min_side`: a small bucket's 9 latent frames are an
    8x72 strip that no browser shows legibly."""
    h, total_w, _ = strip.shape
    w = total_w // max(frames, 1)
    cols = max(1, math.ceil(math.sqrt(frames * h / max(w, 1))))
    rows = math.ceil(frames / cols)
    grid = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i in range(frames):
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = strip[:, i * w:(i + 1) * w]
    scale = max(1, math.ceil(min_side / min(grid.shape[:2])))
    return np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
