"""The shared samplers (models/sampling.py) against references.

- FramePack's flow UniPC (bh1, lambda = -log sigma) and Euler: the outputs recorded from the
  FramePack family's previous sampler (tests/data/framepack_sampler_reference.npz), which was the
  one checked against FramePack's own uni_pc_fm.py; the shared one also matched that file directly
  (max 9e-8 over 18 schedules, a one-off check noted in docs/architecture.md).
- Wan's sampling: diffusers' UniPCMultistepScheduler with the config Wan repos ship (flow sigmas,
  flow_shift, bh2, order 2, lower_order_final) and FlowMatchEulerDiscreteScheduler, step by step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models import sampling

REF = Path(__file__).parent / "data" / "framepack_sampler_reference.npz"


def _nonlinear(W: torch.Tensor):
    def model(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.einsum("ij,bj...->bi...", W, x)) * (1 - sigma.view(-1, 1, 1, 1, 1)) + 0.1 * x
    return model


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 7, 25])
def test_framepack_samplers_reproduce_the_recorded_reference(steps: int) -> None:
    ref = np.load(REF)
    model = _nonlinear(torch.from_numpy(ref["W"]))
    x, sigmas = torch.from_numpy(ref[f"x_{steps}"]), torch.from_numpy(ref[f"sigmas_{steps}"])
    assert torch.equal(sampling.flow_sigmas(steps, mu=1.0), sigmas)
    unipc = sampling.sample_unipc(model, x.clone(), sigmas)
    euler = sampling.sample_euler(model, x.clone(), sigmas)
    assert float((unipc - torch.from_numpy(ref[f"unipc_{steps}"])).abs().max()) <= 1e-6
    assert float((euler - torch.from_numpy(ref[f"euler_{steps}"])).abs().max()) <= 1e-6


def _velocity_model(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(4, 4, generator=g) * 0.4

    def velocity(x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        t = timestep.float().view(-1, 1, 1, 1, 1) / 1000
        return torch.sin(torch.einsum("ij,bj...->bi...", W, x)) * (0.5 + t) - 0.3 * x
    return velocity


@pytest.mark.parametrize("steps,shift", [(2, 3.0), (3, 5.0), (8, 3.0), (20, 5.0)])
def test_flow_unipc_equals_diffusers_wan_scheduler(steps: int, shift: float) -> None:
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift,
                                        solver_order=2, solver_type="bh2", lower_order_final=True,
                                        num_train_timesteps=1000)
    scheduler.set_timesteps(steps)
    schedule = sampling.flow_schedule_like_diffusers(steps, shift)
    assert torch.equal(schedule.timesteps, scheduler.timesteps)
    assert torch.equal(schedule.sigmas, scheduler.sigmas)

    velocity = _velocity_model()
    x = torch.randn(1, 4, 3, 4, 5, generator=torch.Generator().manual_seed(1))
    latents = x.clone()
    for t in scheduler.timesteps:
        latents = scheduler.step(velocity(latents, t.expand(1)), t, latents, return_dict=False)[0]

    seen: list[int] = []

    def denoiser(z: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        timestep = schedule.timestep(sigma)
        seen.append(int(timestep))
        return z - sigma.view(-1, 1, 1, 1, 1) * velocity(z, timestep.expand(1))

    ours = sampling.sample_unipc(denoiser, x.clone(), schedule.sigmas, max_order=2, variant="bh2", alpha="flow",
                                 lower_order_final=True)
    assert seen == scheduler.timesteps.tolist()
    assert float((ours - latents).abs().max()) <= 1e-5


def test_euler_equals_diffusers_flow_match_euler() -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0)
    sigmas = sampling.flow_sigmas(6, shift=5.0)
    scheduler.set_timesteps(sigmas=sigmas[:-1].numpy())
    velocity = _velocity_model(2)
    x = torch.randn(1, 4, 2, 3, 3, generator=torch.Generator().manual_seed(3))
    latents = x.clone()
    for t in scheduler.timesteps:
        latents = scheduler.step(velocity(latents, t.expand(1)), t, latents, return_dict=False)[0]
    ours = sampling.sample_euler(sampling.to_denoiser(lambda z, s: velocity(z, s * 1000)), x.clone(), sigmas)
    assert float((ours - latents).abs().max()) <= 1e-5


def test_callback_sees_every_call_and_can_stop() -> None:
    calls = []

    def stop_at_three(step: sampling.Step) -> None:
        calls.append((step.i, step.total))
        if step.i == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sampling.sample_unipc(lambda x, s: x * 0, torch.ones(1, 1, 1, 1, 1), sampling.flow_sigmas(5, shift=3.0),
                              stop_at_three)
    assert calls == [(0, 5), (1, 5), (2, 5)]
