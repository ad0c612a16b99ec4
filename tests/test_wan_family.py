"""The Wan layer as a studio family: presets -> tiny twin through the resolver -> loader (with the
dtype cache) -> memory plan from the Wan profile -> placement (streamed under a virtual budget) ->
the one loop. Tiny random weights: the frames are noise; counts, determinism and equality matter."""
from __future__ import annotations

import numpy as np
import pytest

from studio.env import StudioEnv
from studio.tasks.base import JobContext

W, H, FRAMES = 64, 48, 9


pytestmark = pytest.mark.usefixtures("one_thread")


def _run(tmp_path, preset: str, vram_gb: float | None, **kw):
    from models.wan.loading import load_components
    from models.wan.pipeline import WanParams, generate
    from models.wan.profile import run_options
    from studio.tasks.placed import placed

    env = StudioEnv(outputs=tmp_path / "out", tiny=True, vram_gb=vram_gb)
    ctx = JobContext(job_dir=tmp_path, env=env)
    with placed(ctx, preset, load_components, width=W, height=H, frames=FRAMES) as job:
        params = WanParams(prompt="a lighthouse at dusk", width=W, height=H, frames=FRAMES, steps=2, seed=3,
                           **{**run_options(job.plan), **kw})
        out = generate(job.placement, params)
    return out, job.plan, ctx.record


def _image(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((H, W, 3)) * 255).astype(np.uint8)


def test_first_last_frame_job_through_memory(tmp_path) -> None:
    out, plan, record = _run(tmp_path, "wan-flf2v-14b", None, image=_image(1), last_image=_image(2))
    assert out.frames.shape == (FRAMES, H, W, 3) and out.frames.dtype == np.uint8 and out.mode == "flf2v"
    assert record["preset"] == "wan-flf2v-14b-tiny" and record["memory_plan"]["family"] == "wan"
    again, _, _ = _run(tmp_path, "wan-flf2v-14b", None, image=_image(1), last_image=_image(2))
    assert np.array_equal(out.frames, again.frames)  # seeded


def test_streamed_under_a_virtual_budget_equals_resident(tmp_path) -> None:
    resident, _, _ = _run(tmp_path, "wan-t2v-1.3b", None)
    # A virtual device far smaller than the tiny transformer: its blocks stream; chunked blocks on.
    streamed, plan, _ = _run(tmp_path, "wan-t2v-1.3b", 5e-5, chunk_tokens=7)
    assert plan.components["transformer"].placement == "streamed"
    assert plan.components["text_encoder"].placement == "streamed"  # UMT5's nested encoder.block
    assert float((streamed.latents - resident.latents).abs().max()) <= 1e-5
