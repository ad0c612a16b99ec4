"""Flow-matching samplers for FramePack, in the k-diffusion style: small pure functions of
(model, x, sigmas), where `model(x, sigma) -> x0` predicts the clean latents.

- `flow_sigmas`: sigmas 1 -> 0 shifted by FramePack's resolution-dependent `mu` (linear in the
  sequence length: 256 -> 0.5, 4096 -> 1.15, capped at ln 7) or by a fixed `shift` (mu = ln shift).
  Note diffusers' scheduler with shift s computes s*t / (1 + (s-1)*t), which equals the
  exponential shift with mu = ln s; the real HunyuanVideo scheduler config uses s = 7, i.e.
  FramePack's cap, which FramePack always reaches at the 640 buckets.
- `sample_unipc`: UniPC with the bh1 variant (B(h) = h), order <= 3, on flow matching with
  lambda = -log(sigma) (FramePack's "flow matching UniPC"). n steps = n model calls; the result is
  the clean prediction at the last non-zero sigma.
- `sample_euler`: the plain Euler step of diffusers' FlowMatchEulerDiscreteScheduler,
  x <- x + (sigma_next - sigma) * v; the result is x at sigma = 0.
- `guided_denoiser`: wraps a velocity model with real CFG (only when cfg != 1) and CFG rescale.

A callback `callback(step, total, x0, x)` runs after every model call (step counts from 0); it
may raise to stop sampling.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]        # (x, sigma) -> x0
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]        # (x, sigma) -> v
StepCallback = Callable[[int, int, torch.Tensor, torch.Tensor], None]  # (step, total, x0, x)


def flux_mu(seq_len: float, base_len: int = 256, base_shift: float = 0.5, max_len: int = 4096,
            max_shift: float = 1.15, exp_max: float = 7.0) -> float:
    """FramePack's shift: linear in the noisy sequence length, at most ln(exp_max)."""
    slope = (max_shift - base_shift) / (max_len - base_len)
    mu = base_shift + slope * (seq_len - base_len)
    return min(mu, math.log(exp_max))


def flow_sigmas(steps: int, mu: float | None = None, shift: float | None = None) -> torch.Tensor:
    """`steps + 1` float32 sigmas from 1 down to exactly 0: t = linspace(1, 0), then
    sigma = e^mu / (e^mu + 1/t - 1). Give either `mu` or a fixed `shift` (mu = ln shift)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if (mu is None) == (shift is None):
        raise ValueError("give exactly one of mu and shift")
    mu = math.log(shift) if shift is not None else mu
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    sigmas = torch.zeros_like(t)
    live = t > 0
    sigmas[live] = math.exp(mu) / (math.exp(mu) + (1.0 / t[live] - 1.0))
    return sigmas.to(torch.float32)


def guided_denoiser(positive: Velocity, negative: Optional[Velocity], cfg: float = 1.0,
                    rescale: float = 0.0) -> Denoiser:
    """x0 prediction from velocity models: v = neg + cfg * (pos - neg) when cfg != 1 (two model calls),
    else just pos (one call); `rescale` in [0, 1] pulls the guided velocity's std back towards the
    positive one's (guidance rescale). x0 = x - sigma * v."""
    if cfg != 1.0 and negative is None:
        raise ValueError("real CFG (cfg != 1) needs a negative model")

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        v = positive(x, sigma).float()
        if cfg != 1.0:
            v_pos = v
            v_neg = negative(x, sigma).float()
            v = v_neg + cfg * (v_pos - v_neg)
            if rescale > 0:
                v = rescale_guidance(v, v_pos, rescale)
        return x.float() - v * _per_sample(sigma, x)

    return denoise


def rescale_guidance(guided: torch.Tensor, positive: torch.Tensor, amount: float) -> torch.Tensor:
    """Blend `guided` with a copy whose per-sample std matches `positive` (reduces over-saturation)."""
    dims = list(range(1, guided.ndim))
    matched = guided * (positive.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
    return amount * matched + (1.0 - amount) * guided


def _per_sample(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x.device, torch.float32)


def sample_euler(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                 callback: StepCallback | None = None) -> torch.Tensor:
    """Euler on the flow ODE: one model call per step, returns x at the last sigma (0)."""
    total = len(sigmas) - 1
    x = x.float()
    for i in range(total):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0 = model(x, sigma.expand(x.shape[0]))
        velocity = (x - x0) / sigma
        if callback is not None:
            callback(i, total, x0, x)
        x = x + (sigma_next - sigma) * velocity
    return x


def sample_unipc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                 callback: StepCallback | None = None, max_order: int = 3) -> torch.Tensor:
    """UniPC-bh1 (predictor + corrector) on x0 predictions; returns the last x0 prediction.

    Step 0 evaluates the model at sigma[0]; step i >= 1 moves x from sigma[i-1] to sigma[i] with
    order min(i, max_order, steps - 1), evaluates the model there and corrects x with it."""
    total = len(sigmas) - 1
    order = min(max_order, total - 1)
    x = x.float()
    past_x0: list[torch.Tensor] = []
    past_sigma: list[float] = []
    for i in range(total):
        sigma = float(sigmas[i])
        if i == 0:
            x0 = model(x, sigmas[i].expand(x.shape[0]))
        else:
            k = min(i, order)
            x, x0 = _unipc_update(model, x, past_x0[-k:], past_sigma[-k:], sigma, sigmas[i].expand(x.shape[0]))
        past_x0.append(x0)
        past_sigma.append(sigma)
        if order > 0:
            past_x0, past_sigma = past_x0[-order:], past_sigma[-order:]
        if callback is not None:
            callback(i, total, x0, x)
    return past_x0[-1]


def _unipc_update(model: Denoiser, x: torch.Tensor, past_x0: list[torch.Tensor], past_sigma: list[float],
                  sigma: float, sigma_vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One UniPC step of order k = len(past_x0) from past_sigma[-1] to sigma (bh1: B(h) = h)."""
    k = len(past_x0)
    lam = lambda s: -math.log(s)  # noqa: E731  (log-SNR stand-in used by FramePack's flow UniPC)
    s0, m0 = past_sigma[-1], past_x0[-1]
    h = lam(sigma) - lam(s0)

    # Ratios r_j of the older steps' log-sigma gaps to h, and the matching finite differences.
    ratios = [(lam(past_sigma[-(j + 1)]) - lam(s0)) / h for j in range(1, k)]
    diffs = [(past_x0[-(j + 1)] - m0) / r for j, r in zip(range(1, k), ratios)]

    # phi-function coefficients: b_i = phi_i(-h) * i! / B(h), with B(h) = -h (bh1, as hh = -h).
    hh = -h
    phi_1 = math.expm1(hh)
    phi = phi_1 / hh - 1.0
    factorial = 1
    rows, rhs = [], []
    nodes = ratios + [1.0]
    for i in range(1, k + 1):
        rows.append([r ** (i - 1) for r in nodes])
        rhs.append(phi * factorial / hh)
        factorial *= i + 1
        phi = phi / hh - 1.0 / factorial
    R = torch.tensor(rows, dtype=torch.float64)
    b = torch.tensor(rhs, dtype=torch.float64)

    # First-order (DDIM-like) part shared by predictor and corrector.
    base = (sigma / s0) * x - phi_1 * m0

    if diffs:
        rho_p = [0.5] if k == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1]).tolist()
        x_pred = base - hh * sum(r * d for r, d in zip(rho_p, diffs))
    else:
        x_pred = base
    x0_new = model(x_pred, sigma_vec)

    rho_c = [0.5] if k == 1 else torch.linalg.solve(R, b).tolist()
    correction = rho_c[-1] * (x0_new - m0)
    if diffs:
        correction = correction + sum(r * d for r, d in zip(rho_c[:-1], diffs))
    return base - hh * correction, x0_new
