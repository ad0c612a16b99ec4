"""LDF-VFI's sampling on the shared Euler sampler (models/sampling.py), with per-tile noise levels.

Convention (as in LDF-VFI's training, precond.py): x_t = (1 - t) x_0 + t * noise and the model
predicts the velocity v = noise - x_0; times are t_i = linspace(1, 0, steps + 1) shifted by
s*t / (1 + (s - 1) t) (`sampling.flow_sigmas(steps, shift=s)`, shift 8 by default), and the model
receives int(t * 1000).

Per-tile noise levels: the model gets one timestep per (temporal, row, column) tile. Context tiles
are re-noised once to t_cond (0.1) and held there: the denoiser reports x0 = x for them, so the
Euler step (x - x0) / sigma leaves them where they are, and only the sampled tiles move.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from models import sampling

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x tiles, timesteps per tile) -> v


def model_timestep(t: float, dtype: torch.dtype) -> float:
    """The integer timestep the model sees: int(t * 1000) computed in the model's dtype.

    The reference builds t in the weight dtype (bfloat16) before multiplying and truncating; doing
    the same keeps the released model's integer timesteps identical (e.g. t_cond 0.1 -> 100).
    """
    return float(torch.tensor(t, dtype=dtype).mul(1000).to(torch.long).item())


def renoise(clean: torch.Tensor, t: float, generator: torch.Generator) -> torch.Tensor:
    """x_t of a clean latent at noise level t (noise drawn on the CPU generator)."""
    noise = torch.randn(clean.shape, generator=generator, dtype=torch.float32).to(clean.device)
    return clean * (1.0 - t) + noise * t


def tile_denoiser(velocity: VelocityFn, sampled: Sequence[int], n_tiles: int, t_context: float,
                  model_dtype: torch.dtype) -> sampling.Denoiser:
    """x0 prediction of x (B, nT, nH, nW, C, T, H, W): sampled temporal tiles at the step's noise
    level, the others (context) held at `t_context`."""
    moving = torch.zeros(n_tiles, dtype=torch.bool)
    moving[list(sampled)] = True
    held = model_timestep(t_context, model_dtype)

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        batch, n_t, n_h, n_w = x.shape[:4]
        per_tile = torch.where(moving, model_timestep(float(sigma.flatten()[0]), model_dtype), held)
        timestep = per_tile.view(1, n_t, 1, 1).expand(batch, n_t, n_h, n_w).to(x.device)
        x0 = x.float() - float(sigma.flatten()[0]) * velocity(x, timestep).float()
        keep = (~moving).to(x.device)
        x0[:, keep] = x.float()[:, keep]
        return x0

    return denoise
