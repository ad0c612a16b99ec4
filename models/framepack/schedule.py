"""Section arithmetic for FramePack: how many sections, which latent indices go where, how many frames.

Pure functions of integers (DESIGN §3); the pipeline reads them top to bottom, tests check them
directly. Index layouts are the frame positions the transformer's RoPE sees:

- inverted (anti-drifting), per section, in index order:
  [1 start | padding*window blank | window generated | 1 clean-post | 2 for 2x | 16 for 4x];
  the clean 1x slots are [start, clean-post]. Generation runs from the end of the video backwards.
- F1 (forward): [1 start | 16 for 4x | 2 for 2x | 1 for 1x | window generated];
  the clean 1x slots are [start, the latest history latent].

The VAE maps L latent frames to 4(L-1)+1 pixel frames (causal in time), so each section adds
4*window frames and a video of n sections has 4*window*n + 1 frames (36n+1 at window 9).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

HISTORY_1X, HISTORY_2X, HISTORY_4X = 1, 2, 16
HISTORY_LATENTS = HISTORY_1X + HISTORY_2X + HISTORY_4X  # 19 clean latents of context per section
VAE_TIME = 4    # pixel frames per latent frame
VAE_SPACE = 8   # pixels per latent cell
PATCH = 2       # transformer patch (1, 2, 2)


def section_count(seconds: float, window: int, fps: int = 30) -> int:
    """FramePack's `max(round(seconds * fps / (window * 4)), 1)` (fps 30 in FramePack)."""
    if window < 1:
        raise ValueError(f"latent window must be >= 1, got {window}")
    return int(max(round(seconds * fps / (window * VAE_TIME)), 1))


def latent_paddings(sections: int) -> list[int]:
    """Blank windows between the start frame and each inverted section, in generation order.

    `reversed(range(n))`, except above 4 sections FramePack keeps the padding at 2 for the middle
    sections ([3, 2, ..., 2, 1, 0]) because it looks better than growing it."""
    if sections > 4:
        return [3] + [2] * (sections - 3) + [1, 0]
    return list(reversed(range(sections)))


@dataclass(frozen=True)
class IndexSplit:
    """Frame indices (1-D int64 tensors) of one section's transformer inputs."""

    latents: torch.Tensor     # the `window` noisy latents being generated
    clean: torch.Tensor       # the two clean 1x latents
    history_2x: torch.Tensor  # 2 latents, patchified 2x coarser
    history_4x: torch.Tensor  # 16 latents, patchified 4x coarser
    blank: torch.Tensor       # inverted padding (no tokens; only shifts positions); empty for F1


def inverted_indices(window: int, padding: int) -> IndexSplit:
    sizes = [1, padding * window, window, HISTORY_1X, HISTORY_2X, HISTORY_4X]
    start, blank, latents, post, h2, h4 = torch.arange(sum(sizes)).split(sizes)
    return IndexSplit(latents=latents, clean=torch.cat([start, post]), history_2x=h2, history_4x=h4, blank=blank)


def f1_indices(window: int) -> IndexSplit:
    sizes = [1, HISTORY_4X, HISTORY_2X, HISTORY_1X, window]
    start, h4, h2, h1, latents = torch.arange(sum(sizes)).split(sizes)
    return IndexSplit(latents=latents, clean=torch.cat([start, h1]), history_2x=h2, history_4x=h4,
                      blank=torch.arange(0))


def noise_pixel_frames(window: int) -> int:
    """Pixel frames FramePack asks for per section (window*4-3), i.e. `window` latent frames."""
    return window * VAE_TIME - 3


def overlap_frames(window: int) -> int:
    """Pixel frames cross-faded between a newly decoded section and the video so far."""
    return window * VAE_TIME - 3


def frames_per_section(window: int) -> int:
    return window * VAE_TIME


def total_frames(sections: int, window: int) -> int:
    """Frames of a finished video: 4*window*sections + 1 (inverted and F1 alike)."""
    return frames_per_section(window) * sections + 1


def pixel_frames(latent_frames: int) -> int:
    """Frames the causal VAE decodes from `latent_frames` latents."""
    return (latent_frames - 1) * VAE_TIME + 1 if latent_frames > 0 else 0


def decode_latents(variant: str, window: int, is_first: bool, is_last: bool, generated: int) -> int:
    """How many history latents to decode after a section (the new part + the overlap, not all):
    everything generated so far after the first section, then 2*window (+1 for the start frame that
    the last inverted section adds)."""
    if is_first:
        return generated
    if variant == "inverted" and is_last:
        return 2 * window + 1
    return 2 * window


def section_start_seconds(sections: int, window: int, fps: int = 30) -> list[float]:
    """Playback start time of each section (index = playback order, not generation order)."""
    return [p * frames_per_section(window) / fps for p in range(sections)]


def token_counts(height: int, width: int, window: int) -> dict[str, int]:
    """Transformer tokens per step for a height x width (pixels) bucket: the clean 1x/2x/4x context
    and the noisy window. Independent of the video length: that is FramePack's point."""
    h, w = height // VAE_SPACE, width // VAE_SPACE
    per_frame_1x = (h // PATCH) * (w // PATCH)
    counts = {
        "clean_4x": math.ceil(HISTORY_4X / 4) * math.ceil(h / 8) * math.ceil(w / 8),
        "clean_2x": math.ceil(HISTORY_2X / 2) * math.ceil(h / 4) * math.ceil(w / 4),
        "clean_1x": 2 * per_frame_1x,
        "noisy": window * per_frame_1x,
    }
    counts["total"] = sum(counts.values())
    return counts
