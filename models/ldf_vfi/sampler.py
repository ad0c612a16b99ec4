"""Flow-matching sampling with per-tile noise levels (LDF-VFI's Euler sampler).

Convention (as in LDF-VFI's training, precond.py): x_t = (1 - t) x_0 + t * noise and the model
predicts the velocity v = noise - x_0, so an Euler step from t_i to t_{i+1} is
x <- x + v * (t_{i+1} - t_i). Times are t_i = linspace(1, 0, steps + 1) shifted by
s*t / (1 + (s - 1) t) (shift s = 8 by default), and the model receives int(t * 1000).

Per-tile noise levels: the model gets one timestep per (temporal, row, column) tile. Context
tiles are re-noised once to t_cond (0.1) before sampling and then held fixed at that level; only
the sampled tiles move. This is the whole "diffusion forcing" machinery at inference.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x tiles, timesteps per tile) -> v
StepFn = Callable[[int, int], None]  # (step done, steps)


def flow_times(steps: int, shift: float) -> list[float]:
    """`steps + 1` times from 1 down to 0 with the time shift applied (shift 1 = none)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    times = [1.0 - i / steps for i in range(steps + 1)]
    return [shift * t / (1.0 + (shift - 1.0) * t) for t in times]


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


def sample_tiles(velocity: VelocityFn, x: torch.Tensor, sampled: Sequence[int], times: Sequence[float],
                 t_context: float, model_dtype: torch.dtype, on_step: StepFn | None = None) -> torch.Tensor:
    """Euler-sample the temporal tiles `sampled` of x (B, nT, nH, nW, C, T, H, W); the other
    temporal tiles are context held at `t_context`. Returns x with the sampled tiles at t = 0."""
    batch, n_t, n_h, n_w = x.shape[:4]
    x = x.float().clone()
    moving = torch.zeros(n_t, dtype=torch.bool)
    moving[list(sampled)] = True
    steps = len(times) - 1
    for i in range(steps):
        per_tile = torch.where(moving, model_timestep(times[i], model_dtype), model_timestep(t_context, model_dtype))
        timestep = per_tile.view(1, n_t, 1, 1).expand(batch, n_t, n_h, n_w).to(x.device)
        v = velocity(x, timestep).float()
        x[:, moving.to(x.device)] += v[:, moving.to(x.device)] * (times[i + 1] - times[i])
        if on_step is not None:
            on_step(i + 1, steps)
    return x
