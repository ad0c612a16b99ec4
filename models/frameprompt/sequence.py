"""FramePrompt's one visual sequence on the frame axis: [reference | skeleton | target].

Layout (paper §3.3, appendix A.1.2): one reference image, N skeleton frames and N target frames,
81 frames per sequence, so N = 40 (1 + 40 + 40). The paper's "half-frames loss" is the loss on the
target half. (The stored paper text lost its equations; N skeleton = N target is what the
81-frame sequence and "half-frames" say together.) At inference the target placeholders are zeros.

In latents (Wan's VAE: the first frame alone, then 4 frames per latent frame) the three parts fall
on whole latent frames when N is a multiple of 4: latent frame 0 = reference, 1..N/4 = skeleton,
N/4+1..N/2 = target (81 frames: 1 + 10 + 10 = 21 latent frames).

Wan I2V's mask marks preserved frames with 1 (paper §3.1, "selective temporal completion"): here
the reference and skeleton frames are preserved, the target is generated. The condition is the
VAE latent of the whole pixel sequence with zero targets, encoded in one pass as Wan I2V encodes
[image, zeros, ...].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.errors import InputError
from models.wan.pipeline import to_pixels

PAPER_SKELETON_FRAMES = 40   # 81 = 1 + 40 + 40
REFERENCE, SKELETON, TARGET = 0, 1, 2


@dataclass(frozen=True)
class Layout:
    """Frame counts of one sequence, in pixels and in latent frames."""

    skeleton_frames: int        # N (= target frames)
    temporal: int = 4           # the VAE's temporal compression

    @property
    def target_frames(self) -> int:
        return self.skeleton_frames

    @property
    def frames(self) -> int:
        """Pixel frames of the whole sequence: 1 + N + N."""
        return 1 + 2 * self.skeleton_frames

    @property
    def context_latents(self) -> int:
        """Latent frames preserved: the reference's 1 and the skeleton's N / 4."""
        return 1 + self.skeleton_frames // self.temporal

    @property
    def latent_frames(self) -> int:
        return 1 + 2 * self.skeleton_frames // self.temporal

    def segments(self) -> tuple[int, ...]:
        """REFERENCE / SKELETON / TARGET for every latent frame."""
        n = self.skeleton_frames // self.temporal
        return (REFERENCE,) + (SKELETON,) * n + (TARGET,) * n

    def target_slice(self) -> slice:
        """The target's pixel frames in the decoded sequence."""
        return slice(1 + self.skeleton_frames, self.frames)


def layout_for(skeleton: Any, temporal: int) -> Layout:
    """The layout of `skeleton` (N x H x W x 3); N must be a positive multiple of `temporal`."""
    n = len(skeleton)
    if n < temporal or n % temporal:
        low = max(temporal, n // temporal * temporal)
        raise InputError("skeleton", f"{n} skeleton frames",
                         f"use a multiple of {temporal} (the paper: {PAPER_SKELETON_FRAMES}), e.g. {low} or "
                         f"{low + temporal}; the video gets as many frames")
    return Layout(n, temporal)


def sequence_pixels(reference: np.ndarray, skeleton: Any, layout: Layout) -> torch.Tensor:
    """(1, 3, 1 + 2N, H, W) in [-1, 1]: the reference, the skeleton frames, zero targets."""
    frames = [to_pixels(reference)] + [to_pixels(s) for s in skeleton]
    video = torch.stack(frames, dim=2)
    zeros = video.new_zeros(*video.shape[:2], layout.target_frames, *video.shape[3:])
    return torch.cat([video, zeros], dim=2)


def preserved_mask(layout: Layout, height: int, width: int) -> torch.Tensor:
    """Wan I2V's 4-channel mask (1, s_t, T', h, w): 1 on the preserved pixel frames (reference and
    skeleton), 0 on the target, folded onto latent frames the way Wan folds its first-frame mask
    (the first frame repeated s_t times, then groups of s_t frames become channels)."""
    s_t = layout.temporal
    mask = torch.zeros(1, 1, layout.frames, height, width)
    mask[:, :, : 1 + layout.skeleton_frames] = 1
    first = mask[:, :, :1].repeat_interleave(s_t, dim=2)
    mask = torch.cat([first, mask[:, :, 1:]], dim=2)
    return mask.view(1, -1, s_t, height, width).transpose(1, 2)


def context_keep(layout: Layout) -> torch.Tensor:
    """(1, 1, T', 1, 1): 1 on the latent frames held fixed, 0 on the generated ones."""
    keep = torch.zeros(1, 1, layout.latent_frames, 1, 1)
    keep[:, :, : layout.context_latents] = 1
    return keep


@torch.no_grad()
def encode_sequence(vae: Any, pixels: torch.Tensor, mean: torch.Tensor, inv_std: torch.Tensor,
                    tiled: bool = False) -> torch.Tensor:
    """Wan-normalised posterior-mode latents of the whole sequence, one encode pass (float32)."""
    dtype, device = next(vae.parameters()).dtype, next(vae.parameters()).device
    previous = getattr(vae, "use_tiling", False)
    vae.use_tiling = tiled
    try:
        latent = vae.encode(pixels.to(device, dtype)).latent_dist.mode().float()
    finally:
        vae.use_tiling = previous
    return (latent - mean.to(latent.device)) * inv_std.to(latent.device)
