"""A whole tiny FramePack generation on a virtual device budget (CPU; tiny weights: the frames are noise).

The plan streams the transformer block by block and loads the other components per phase; the
counter proves the device never held more weight bytes than the plan allows, and the streamed
video equals the all-resident video bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from framepack_fixtures import components, image, placement, tiny_root  # noqa: F401  (fixtures)

from memory import Placement
from memory.executor import DeviceByteCounter, apply_plan
from models.framepack.pipeline import FramePackParams, generate
from studio.planning import plan_for

pytestmark = pytest.mark.usefixtures("one_thread")


def _video(place, params) -> np.ndarray:
    return np.array(list(generate(place, params))[-1].frames)


def test_streamed_generation_stays_in_the_virtual_budget_and_equals_all_resident(components) -> None:
    comps = components["inverted"]
    modules = {k: v for k, v in comps.items() if isinstance(v, torch.nn.Module)}
    params = FramePackParams(variant="inverted", image=image(), prompt="a boat", seconds=1.0,
                             latent_window_size=3, steps=2, bucket=32, sampler="euler", seed=5)
    reference = _video(Placement(device=torch.device("cpu"), components=comps), params)

    # Size the virtual device from the plan itself: just enough for its largest phase with the
    # transformer streamed (no resident blocks, no reserve).
    probe = plan_for("framepack-tiny", 32, 32, 1.0, vram_gb=1e-6, ram_gb=8, gpu_memory_preservation_gb=0,
                      reserve_gb=0, modules=modules, window=3)
    vram = max(p.device_bytes for p in probe.phases.values()) + 1
    plan = plan_for("framepack-tiny", 32, 32, 1.0, vram_gb=vram / 2**30, ram_gb=8, gpu_memory_preservation_gb=0,
                     reserve_gb=0, modules=modules, window=3)
    assert plan.fits and plan.components["transformer"].placement == "streamed"
    budget = max(p.weights_bytes for p in plan.phases.values())
    counter = DeviceByteCounter(budget)
    placed = apply_plan(plan, comps, "cpu", counter=counter)
    try:
        streamed = _video(placed, params)
    finally:
        placed.release()
    assert counter.peak <= budget
    kinds = {e.kind for e in counter.events}
    assert {"load", "prefetch", "unload"} <= kinds  # blocks really were streamed
    assert np.array_equal(streamed, reference)
