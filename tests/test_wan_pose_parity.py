"""Our pose-driven Wan loops against diffusers' pipelines on the same tiny random weights (the tiny
twins of the real repos; outputs are noise), seed, steps and scheduler: latents within 1e-4.

- models/wan/vace.py vs WanVACEPipeline(video=pose frames, reference_images=[reference]);
- models/wan/animate.py vs WanAnimatePipeline(mode="animate"), one segment and two segments (the
  second conditioned on the first's decoded frames).
Also: the chunked memory option gives the stock result, stop / progress per step, and bad inputs
are refused with the field named."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import InputError, JobStopped
from memory.placement import Placement
from models.wan.animate import (
    AnimateParams,
    generate_animate,
    plan_segments,
    reflect_indices,
)
from models.wan.pipeline import latent_stats
from models.wan.vace import VaceParams, generate_vace

W, H, FRAMES, STEPS, SEED = 64, 48, 9, 3, 7
PROMPT, NEGATIVE = "a dancer spins on a stage", "blurry"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    from core.presets import read_presets
    from models.tiny_layout import tiny_component_paths
    from models.wan.loading import load_components
    from models.wan.tiny import build_tiny_repos

    presets = read_presets()
    out = {}
    for pid in ("wan-vace-1.3b", "wan-vace-14b", "wan-animate-14b"):
        root = tmp_path_factory.mktemp(pid)
        build_tiny_repos(root, presets[pid])
        dtypes = {name: "float32" for name in ("transformer", "vae", "text_encoder", "image_encoder")}
        out[pid] = load_components(tiny_component_paths(root, presets[pid]), dtypes)
    return out


def _pixels(seed: int, *shape: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def _placement(c: dict) -> Placement:
    return Placement(torch.device("cpu"), dict(c))


def _close(ours: torch.Tensor, theirs: torch.Tensor, tol: float = 1e-4) -> float:
    assert ours.shape == theirs.shape
    diff = float((ours - theirs.float()).abs().max())
    assert diff <= tol
    return diff


# ------------------------------------------------------------------------------------------ VACE


def _vace_params(**kw) -> VaceParams:
    base = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "pose_video": _pixels(1, FRAMES, H, W, 3),
            "reference_image": _pixels(2, H, W, 3), "width": W, "height": H, "steps": STEPS, "seed": SEED}
    return VaceParams(**{**base, **kw})


def _vace_pipeline(c: dict, p: VaceParams) -> torch.Tensor:
    from diffusers import WanVACEPipeline

    pipe = WanVACEPipeline(tokenizer=c["tokenizer"], text_encoder=c["text_encoder"], vae=c["vae"],
                           scheduler=c["scheduler"], transformer=c["transformer"])
    with torch.no_grad():
        return pipe(prompt=p.prompt, negative_prompt=p.negative_prompt,
                    video=[Image.fromarray(f) for f in p.pose_video],
                    reference_images=[Image.fromarray(p.reference_image)], conditioning_scale=p.conditioning_scale,
                    height=p.height, width=p.width, num_frames=p.frames, num_inference_steps=p.steps,
                    guidance_scale=p.guidance, generator=torch.Generator().manual_seed(p.seed),
                    output_type="latent", max_sequence_length=512).frames


@pytest.mark.parametrize("pid,reference_size,scale,guidance", [
    ("wan-vace-1.3b", (H, W), 1.0, 5.0),
    ("wan-vace-1.3b", (32, 40), 0.7, 1.0),   # another aspect: fitted on the white canvas
    ("wan-vace-14b", (H, W), 1.3, 4.0),
])
def test_vace_equals_wan_vace_pipeline(kits, pid: str, reference_size: tuple[int, int], scale: float,
                                       guidance: float) -> None:
    c = kits[pid]
    p = _vace_params(reference_image=_pixels(3, *reference_size, 3), conditioning_scale=scale, guidance=guidance)
    ours = generate_vace(_placement(c), p)
    theirs = _vace_pipeline(c, p)[:, :, 1:]  # diffusers' latent output keeps the reference frame
    _close(ours.latents, theirs)
    assert ours.frames.shape == (FRAMES, H, W, 3) and ours.mode == "vace"


def test_vace_chunked_blocks_give_the_stock_result(kits) -> None:
    c = kits["wan-vace-1.3b"]
    stock = generate_vace(_placement(c), _vace_params()).latents
    chunked = generate_vace(_placement(c), _vace_params(chunk_tokens=5)).latents
    assert float((stock - chunked).abs().max()) <= 1e-5


def test_vace_reports_every_step_and_stops_after_step_k(kits) -> None:
    c = kits["wan-vace-1.3b"]
    seen = []
    generate_vace(_placement(c), _vace_params(), on_step=seen.append)
    assert [s.step for s in seen] == [1, 2, 3] and all(s.total == STEPS for s in seen)
    assert seen[0].preview is not None and seen[0].preview.shape[1] == (FRAMES - 1) // 4 * (W // 8) + W // 8
    calls = []
    with pytest.raises(JobStopped) as stop:
        generate_vace(_placement(c), _vace_params(), should_stop=lambda: len(calls.append(1) or calls) >= 2)
    assert (stop.value.done, stop.value.total, stop.value.unit) == (2, STEPS, "steps")


@pytest.mark.parametrize("change,field", [
    ({"reference_image": None}, "reference_image"),
    ({"pose_video": None}, "pose_video"),
    ({"pose_video": _pixels(4, FRAMES, H, W + 16, 3)}, "pose_video"),
    ({"pose_video": _pixels(4, FRAMES + 1, H, W, 3)}, "pose_video"),
    ({"width": W + 8}, "resolution"),
])
def test_vace_refuses_bad_inputs(kits, change: dict, field: str) -> None:
    with pytest.raises(InputError) as error:
        generate_vace(_placement(kits["wan-vace-1.3b"]), _vace_params(**change))
    assert error.value.field == field


def test_vace_refuses_a_model_without_vace_layers(kits) -> None:
    c = dict(kits["wan-vace-1.3b"])
    c["transformer"] = kits["wan-animate-14b"]["transformer"]
    with pytest.raises(InputError, match="preset"):
        generate_vace(_placement(c), _vace_params())


# ------------------------------------------------------------------------------------------ Animate


def _animate_params(c: dict, frames: int = FRAMES, **kw) -> AnimateParams:
    side = int(c["transformer"].config.motion_encoder_size)
    base = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "reference_image": _pixels(5, H, W, 3),
            "pose_video": _pixels(6, frames, H, W, 3), "face_video": _pixels(7, frames, side, side, 3),
            "width": W, "height": H, "segment_frames": FRAMES, "steps": STEPS, "seed": SEED}
    return AnimateParams(**{**base, **kw})


def _animate_pipeline(c: dict, p: AnimateParams, output_type: str = "latent") -> torch.Tensor | np.ndarray:
    from diffusers import WanAnimatePipeline

    pipe = WanAnimatePipeline(tokenizer=c["tokenizer"], text_encoder=c["text_encoder"], vae=c["vae"],
                              scheduler=c["scheduler"], transformer=c["transformer"],
                              image_encoder=c["image_encoder"], image_processor=c["image_processor"])
    with torch.no_grad():
        out = pipe(image=Image.fromarray(p.reference_image), pose_video=[Image.fromarray(f) for f in p.pose_video],
                   face_video=[Image.fromarray(f) for f in p.face_video], prompt=p.prompt,
                   negative_prompt=p.negative_prompt, height=p.height, width=p.width,
                   segment_frame_length=p.segment_frames, prev_segment_conditioning_frames=p.prev_frames,
                   num_inference_steps=p.steps, guidance_scale=p.guidance, mode="animate",
                   generator=torch.Generator().manual_seed(p.seed), output_type=output_type,
                   max_sequence_length=512).frames
    if output_type != "latent":
        return out[0]
    mean, inv_std = latent_stats(c["vae"])
    return ((out.float() - mean) * inv_std)[:, :, 1:]  # de-normalised, with the reference frame, there


@pytest.mark.parametrize("frames,guidance,reference_size", [
    (FRAMES, 1.0, (H, W)),     # one segment, no CFG (Animate's default)
    (FRAMES, 2.5, (40, 40)),   # CFG: negative prompt and blanked face; a square reference on black
    (FRAMES - 4, 1.0, (H, W)),  # a shorter driving video: reflected to one whole segment
])
def test_animate_one_segment_equals_wan_animate_pipeline(kits, frames: int, guidance: float,
                                                         reference_size: tuple[int, int]) -> None:
    c = kits["wan-animate-14b"]
    p = _animate_params(c, frames, guidance=guidance, reference_image=_pixels(8, *reference_size, 3))
    ours = generate_animate(_placement(c), p)
    _close(ours.latents, _animate_pipeline(c, p))
    assert ours.frames.shape == (frames, H, W, 3) and ours.mode == "animate"


def test_animate_two_segments_equal_wan_animate_pipeline(kits) -> None:
    """17 driving frames in segments of 9 with 1 carried frame: [0, 9) then [8, 17); the second
    segment's condition is the first's last decoded frame, so its latents matching covers both."""
    c = kits["wan-animate-14b"]
    p = _animate_params(c, 17, guidance=2.0)
    assert plan_segments(17, 9, 1).starts == (0, 8)
    ours = generate_animate(_placement(c), p)
    _close(ours.latents, _animate_pipeline(c, p))
    video = _animate_pipeline(c, p, output_type="np")  # float frames in [0, 1]
    assert ours.frames.shape == video.shape == (17, H, W, 3)
    assert float(np.abs(ours.frames.astype(np.float32) - video * 255).max()) <= 0.51  # uint8 rounding only


def test_animate_chunked_forward_gives_the_stock_result(kits) -> None:
    c = kits["wan-animate-14b"]
    stock = generate_animate(_placement(c), _animate_params(c, guidance=2.0)).latents
    chunked = generate_animate(_placement(c), _animate_params(c, guidance=2.0, chunk_tokens=5)).latents
    assert float((stock - chunked).abs().max()) <= 1e-5


def test_animate_counts_steps_over_segments_and_stops_after_step_k(kits) -> None:
    c = kits["wan-animate-14b"]
    seen = []
    generate_animate(_placement(c), _animate_params(c, 17), on_step=seen.append)
    assert [s.step for s in seen] == list(range(1, 2 * STEPS + 1)) and all(s.total == 2 * STEPS for s in seen)
    assert seen[-1].preview is not None and seen[-1].preview.shape == (H // 8, 3 * (W // 8), 3)
    calls = []
    with pytest.raises(JobStopped) as stop:
        generate_animate(_placement(c), _animate_params(c, 17),
                         should_stop=lambda: len(calls.append(1) or calls) >= STEPS + 1)
    assert (stop.value.done, stop.value.total, stop.value.unit) == (STEPS + 1, 2 * STEPS, "steps")


@pytest.mark.parametrize("change,field", [
    ({"mode": "replace"}, "mode"),
    ({"reference_image": None}, "reference_image"),
    ({"pose_video": None}, "pose_video"),
    ({"face_video": None}, "face_video"),
    ({"pose_video": _pixels(4, FRAMES, H + 16, W, 3)}, "pose_video"),
    ({"face_video": _pixels(4, FRAMES, 24, 24, 3)}, "face_video"),
    ({"face_video": _pixels(4, FRAMES - 1, 16, 16, 3)}, "face_video"),
    ({"segment_frames": 8}, "segment_frames"),
    ({"prev_frames": 2}, "prev_frames"),
])
def test_animate_refuses_bad_inputs(kits, change: dict, field: str) -> None:
    c = kits["wan-animate-14b"]
    with pytest.raises(InputError) as error:
        generate_animate(_placement(c), _animate_params(c, **change))
    assert error.value.field == field
    if field == "mode":
        assert "later" in str(error.value)


def test_reflection_padding_bounces_like_diffusers() -> None:
    assert reflect_indices(5, 10).tolist() == [0, 1, 2, 3, 4, 3, 2, 1, 0, 1]
    assert reflect_indices(1, 3).tolist() == [0, 0, 0]
    assert plan_segments(77, 77, 1).starts == (0,) and plan_segments(9, 77, 1).padded_frames == 77
    assert plan_segments(200, 77, 5).starts == (0, 72, 144) and plan_segments(200, 77, 5).padded_frames == 221
