"""The samplers every family shares, in k-diffusion's shape: `sample(model, x, sigmas, callback)`.

`model(x, sigma) -> x0` predicts the clean latents (a `Denoiser`); guidance wraps the model, never
the sampler:
- `to_denoiser(velocity)`: flow models predict v = noise - x0, so x0 = x - sigma * v;
- `cfg_velocity(positive, negative, scale, rescale)`: real classifier-free guidance with
  guidance rescale, one model call when `scale == 1`;
- distilled guidance (FramePack's `gs`) is an input of the model call itself, bound by the family.
Every sampler calls `callback(Step)` after each model call and stops only by an exception the
callback raises (the families raise `core.errors.JobStopped` there).

Schedules (`flow_sigmas`, `flow_schedule_like_diffusers`) give sigmas from ~1 down to exactly 0.

Samplers:
- `sample_euler`: diffusers' FlowMatchEulerDiscreteScheduler step, x <- x + (s' - s) (x - x0) / s;
  returns x at sigma 0.
- `sample_unipc`: UniPC (predictor + corrector, B(h) = h for "bh1", e^h - 1 for "bh2") on x0
  predictions. `alpha="one"` is FramePack's flow UniPC (lambda = -log sigma, as its
  uni_pc_fm.py); `alpha="flow"` is diffusers' UniPCMultistepScheduler with `use_flow_sigmas`
  (alpha = 1 - sigma, lambda = log alpha - log sigma), which is how Wan samples. It returns the
  last x0 prediction, which is exactly what the final step to sigma 0 of diffusers' scheduler
  gives (order 1 there: x = m0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Optional

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]        # (x, sigma) -> x0
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]        # (x, sigma) -> v


@dataclass(frozen=True)
class Step:
    """What a sampler reports after each model call."""

    i: int                  # 0-based model call
    total: int              # model calls of the whole run
    sigma: float            # noise level the model was called at
    x: torch.Tensor         # the sample the model saw
    denoised: torch.Tensor  # its x0 prediction


Callback = Callable[[Step], None]


# ------------------------------------------------------------------------------------------ schedules


def dynamic_shift_mu(seq_len: float, base_len: int = 256, base_shift: float = 0.5, max_len: int = 4096,
                     max_shift: float = 1.15, exp_max: float | None = 7.0) -> float:
    """Flux's resolution-dependent shift (FramePack's): mu linear in the sequence length, at most
    ln(exp_max)."""
    slope = (max_shift - base_shift) / (max_len - base_len)
    mu = base_shift + slope * (seq_len - base_len)
    return min(mu, math.log(exp_max)) if exp_max is not None else mu


def flow_sigmas(steps: int, mu: float | None = None, shift: float | None = None) -> torch.Tensor:
    """`steps + 1` float32 sigmas from 1 down to exactly 0: t = linspace(1, 0), then
    sigma = e^mu / (e^mu + 1/t - 1), i.e. shift*t / (1 + (shift-1) t) with mu = ln shift."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if (mu is None) == (shift is None):
        raise ValueError("give exactly one of mu and shift")
    if shift is not None and shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    mu = math.log(shift) if shift is not None else mu
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    sigmas = torch.zeros_like(t)
    live = t > 0
    sigmas[live] = math.exp(mu) / (math.exp(mu) + (1.0 / t[live] - 1.0))
    return sigmas.to(torch.float32)


@dataclass(frozen=True)
class FlowSchedule:
    """Sigmas (float32, `steps + 1`, ending at 0) and the timesteps the model is called with."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor

    def timestep(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """The model's timestep for one of `sigmas` (looked up, so it is bit-identical to the
        schedule's own, which is computed in float64 before rounding)."""
        value = float(sigma.flatten()[0]) if isinstance(sigma, torch.Tensor) else float(sigma)
        index = int(torch.argmin((self.sigmas[:-1].double() - value).abs()))
        return self.timesteps[index]


def flow_schedule_like_diffusers(steps: int, shift: float, num_train_timesteps: int = 1000) -> FlowSchedule:
    """diffusers' UniPC/Euler flow schedule for Wan (`use_flow_sigmas`, `flow_shift`): sigmas =
    shifted linspace(1, 1/T, steps + 1)[:-1], the first nudged below 1 by 1e-6, then a final 0;
    timesteps = int64(sigma * T)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    base = torch.linspace(1.0, 1.0 / num_train_timesteps, steps + 1, dtype=torch.float64)[:-1]
    sigmas = shift * base / (1 + (shift - 1) * base)
    if abs(float(sigmas[0]) - 1.0) < 1e-6:
        sigmas[0] -= 1e-6  # diffusers does this to keep log(alpha) finite at the first step
    timesteps = (sigmas * num_train_timesteps).to(torch.int64)
    return FlowSchedule(torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)]).to(torch.float32), timesteps)


# ------------------------------------------------------------------------------------------ guidance


def to_denoiser(velocity: Velocity) -> Denoiser:
    """x0 = x - sigma * v (flow matching with v = noise - x0)."""

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return x.float() - velocity(x, sigma).float() * _per_sample(sigma, x)

    return denoise


def cfg_velocity(positive: Velocity, negative: Optional[Velocity], scale: float = 1.0,
                 rescale: float = 0.0) -> Velocity:
    """v = neg + scale * (pos - neg) when scale != 1 (two model calls), else pos (one call);
    `rescale` in [0, 1] pulls the guided velocity's std back towards the positive one's."""
    if scale != 1.0 and negative is None:
        raise ValueError("real CFG (scale != 1) needs a negative model")

    def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        v = positive(x, sigma).float()
        if scale == 1.0:
            return v
        v_neg = negative(x, sigma).float()
        out = v_neg + scale * (v - v_neg)
        return rescale_guidance(out, v, rescale) if rescale > 0 else out

    return guided


def rescale_guidance(guided: torch.Tensor, positive: torch.Tensor, amount: float) -> torch.Tensor:
    """Blend `guided` with a copy whose per-sample std matches `positive` (reduces over-saturation)."""
    dims = list(range(1, guided.ndim))
    matched = guided * (positive.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
    return amount * matched + (1.0 - amount) * guided


def _per_sample(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x.device, torch.float32)


# ------------------------------------------------------------------------------------------ samplers


def sample_euler(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                 callback: Callback | None = None) -> torch.Tensor:
    """Euler on the flow ODE: one model call per step, returns x at the last sigma (0)."""
    total = len(sigmas) - 1
    x = x.float()
    for i in range(total):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0 = model(x, sigma.expand(x.shape[0]))
        velocity = (x - x0) / sigma
        if callback is not None:
            callback(Step(i, total, float(sigma), x, x0))
        x = x + (sigma_next - sigma) * velocity
    return x


Alpha = Literal["one", "flow"]


def sample_unipc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback | None = None, *,
                 max_order: int = 3, variant: Literal["bh1", "bh2"] = "bh1", alpha: Alpha = "one",
                 lower_order_final: bool = False) -> torch.Tensor:
    """UniPC on x0 predictions; returns the last x0 prediction (see the module docstring).

    Step 0 evaluates the model at sigma[0]; step k >= 1 predicts x at sigma[k] from sigma[k-1]
    with order min(k, max_order) (and <= steps - k + 1 with `lower_order_final`, as diffusers),
    evaluates the model there and corrects x with that evaluation."""
    total = len(sigmas) - 1
    cap = max_order if lower_order_final else min(max_order, total - 1)
    x = x.float()
    past_x0: list[torch.Tensor] = []
    past_sigma: list[float] = []
    for k in range(total):
        sigma = float(sigmas[k])
        sigma_vec = sigmas[k].expand(x.shape[0])
        if k == 0:
            seen, x0 = x, model(x, sigma_vec)
        else:
            order = min(k, cap, total - k + 1) if lower_order_final else min(k, cap)
            seen, x, x0 = _unipc_update(model, x, past_x0[-order:], past_sigma[-order:], sigma, sigma_vec,
                                        variant, alpha)
        past_x0.append(x0)
        past_sigma.append(sigma)
        past_x0, past_sigma = past_x0[-max(cap, 1):], past_sigma[-max(cap, 1):]
        if callback is not None:
            callback(Step(k, total, sigma, seen, x0))
    return past_x0[-1]


def _lambda(sigma: float, alpha: Alpha) -> float:
    a = 1.0 if alpha == "one" else 1.0 - sigma
    return math.log(a) - math.log(sigma)


def _unipc_update(model: Denoiser, x: torch.Tensor, past_x0: list[torch.Tensor], past_sigma: list[float],
                  sigma: float, sigma_vec: torch.Tensor, variant: str, alpha: Alpha
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One UniPC step of order k = len(past_x0) from past_sigma[-1] to sigma: the predicted sample
    the model sees, the corrected sample, and the model's x0 there."""
    k = len(past_x0)
    s0, m0 = past_sigma[-1], past_x0[-1]
    alpha_t = 1.0 if alpha == "one" else 1.0 - sigma
    h = _lambda(sigma, alpha) - _lambda(s0, alpha)

    # Ratios r_j of the older steps' log-SNR gaps to h, and the matching finite differences.
    ratios = [(_lambda(past_sigma[-(j + 1)], alpha) - _lambda(s0, alpha)) / h for j in range(1, k)]
    diffs = [(past_x0[-(j + 1)] - m0) / r for j, r in zip(range(1, k), ratios)]

    hh = -h  # x0 prediction
    h_phi_1 = math.expm1(hh)
    b_h = hh if variant == "bh1" else math.expm1(hh)
    phi = h_phi_1 / hh - 1.0
    factorial = 1
    rows, rhs = [], []
    nodes = ratios + [1.0]
    for i in range(1, k + 1):
        rows.append([r ** (i - 1) for r in nodes])
        rhs.append(phi * factorial / b_h)
        factorial *= i + 1
        phi = phi / hh - 1.0 / factorial
    R = torch.tensor(rows, dtype=torch.float64)
    b = torch.tensor(rhs, dtype=torch.float64)

    # First-order (DDIM-like) part shared by predictor and corrector.
    base = (sigma / s0) * x - (alpha_t * h_phi_1) * m0
    scale = alpha_t * b_h
    if diffs:
        rho_p = [0.5] if k == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1]).tolist()
        x_pred = base - scale * sum(r * d for r, d in zip(rho_p, diffs))
    else:
        x_pred = base
    x0_new = model(x_pred, sigma_vec)

    rho_c = [0.5] if k == 1 else torch.linalg.solve(R, b).tolist()
    correction = rho_c[-1] * (x0_new - m0)
    if diffs:
        correction = correction + sum(r * d for r, d in zip(rho_c[:-1], diffs))
    return x_pred, base - scale * correction, x0_new
