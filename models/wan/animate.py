"""Wan2.2-Animate-14B, animation mode: a character image + a pose video + a face video -> video.

`generate_animate(placement, params)` reads top to bottom, like diffusers' WanAnimatePipeline
`__call__` (diffusers/pipelines/wan/pipeline_wan_animate.py) with `mode="animate"`:

1. validate: an Animate transformer, the reference image, a pose video at the output size and a
   face video of as many frames at the motion encoder's side (512 for the real model: face crops);
   replacement mode is refused (it needs a background and a mask video; it may follow later);
2. segments: the driving video is generated `segment_frames` (77) frames at a time; every segment
   after the first starts with the last `prev_frames` (1 or 5) decoded frames of the one before
   (temporal guidance) and adds `segment_frames - prev_frames` new frames. The pose and face videos
   are padded to a whole number of segments by reflection ([1 2 3 4 5] -> [1 2 3 4 5 4 3 2 1 2 ...])
   and the output is cut back to the driving video's length;
3. once per job: UMT5 prompt (+ negative when guidance > 1), CLIP-H `hidden_states[-2]` of the
   reference image (the image as given), the reference's VAE latent (the image fitted inside the
   output size on a black canvas, Lanczos: see `fit_black`) behind a 4-channel mask of ones;
4. per segment, encode: the pose segment's VAE latent (added to the patch embedding of the video
   tokens by the model), and the temporal-guidance condition: the VAE latent of [previous frames,
   zeros ...] (all zeros in the first segment) behind a 4-channel I2V mask, 1 on the previous
   frames; the condition = [reference frame, guidance frames] on time (20 channels);
5. per segment, denoise: the noise has one latent frame more than the segment (the reference slot),
   drawn from one CPU generator seeded by `seed` segment after segment (as diffusers' one generator);
   the model input is [noise, condition] on channels (36), with the pose latents, the face video in
   [-1, 1] and the CLIP embeddings; CFG (off at Animate's default guidance 1) blanks the face video
   (all -1) in the unconditional pass besides the negative prompt; flow UniPC or Euler on
   diffusers' flow sigmas, the schedule restarting every segment;
6. per segment, decode: the latents without the reference frame; the first `prev_frames` frames of
   every later segment repeat the previous segment's and are dropped from the output.

Weights are reached only through `placement.phase(...)` / `placement.get(...)`. `should_stop` is
checked after every step and raises `JobStopped` with the steps done over all segments; `on_step`
counts steps over all segments and previews the current segment (the reference frame left out).

Relation to diffusers (tests/test_wan_pose_parity.py checks latents within 1e-4 on tiny weights,
one and two segments): the same noise, schedule, conditions, guidance and segment loop. Intended
differences: CFG is combined in float32; the pose and face videos go in as uint8 arrays already at
the output size and at the motion encoder's side (diffusers resizes PIL videos); the reference is a
uint8 array of any size (diffusers first rounds a PIL image's sides to multiples of 16 by a resize;
ours are taken as they are); a driving video of one frame is repeated (diffusers' reflection
padding fails on one frame); only animation mode; the returned latents are the last segment's,
Wan-normalised and without the reference frame (diffusers' latent output is the last segment's,
de-normalised, with it). The chunked Animate forward (a memory option: per-frame face adapters,
chunked head, chunked blocks) may replace the stock forward.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch

from core.errors import InputError
from core.stop import ShouldStop, never
from models import sampling
from models.wan.pipeline import (
    ModelInputs,
    StepInfo,
    WanOutput,
    decode_video,
    denoise,
    encode_images,
    encode_text,
    encode_video,
    latent_stats,
    preview_map,
    step_callback,
    to_pixels,
    to_uint8,
    validate_common,
)
from models.wan.vace import check_image

MODES = ("animate",)  # diffusers' "replace" (background + mask video) is not supported yet


@dataclass
class AnimateParams:
    prompt: str = ""
    reference_image: np.ndarray | None = None  # h x w x 3 uint8 character image, any size
    pose_video: np.ndarray | None = None       # T x H x W x 3 uint8 rendered pose frames at width x height
    face_video: np.ndarray | None = None       # T x S x S x 3 uint8 face crops, S = motion_encoder_size (512)
    mode: str = "animate"
    negative_prompt: str = ""
    width: int = 1280
    height: int = 720
    segment_frames: int = 77                   # frames per generated segment (4k + 1)
    prev_frames: int = 1                       # frames carried from one segment into the next (1 or 5)
    steps: int = 20
    guidance: float = 1.0
    shift: float | None = None                 # None: the scheduler config's flow_shift
    seed: int = 0
    sampler: Literal["unipc", "euler"] = "unipc"
    motion_encode_batch: int | None = None     # face frames per motion-encoder call (None: the model's)
    max_tokens: int = 512
    chunk_tokens: int | None = None            # memory option: chunked blocks / Animate forward (blocks.py)
    vae_tiling: bool = False                   # VAE spatial tiling, encode and decode (the memory plan's)
    preview: bool = True

    @property
    def frames(self) -> int:
        """The output length: the driving (pose) video's."""
        return 0 if self.pose_video is None else len(self.pose_video)


@dataclass(frozen=True)
class SegmentPlan:
    starts: tuple[int, ...]   # first frame of each segment in the padded driving video
    padded_frames: int        # the driving video's length after reflection padding


def plan_segments(frames: int, segment_frames: int, prev_frames: int) -> SegmentPlan:
    """Segments of `segment_frames` overlapping by `prev_frames`, covering `frames` (diffusers' count:
    the driving video padded to prev + n (segment - prev) frames)."""
    step = segment_frames - prev_frames
    rest = (frames - prev_frames) % step
    padded = frames + (step - rest if rest else 0)
    return SegmentPlan(tuple(i * step for i in range(padded // step)), padded)


def reflect_indices(frames: int, length: int) -> np.ndarray:
    """0, 1, ..., frames - 1, frames - 2, ..., 0, 1, ... (`length` of them); one frame repeats."""
    if frames <= 1:
        return np.zeros(length, dtype=np.int64)
    period = 2 * (frames - 1)
    j = np.arange(length) % period
    return np.where(j < frames, j, period - j)


def generate_animate(placement: Any, params: AnimateParams, *, on_step: Callable[[StepInfo], None] | None = None,
                     should_stop: ShouldStop = never) -> WanOutput:
    transformer, vae = placement.get("transformer"), placement.get("vae")
    _validate(params, transformer, vae)
    device = placement.device
    dtype = transformer.dtype
    t0 = time.perf_counter()

    # 3. once per job: text, CLIP, the reference latent
    ctx = encode_text(placement, params)
    with placement.phase("image_encoder"):
        clip = encode_images([params.reference_image], placement.get("image_processor"),
                             placement.get("image_encoder"), device).to(device, dtype)
    mean, inv_std = latent_stats(vae)
    s_t = int(vae.config.scale_factor_temporal)
    reference_pixels = to_pixels(fit_black(params.reference_image, params.width, params.height)).unsqueeze(2)
    with placement.phase("vae"), torch.no_grad():
        ref_latent = encode_video(vae, reference_pixels, mean, inv_std, params.vae_tiling)
        reference = torch.cat([torch.ones_like(ref_latent[:, :s_t]), ref_latent], dim=1)  # 4 mask + C
        rgb_map = preview_map(vae, device, params.preview)
    plan = plan_segments(params.frames, params.segment_frames, params.prev_frames)
    order = reflect_indices(params.frames, plan.padded_frames)

    scheduler = placement.get("scheduler")
    shift = params.shift if params.shift is not None else float(scheduler.config.flow_shift)
    schedule = sampling.flow_schedule_like_diffusers(params.steps, shift, int(scheduler.config.num_train_timesteps))
    generator = torch.Generator().manual_seed(int(params.seed))
    total = len(plan.starts) * params.steps
    timings = {"encode": time.perf_counter() - t0, "denoise": 0.0, "decode": 0.0}
    pieces: list[np.ndarray] = []
    previous: torch.Tensor | None = None   # the last decoded frames, unclamped, for the next segment
    latents = None
    for index, start in enumerate(plan.starts):
        t1 = time.perf_counter()
        frames = order[start:start + params.segment_frames]
        # 4. encode: pose latents and the temporal-guidance condition
        with placement.phase("vae"), torch.no_grad():
            pose = encode_video(vae, _video_pixels(params.pose_video[frames]), mean, inv_std, params.vae_tiling)
            guide = _guidance_condition(vae, previous, params, mean, inv_std)
        condition = torch.cat([reference, guide], dim=2).to(device)
        del guide
        face = _video_pixels(params.face_video[frames]).to(device, dtype)
        noise = torch.randn(_noise_shape(vae, params), generator=generator, dtype=torch.float32)
        extra = {"encoder_hidden_states_image": clip, "pose_hidden_states": pose.to(device, dtype),
                 "face_pixel_values": face, "motion_encode_batch_size": params.motion_encode_batch}
        branch_extra = {"negative": {"face_pixel_values": face * 0 - 1}} if params.guidance > 1.0 else None
        t2 = time.perf_counter()

        # 5. denoise
        def model_inputs(x: torch.Tensor, t: torch.Tensor, c: torch.Tensor = condition,
                         e: dict[str, Any] = extra) -> ModelInputs:
            return torch.cat([x, c.to(x.device)], dim=1).to(dtype), t.expand(x.shape[0]), e

        callback = _offset_callback(step_callback(on_step, should_stop, rgb_map, mean, inv_std),
                                    index * params.steps, total)
        latents = denoise(placement, params, ctx, model_inputs, schedule, noise, callback,
                          solver=scheduler.config if params.sampler == "unipc" else None,
                          branch_extra=branch_extra)[:, :, 1:]
        del extra, branch_extra, face, pose, condition
        t3 = time.perf_counter()

        # 6. decode: a later segment's first frames repeat the previous segment's
        with placement.phase("vae"), torch.no_grad():
            video = decode_video(vae, latents, mean, inv_std, tiled=params.vae_tiling)
            previous = video[:, :, -params.prev_frames:].clone()
            pieces.append(to_uint8(video[:, :, params.prev_frames:] if index else video))
            del video
        timings["encode"] += t2 - t1
        timings["denoise"] += t3 - t2
        timings["decode"] += time.perf_counter() - t3
    out = np.concatenate(pieces, axis=0)[:params.frames]
    return WanOutput(frames=out, latents=latents.float().cpu(), mode="animate", timings=timings)


# ------------------------------------------------------------------------------------------ pieces


def fit_black(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image scaled to fit width x height (aspect kept), centred on black: diffusers'
    WanAnimateImageProcessor `resize_mode="fill"` with `fill_color=0`. At the output size: as it is.
    Lanczos, the filter diffusers 0.42.1 really uses: the pipeline asks for "bilinear", but the
    processor's `super().__init__()` re-registers the config with VaeImageProcessor's default."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    from PIL import Image

    fit_w = width if width / height < w / h else w * height // h
    fit_h = height if width / height >= w / h else h * width // w
    resized = Image.fromarray(image).resize((fit_w, fit_h), resample=Image.LANCZOS)
    canvas = Image.new("RGB", (width, height), color=0)
    canvas.paste(resized, box=(width // 2 - fit_w // 2, height // 2 - fit_h // 2))
    return np.asarray(canvas)


def i2v_mask(pixel_frames: int, known: int, s_t: int, h: int, w: int) -> torch.Tensor:
    """(1, s_t, T', h, w): 1 on the first `known` pixel frames, the first frame repeated s_t times and
    folded into channels (Wan's I2V mask layout, diffusers' WanAnimatePipeline.get_i2v_mask)."""
    mask = torch.zeros(1, 1, pixel_frames, h, w)
    mask[:, :, :known] = 1
    mask = torch.cat([mask[:, :, :1].repeat_interleave(s_t, dim=2), mask[:, :, 1:]], dim=2)
    return mask.view(1, -1, s_t, h, w).transpose(1, 2)


@torch.no_grad()
def _guidance_condition(vae: Any, previous: torch.Tensor | None, p: AnimateParams, mean: torch.Tensor,
                        inv_std: torch.Tensor) -> torch.Tensor:
    """(1, s_t + C, T', h, w): the mask and the latent of [previous frames, zeros ...] (zeros only in
    the first segment, whose mask is all zero)."""
    device = next(vae.parameters()).device
    s_t, s_s = int(vae.config.scale_factor_temporal), int(vae.config.scale_factor_spatial)
    video = torch.zeros(1, 3, p.segment_frames, p.height, p.width, device=device)
    known = 0
    if previous is not None:
        known = previous.shape[2]
        video[:, :, :known] = previous.to(device, video.dtype)
    latent = encode_video(vae, video, mean, inv_std, p.vae_tiling)
    del video
    mask = i2v_mask(p.segment_frames, known, s_t, p.height // s_s, p.width // s_s).to(latent.device)
    return torch.cat([mask, latent], dim=1)


def _offset_callback(callback: Callable[[sampling.Step], None], done: int, total: int
                     ) -> Callable[[sampling.Step], None]:
    """Steps counted over all segments; previews without the reference frame."""
    def wrapped(step: sampling.Step) -> None:
        callback(replace(step, i=done + step.i, total=total, denoised=step.denoised[:, :, 1:]))
    return wrapped


def _video_pixels(video: np.ndarray) -> torch.Tensor:
    """T x H x W x 3 uint8 -> (1, 3, T, H, W) float32 in [-1, 1]."""
    x = torch.from_numpy(np.array(video, dtype=np.float32)) / 255.0  # a copy: inputs may be read-only
    return (2.0 * x - 1.0).permute(3, 0, 1, 2).unsqueeze(0)


def _noise_shape(vae: Any, p: AnimateParams) -> tuple[int, ...]:
    s_t, s_s = int(vae.config.scale_factor_temporal), int(vae.config.scale_factor_spatial)
    return (1, int(vae.config.z_dim), (p.segment_frames - 1) // s_t + 2, p.height // s_s, p.width // s_s)


def _validate(p: AnimateParams, transformer: Any, vae: Any) -> None:
    if type(transformer).__name__ != "WanAnimateTransformer3DModel" or not hasattr(transformer, "face_adapter"):
        raise InputError("preset", "this transformer is not Wan-Animate's", "use the wan-animate-14b preset")
    if p.mode != "animate":
        raise InputError("mode", f"{p.mode!r} is not supported: only animation mode ('animate') is; "
                         "replacement mode (a background and a mask video) may follow later",
                         "use mode 'animate'")
    check_image("reference_image", p.reference_image, "Wan-Animate animates a character image: give one")
    if p.pose_video is None:
        raise InputError("pose_video", "is missing", "give the pose video (rendered skeleton frames)")
    if p.face_video is None:
        raise InputError("face_video", "is missing", "give the face video (face crops, one per pose frame)")
    s_t = int(vae.config.scale_factor_temporal)
    if p.segment_frames < 1 or (p.segment_frames - 1) % s_t:
        raise InputError("segment_frames", f"{p.segment_frames} frames", f"use {s_t}k + 1 frames (e.g. 77)")
    if not 1 <= p.prev_frames < p.segment_frames or (p.prev_frames - 1) % s_t:
        raise InputError("prev_frames", f"{p.prev_frames} frames", f"use 1 or 5 (an {s_t}k + 1 below segment_frames)")
    validate_common(SimpleNamespace(width=p.width, height=p.height, frames=p.segment_frames, steps=p.steps,
                                    shift=p.shift, image=None, last_image=None), transformer, vae)
    _check_frames("pose_video", p.pose_video, p.height, p.width, "resize (and crop) the video to the output size first")
    side = int(transformer.config.motion_encoder_size)
    _check_frames("face_video", p.face_video, side, side, f"crop the faces to {side}x{side} first")
    if len(p.face_video) != len(p.pose_video):
        raise InputError("face_video", f"has {len(p.face_video)} frames, the pose video {len(p.pose_video)}",
                         "give one face crop per pose frame")
    if p.motion_encode_batch is not None and p.motion_encode_batch < 1:
        raise InputError("motion_encode_batch", f"{p.motion_encode_batch} < 1", "leave it empty or use e.g. 8")


def _check_frames(name: str, video: Any, height: int, width: int, fix: str) -> None:
    if not isinstance(video, np.ndarray) or video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise InputError(name, f"is {getattr(video, 'shape', None)}, expected frames x {height} x {width} x 3 uint8",
                         "give the video's frames as one uint8 RGB array")
    if len(video) < 1:
        raise InputError(name, "has no frames", "give at least one frame")
    if video.shape[1:3] != (height, width):
        raise InputError(name, f"frames are {video.shape[2]}x{video.shape[1]}, expected {width}x{height}", fix)
