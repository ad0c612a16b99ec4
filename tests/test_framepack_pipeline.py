"""The FramePack section loop on tiny random weights (outputs are noise; counts and wiring are not)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from framepack_fixtures import components, image, placement, tiny_root  # noqa: F401  (fixtures)

from core.errors import InputError, JobStopped
from models.framepack import schedule
from models.framepack.pipeline import FramePackParams, generate

pytestmark = pytest.mark.usefixtures("one_thread")

# A 32 px bucket (4x4 latents) keeps the CPU VAE fast; the parity test uses the 64 px tiny default.
TINY = dict(bucket=32, steps=2, latent_window_size=3, seed=5, prompt="a cat walks")


def params(variant: str = "inverted", **overrides) -> FramePackParams:
    return FramePackParams(**{"variant": variant, "image": image(), **TINY, **overrides})


def run(components, p: FramePackParams, **kw) -> list:  # noqa: F811
    """All sections, with each section's frames copied (the yielded array is a live view)."""
    outs = []
    for out in generate(placement(components[p.variant]), p, **kw):
        outs.append(dataclasses.replace(out, frames=out.frames.copy(), latents=out.latents.clone()))
    return outs


@pytest.mark.parametrize("variant", ["inverted", "f1"])
@pytest.mark.parametrize("seconds, window", [(0.3, 3), (1.0, 3), (2.0, 2), (1.2, 9)])
def test_frame_counts(components, variant: str, seconds: float, window: int) -> None:  # noqa: F811
    outs = run(components, params(variant, seconds=seconds, latent_window_size=window, steps=1))
    n = schedule.section_count(seconds, window)
    assert len(outs) == n and [o.section for o in outs] == list(range(n))
    assert outs[-1].frames.shape == (4 * window * n + 1, 32, 32, 3)  # 36n+1 at window 9
    if window == 9:
        assert outs[-1].frames.shape[0] == 36 * n + 1
    # Each section adds 4*window frames (the first also brings the start frame, inverted's last too).
    lengths = [o.frames.shape[0] for o in outs]
    assert all(b - a == 4 * window for a, b in zip(lengths, lengths[1:-1]))
    assert outs[-1].latent_frames == window * n + 1


def test_same_seed_same_frames_other_seed_other_frames(components) -> None:  # noqa: F811
    a = run(components, params(seconds=1.0))
    b = run(components, params(seconds=1.0))
    c = run(components, params(seconds=1.0, seed=6))
    assert np.array_equal(a[-1].frames, b[-1].frames)
    assert not np.array_equal(a[-1].frames, c[-1].frames)


def test_constant_tokens_per_section_match_the_transformer(components) -> None:  # noqa: F811
    seen: list[int] = []
    block = components["inverted"]["transformer"].transformer_blocks[0]
    hook = block.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    try:
        outs = run(components, params(seconds=2.0))
    finally:
        hook.remove()
    assert len(outs) == 5 and len({o.tokens for o in outs}) == 1
    assert set(seen) == {outs[0].tokens} and len(seen) == 5 * TINY["steps"]
    assert outs[0].tokens == schedule.token_counts(32, 32, 3)["total"]


def test_end_frame_reaches_the_first_section_only(components) -> None:  # noqa: F811
    end = image(seed=9)
    plain = run(components, params(seconds=1.0))
    full = run(components, params(seconds=1.0, end_image=end))
    half = run(components, params(seconds=1.0, end_image=end, end_influence=0.5))
    assert [o.conditioning["clean_post"] for o in plain] == ["zeros", "history"]
    assert [o.conditioning["clean_post"] for o in full] == ["end_image", "history"]
    first_full, first_half = full[0].conditioning, half[0].conditioning
    assert first_full["end_influence"] == 1.0 and first_half["end_influence"] == 0.5
    assert first_half["clean_post_mean_abs"] == pytest.approx(first_full["clean_post_mean_abs"] / 2, rel=1e-5)
    assert not np.array_equal(plain[-1].frames, full[-1].frames)
    # Mixing the end image's SigLIP embedding in (diffusers computes this mix but never uses it).
    mixed = run(components, params(seconds=1.0, end_image=end, end_embed_mix=0.5))
    assert not np.array_equal(mixed[-1].frames, full[-1].frames)
    # The start frame comes first either way: the end image is conditioning, not a frame.
    assert full[-1].frames.shape == plain[-1].frames.shape


def test_inverted_grows_backwards_and_f1_appends(components) -> None:  # noqa: F811
    ov = schedule.overlap_frames(3)
    inv = run(components, params("inverted", seconds=1.5))
    f1 = run(components, params("f1", seconds=1.5))
    assert [o.conditioning["padding"] for o in inv] == [3, 2, 1, 0]
    for k in range(len(inv) - 1):
        # Inverted: new frames are prepended; the old ones are final except the cross-faded head.
        final = len(inv[k].frames) - ov
        assert np.array_equal(inv[k].frames[ov:], inv[k + 1].frames[len(inv[k + 1].frames) - final:])
        # F1: new frames are appended; the old ones are final except the cross-faded tail.
        final = len(f1[k].frames) - ov
        assert np.array_equal(f1[k].frames[:final], f1[k + 1].frames[:final])
    assert {tuple(o.conditioning["indices"]["latents"]) for o in f1} == {(20, 21, 22)}
    assert len(inv[-1].frames) == len(f1[-1].frames) == 4 * 3 * 4 + 1


def test_extend_video_keeps_input_frames_bit_exact(components) -> None:  # noqa: F811
    rng = np.random.default_rng(3)
    context = rng.integers(0, 256, (11, 32, 32, 3), dtype=np.uint8)
    outs = run(components, params("f1", seconds=1.0, extend_frames=context, image=context[0]))
    n = schedule.section_count(1.0, 3)
    assert len(outs) == n
    for out in outs:
        assert np.array_equal(out.frames[: len(context)], context)
    assert outs[-1].frames.shape[0] == len(context) + 4 * 3 * n
    with pytest.raises(InputError):
        generate(placement(components["inverted"]), params("inverted", extend_frames=context))


def test_stop_after_k_sections_then_run_again(components) -> None:  # noqa: F811
    got = []
    stop_after = 2
    gen = generate(placement(components["inverted"]), params(seconds=2.0),
                   should_stop=lambda: len(got) >= stop_after)
    with pytest.raises(JobStopped) as err:
        for out in gen:
            got.append(out.frames.copy())
    assert len(got) == stop_after and err.value.done == stop_after and err.value.total == 5
    assert err.value.unit == "sections"
    # Stop inside a step: the running section is dropped, nothing else breaks.
    steps_seen = []
    with pytest.raises(JobStopped) as err:
        for _ in generate(placement(components["inverted"]), params(seconds=2.0),
                          on_step=steps_seen.append, should_stop=lambda: len(steps_seen) >= 3):
            pass
    assert err.value.done == 1
    again = run(components, params(seconds=1.0))
    assert len(again) == 2 and again[-1].frames.shape[0] == 25


def test_step_callback_and_prompt_order(components) -> None:  # noqa: F811
    infos = []
    outs = run(components, params(seconds=1.0, prompt="[0s: a cat] [0.4s: a dog]"), on_step=infos.append)
    assert [(i.section, i.step, i.total_steps) for i in infos] == [(s, t, 2) for s in range(2) for t in (1, 2)]
    # 3 latent frames of 4x4 as a 2x2 grid, enlarged x30 to be readable (models.framepack.preview.readable)
    assert infos[0].preview.shape == (240, 240, 3) and infos[0].preview.dtype == np.uint8
    # Inverted generates the end first: the dog prompt is used by the first generated section.
    assert [o.conditioning["prompt"] for o in outs] == [(("a dog", 1.0),), (("a cat", 1.0),)]
    with pytest.raises(InputError) as err:
        generate(placement(components["inverted"]), params(prompt="[0s: a cat"))
    assert err.value.field == "prompt"


def test_prompt_blending_mixes_embeddings(components) -> None:  # noqa: F811
    from models.framepack import encode

    comps = components["inverted"]
    a, b = (encode.encode_text(t, comps["tokenizer"], comps["text_encoder"], comps["tokenizer_2"],
                               comps["text_encoder_2"]) for t in ("a cat", "a dog runs far away"))
    mix = encode.blend_text([(a, 0.25), (b, 0.75)])
    length = max(a.llama.shape[1], b.llama.shape[1])
    assert mix.llama.shape[1] == length and bool(mix.mask.all())
    assert mix.pooled.allclose(0.25 * a.pooled + 0.75 * b.pooled)
    outs = run(components, params(seconds=1.5, prompt="[0s: a cat] [0.8s: a dog]", prompt_blend_sections=1))
    playback = [o.conditioning["prompt"] for o in outs][::-1]
    assert playback == [(("a cat", 1.0),), (("a cat", 1.0),), (("a cat", 0.5), ("a dog", 0.5)), (("a dog", 1.0),)]


def test_teacache_threshold_zero_is_exact_and_large_threshold_skips(components) -> None:  # noqa: F811
    base = run(components, params(seconds=1.0, steps=4))
    exact = run(components, params(seconds=1.0, steps=4, use_teacache=True, teacache_threshold=0.0))
    assert np.array_equal(base[-1].frames, exact[-1].frames)
    assert exact[-1].teacache == {"computed": 8, "skipped": 0}
    fast = run(components, params(seconds=1.0, steps=4, use_teacache=True, teacache_threshold=1e9))
    assert fast[-1].teacache == {"computed": 4, "skipped": 4}  # first and last step of each section
    blocks = list(components["inverted"]["transformer"].transformer_blocks)
    assert all("forward" not in b.__dict__ for b in blocks)  # hooks removed


def test_real_cfg_and_bad_inputs(components) -> None:  # noqa: F811
    outs = run(components, params(seconds=0.4, cfg=3.0, rs=0.5, negative_prompt="blurry"))
    assert len(outs) == 1 and outs[0].frames.shape[0] == 13
    bad = [("f1", dict(end_image=image())), ("inverted", dict(end_influence=0.0)), ("inverted", dict(seconds=0)),
           ("inverted", dict(sampler="ddim")), ("inverted", dict(image=np.zeros((4, 4), dtype=np.uint8)))]
    for variant, overrides in bad:
        with pytest.raises(InputError):
            generate(placement(components[variant]), params(variant, **overrides))
