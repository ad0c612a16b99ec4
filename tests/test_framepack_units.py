"""Pure parts of models/framepack: schedule, buckets, prompts, sampler, preview, teacache rescale."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.errors import InputError
from models import sampling as sampler
from models.framepack import buckets, prompts, schedule
from models.framepack.preview import latent_preview, readable

# -- schedule ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, window, expected", [(5, 9, 4), (1, 9, 1), (0.1, 9, 1), (60, 9, 50),
                                                        (120, 9, 100), (2, 3, 5), (1, 3, 2)])
def test_section_count(seconds: float, window: int, expected: int) -> None:
    assert schedule.section_count(seconds, window) == expected


def test_latent_paddings_and_frame_totals() -> None:
    assert schedule.latent_paddings(1) == [0]
    assert schedule.latent_paddings(4) == [3, 2, 1, 0]
    assert schedule.latent_paddings(5) == [3, 2, 2, 1, 0]
    assert schedule.latent_paddings(8) == [3, 2, 2, 2, 2, 2, 1, 0]
    for n in (1, 2, 5, 50):
        assert schedule.total_frames(n, 9) == 36 * n + 1
    assert schedule.overlap_frames(9) == 33 == schedule.noise_pixel_frames(9)
    assert schedule.pixel_frames(10) == 37 and schedule.pixel_frames(1) == 1


def test_index_layouts() -> None:
    inv = schedule.inverted_indices(window=9, padding=2)
    # [1 start | 18 blank | 9 generated | 1 clean-post | 2 | 16]
    assert inv.clean.tolist() == [0, 28] and inv.blank.tolist() == list(range(1, 19))
    assert inv.latents.tolist() == list(range(19, 28))
    assert inv.history_2x.tolist() == [29, 30] and inv.history_4x.tolist() == list(range(31, 47))
    f1 = schedule.f1_indices(window=9)
    # [1 start | 16 (4x) | 2 (2x) | 1 (1x) | 9 generated]
    assert f1.history_4x.tolist() == list(range(1, 17)) and f1.history_2x.tolist() == [17, 18]
    assert f1.clean.tolist() == [0, 19] and f1.latents.tolist() == list(range(20, 29))
    assert f1.blank.numel() == 0


def test_token_counts_are_length_independent_and_match_design() -> None:
    counts = schedule.token_counts(544, 704, 9)
    assert counts["noisy"] == 9 * 34 * 44 and counts["clean_1x"] == 2 * 34 * 44
    assert 17_000 < counts["total"] < 17_400  # DESIGN §3: ~17.2k tokens at 544x704
    assert schedule.token_counts(64, 64, 3)["total"] == 3 * 16 + 2 * 16 + 4 + 4


def test_decode_slices() -> None:
    assert schedule.decode_latents("inverted", 9, True, False, 9) == 9
    assert schedule.decode_latents("inverted", 9, False, False, 18) == 18
    assert schedule.decode_latents("inverted", 9, False, True, 28) == 19
    assert schedule.decode_latents("f1", 9, True, False, 10) == 10
    assert schedule.decode_latents("f1", 9, False, True, 19) == 18


# -- buckets -----------------------------------------------------------------------------------

def test_buckets() -> None:
    assert len(buckets.buckets(640)) == 14 and buckets.buckets(640)[0] == (416, 960)
    assert buckets.nearest_bucket(1080, 1920) == (480, 832)
    assert buckets.nearest_bucket(400, 1000) == (416, 960)
    assert buckets.nearest_bucket(512, 512) == (640, 608)  # ties go to the later bucket, like FramePack
    assert buckets.nearest_bucket(704, 544) == (704, 544)
    for base in (64, 480, 720):
        for h, w in buckets.buckets(base):
            assert h % 16 == 0 and w % 16 == 0
    assert all(abs(h * w - 64 * 64) < 64 * 64 for h, w in buckets.buckets(64))


def test_resize_and_center_crop() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (100, 300, 3), dtype=np.uint8)
    out = buckets.resize_and_center_crop(img, 64, 96)
    assert out.shape == (64, 96, 3) and out.dtype == np.uint8
    same = buckets.resize_and_center_crop(img, 100, 300)
    assert same is img  # already the right size: untouched
    assert buckets.fit_to_bucket(img, 64).shape[:2] == buckets.nearest_bucket(100, 300, 64)


# -- prompts -----------------------------------------------------------------------------------

def test_parse_plain_and_timestamped() -> None:
    assert prompts.parse_timestamped_prompt("  a cat walks ", 5) == [prompts.PromptSpan(0.0, 5.0, "a cat walks")]
    assert prompts.parse_timestamped_prompt("", 5) == [prompts.PromptSpan(0.0, 5.0, "")]
    spans = prompts.parse_timestamped_prompt("[0s: a cat walks] [2s-4s: the cat jumps]", 5)
    assert spans == [prompts.PromptSpan(0, 2, "a cat walks"), prompts.PromptSpan(2, 4, "the cat jumps")]
    spans = prompts.parse_timestamped_prompt("[3: b]\n[0.5s : a: with colon]", 5)
    assert spans == [prompts.PromptSpan(0.5, 3, "a: with colon"), prompts.PromptSpan(3, 5, "b")]


@pytest.mark.parametrize("text, words", [
    ("[0s: a cat", "never closed"),
    ("[0s: a [1s: b]", "never closed"),
    ("[0s: a] b]", "no matching"),  # plain text with brackets is a plain prompt: only timestamped ones
    ("[0s: a] [a cat]", "does not start with a time"),
    ("[4s-2s: x]", "before it starts"),
    ("[2s-2s: x]", "before it starts"),
    ("[0s: a] [9s: b]", "beyond the video length"),
    ("[0s-9s: a]", "beyond the video length"),
    ("[0s: a] [1s:   ]", "has no text"),
    ("[-1s: a]", "negative"),
    ("[0s: a] and more", "outside brackets"),
    ("[1s: a] [1s: b]", "both start"),
])
def test_bad_prompts_name_the_field_and_fix(text: str, words: str) -> None:
    with pytest.raises(InputError) as err:
        prompts.parse_timestamped_prompt(text, 5)
    assert err.value.field == "prompt" and words in err.value.problem and err.value.fix


def test_prompts_per_section_order_snap_and_blend() -> None:
    spans = prompts.parse_timestamped_prompt("[0s: a] [1.3s: b] [3.1s-4s: c]", 5)
    starts = [0.0, 1.2, 2.4, 3.6, 4.8]  # playback order
    forward = prompts.prompts_per_section(spans, starts)
    assert [mix[0][0] for mix in forward] == ["a", "b", "b", "c", "c"]  # 1.3 -> 1.2; 3.1-4 -> 3.6 and kept one section
    inverted = prompts.prompts_per_section(spans, starts, inverted=True)
    assert inverted == forward[::-1]  # inverted sampling generates the end first
    blended = prompts.prompts_per_section(spans, starts, blend_sections=1)
    assert blended[0] == (("a", 1.0),)
    assert blended[1] == (("a", 0.5), ("b", 0.5)) and blended[2] == (("b", 1.0),)
    assert blended[3] == (("b", 0.5), ("c", 0.5))
    # A gap holds the prompt that ended last; before the first span, the first span applies.
    gap = prompts.parse_timestamped_prompt("[1.2s-2.4s: a] [3.6s: b]", 5)
    assert [m[0][0] for m in prompts.prompts_per_section(gap, starts)] == ["a", "a", "a", "b", "b"]


# -- sampler -----------------------------------------------------------------------------------

def test_mu_and_sigmas() -> None:
    assert sampler.dynamic_shift_mu(256) == pytest.approx(0.5) and sampler.dynamic_shift_mu(4096) == pytest.approx(1.15)
    assert sampler.dynamic_shift_mu(13464) == pytest.approx(math.log(7))  # capped at the 640 buckets
    s = sampler.flow_sigmas(25, mu=0.8)
    assert s.shape == (26,) and s[0] == 1 and s[-1] == 0 and bool((s[1:] < s[:-1]).all())
    # diffusers' static shift s*t/(1+(s-1)t) == the exponential shift with mu = ln s.
    t = torch.linspace(1, 0, 11)[:-1]
    assert torch.allclose(sampler.flow_sigmas(10, shift=7.0)[:-1], 7 * t / (1 + 6 * t), atol=1e-6)


def _linear_flow_model(x0_true: torch.Tensor):
    # x_t = (1 - s) x0 + s * eps  =>  the exact x0 prediction is available from x and s given eps-free data.
    def model(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return x0_true.expand_as(x)
    return model


@pytest.mark.parametrize("run", [sampler.sample_euler, sampler.sample_unipc])
def test_samplers_recover_a_known_x0(run) -> None:
    x0 = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    seen = []
    out = run(_linear_flow_model(x0), noise, sampler.flow_sigmas(6, mu=1.0),
              callback=lambda step: seen.append((step.i, step.total)))
    assert torch.allclose(out, x0, atol=1e-5)
    assert seen == [(i, 6) for i in range(6)]


def test_guidance_calls_negative_only_with_real_cfg() -> None:
    calls = []
    pos = lambda x, s: (calls.append("pos"), torch.ones_like(x))[1]  # noqa: E731
    neg = lambda x, s: (calls.append("neg"), torch.zeros_like(x))[1]  # noqa: E731
    x, s = torch.zeros(1, 2, 1, 2, 2), torch.tensor([0.5])
    assert torch.allclose(sampler.to_denoiser(sampler.cfg_velocity(pos, neg, scale=1.0))(x, s), -0.5 * torch.ones_like(x))
    assert calls == ["pos"]
    calls.clear()
    out = sampler.to_denoiser(sampler.cfg_velocity(pos, neg, scale=3.0))(x, s)
    assert calls == ["pos", "neg"] and torch.allclose(out, -1.5 * torch.ones_like(x))


# -- preview -----------------------------------------------------------------------------------

def test_preview_shapes() -> None:
    for channels in (4, 16):
        img = latent_preview(torch.randn(1, channels, 3, 8, 10))
        assert img.shape == (8, 30, 3) and img.dtype == np.uint8


def test_previews_are_shown_as_a_readable_grid() -> None:
    """A 64-bucket window (9 latent frames of 8x8) was an 8x72 strip; now a 3x3 grid, enlarged."""
    strip = latent_preview(torch.randn(1, 4, 9, 8, 8))
    grid = readable(strip, 9)
    assert grid.shape == (240, 240, 3)
    small = grid[::10, ::10]  # enlarged x10, nearest
    assert np.array_equal(small[:8, 8:16], strip[:, 8:16]) and np.array_equal(small[16:, 16:], strip[:, 64:])
    wide = readable(latent_preview(torch.randn(1, 4, 9, 80, 120)), 9)  # a 640-class bucket: no enlarging
    assert wide.shape == (240, 360, 3)
