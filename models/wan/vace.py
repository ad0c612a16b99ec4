"""Wan2.1 VACE (1.3B / 14B) pose control: a pose video + a reference image + prompt -> video.

`generate_vace(placement, params)` reads top to bottom, like diffusers' WanVACEPipeline `__call__`
(diffusers/pipelines/wan/pipeline_wan_vace.py) called with `video=pose frames`,
`reference_images=[reference]`, no mask:

1. validate: a VACE transformer (`vace_layers`), a reference image, a pose video of 4k + 1 frames
   at the output size;
2. encode phase: UMT5 prompt (+ negative when guidance > 1); the VACE control latents
   (`control_latents`), 96 channels for the real models:
   - mask: all ones for pose control (every pixel is generated, the pose video only steers);
   - the video latents are the VAE latents of `video * (1 - mask)` ("inactive", all zeros here)
     and `video * mask` ("reactive", the pose video), each Wan-normalised, concatenated on
     channels (2 x 16);
   - the mask goes to latent resolution by an 8 x 8 space-to-depth (64 channels, one per pixel
     of a latent cell) and nearest-exact resampling over time to the latent frames;
   - the reference: fitted inside the output size on a white canvas (bilinear, aspect kept,
     centred), its latent and as many zeros (32 channels) prepended as one latent frame, with a
     zero mask frame; channels = [inactive, reactive, mask];
3. denoise phase: the noise has one more latent frame than the video (the reference slot:
   diffusers draws `num_frames + 4` frames' worth from one CPU generator seeded by `seed`); the
   transformer sees the noisy latents (16 channels) with `control_hidden_states` and a per-VACE-
   layer `control_hidden_states_scale` = `conditioning_scale`; CFG on text only; flow UniPC or
   Euler on diffusers' flow sigmas (models/wan/pipeline.denoise);
4. decode phase: the reference latent frame is dropped, the rest decoded.

Weights are reached only through `placement.phase(...)` / `placement.get(...)`. `should_stop` is
checked after every step and raises `JobStopped` (steps done); `on_step` gets a preview of the
video frames (the reference frame left out). Tiny random weights give noise.

Relation to diffusers (tests/test_wan_pose_parity.py checks latents within 1e-4 on tiny weights):
the same noise, schedule, control tensors and guidance. Intended differences: CFG is combined in
float32; the pose video goes in as a uint8 array already at the output size (diffusers resizes a
PIL video, or silently conditions at the video's own size when it is smaller); the reference is a
uint8 array of any size (diffusers first rounds a PIL image's sides down to multiples of 8 by a
resize; ours are taken as they are); one reference image (diffusers takes several); no mask input
(pose control); the returned latents leave the reference frame out (diffusers' latent output keeps
it); chunked blocks (a memory option: VACE hints parked on the host) may replace the stock forward.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    decode_frames,
    denoise,
    encode_text,
    encode_video,
    latent_stats,
    preview_map,
    step_callback,
    to_pixels,
    validate_common,
)

REFERENCE_FILL = 1.0  # white, in [-1, 1]: diffusers' canvas for a reference of another aspect


@dataclass
class VaceParams:
    prompt: str
    pose_video: np.ndarray | None = None       # T x H x W x 3 uint8 control video at width x height
    reference_image: np.ndarray | None = None  # h x w x 3 uint8, any size (fitted on a white canvas)
    negative_prompt: str = ""
    width: int = 832
    height: int = 480
    steps: int = 50
    guidance: float = 5.0
    conditioning_scale: float = 1.0            # every VACE layer's hint weight
    shift: float | None = None                 # None: the scheduler config's flow_shift
    seed: int = 0
    sampler: Literal["unipc", "euler"] = "unipc"
    max_tokens: int = 512
    chunk_tokens: int | None = None            # memory option: chunked blocks (models/wan/blocks.py)
    vae_tiling: bool = False                   # VAE spatial tiling, encode and decode (the memory plan's)
    preview: bool = True

    @property
    def frames(self) -> int:
        return 0 if self.pose_video is None else len(self.pose_video)


def generate_vace(placement: Any, params: VaceParams, *, on_step: Callable[[StepInfo], None] | None = None,
                  should_stop: ShouldStop = never) -> WanOutput:
    transformer, vae = placement.get("transformer"), placement.get("vae")
    _validate(params, transformer, vae)
    device = placement.device
    t0 = time.perf_counter()

    # 2. encode phase
    ctx = encode_text(placement, params)
    mean, inv_std = latent_stats(vae)
    patch = int(transformer.config.patch_size[1])
    video = _video_pixels(params.pose_video)
    mask = torch.ones(1, 1, *video.shape[2:])  # pose control: every pixel is generated
    reference = fit_reference(params.reference_image, params.width, params.height)
    with placement.phase("vae"), torch.no_grad():
        control = control_latents(vae, video, mask, [reference], mean, inv_std, patch, tiled=params.vae_tiling)
        rgb_map = preview_map(vae, device, params.preview)
    refs = 1
    noise = _noise(vae, params, extra_latent_frames=refs)
    t1 = time.perf_counter()

    # 3. denoise phase
    scheduler = placement.get("scheduler")
    shift = params.shift if params.shift is not None else float(scheduler.config.flow_shift)
    schedule = sampling.flow_schedule_like_diffusers(params.steps, shift,
                                                     int(scheduler.config.num_train_timesteps))
    dtype = transformer.dtype
    scale = torch.full((len(transformer.config.vace_layers),), float(params.conditioning_scale))
    extra = {"control_hidden_states": control.to(device, dtype), "control_hidden_states_scale": scale.to(device, dtype)}

    def model_inputs(x: torch.Tensor, t: torch.Tensor) -> ModelInputs:
        return x.to(dtype), t.expand(x.shape[0]), extra

    callback = without_leading_frames(step_callback(on_step, should_stop, rgb_map, mean, inv_std), refs)
    latents = denoise(placement, params, ctx, model_inputs, schedule, noise, callback,
                      solver=scheduler.config if params.sampler == "unipc" else None)
    latents = latents[:, :, refs:]  # the reference slot is conditioning, not video
    t2 = time.perf_counter()

    # 4. decode phase
    with placement.phase("vae"), torch.no_grad():
        frames = decode_frames(vae, latents, mean, inv_std, tiled=params.vae_tiling)
    return WanOutput(frames=frames, latents=latents.float().cpu(), mode="vace",
                     timings={"encode": t1 - t0, "denoise": t2 - t1, "decode": time.perf_counter() - t2})


# ------------------------------------------------------------------------------------------ the control tensors


def fit_reference(image: np.ndarray, width: int, height: int, fill: float = REFERENCE_FILL) -> torch.Tensor:
    """h x w x 3 uint8 -> (3, height, width) in [-1, 1]: scaled to fit (aspect kept, bilinear, no
    antialias), centred on a `fill` canvas, as WanVACEPipeline.preprocess_conditions does."""
    pixels = to_pixels(image)  # (1, 3, h, w)
    h, w = pixels.shape[-2:]
    scale = min(height / h, width / w)
    new_h, new_w = int(h * scale), int(w * scale)
    resized = torch.nn.functional.interpolate(pixels, size=(new_h, new_w), mode="bilinear", align_corners=False)[0]
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas = torch.full((3, height, width), fill)
    canvas[:, top:top + new_h, left:left + new_w] = resized
    return canvas


def mask_latents(mask: torch.Tensor, s_t: int, s_s: int, patch: int) -> torch.Tensor:
    """(1, 1, T, H, W) pixel mask -> (1, s_s^2, T', h, w): an s_s x s_s space-to-depth (one channel per
    pixel of a latent cell), then nearest-exact over time to T' = ceil(T / s_t) latent frames."""
    _, _, t, height, width = mask.shape
    h = height // (s_s * patch) * patch
    w = width // (s_s * patch) * patch
    cells = mask[0, 0].reshape(t, h, s_s, w, s_s).permute(2, 4, 0, 1, 3).flatten(0, 1)  # (s_s^2, T, h, w)
    t_lat = (t + s_t - 1) // s_t
    return torch.nn.functional.interpolate(cells.unsqueeze(0), size=(t_lat, h, w), mode="nearest-exact")


@torch.no_grad()
def control_latents(vae: Any, video: torch.Tensor, mask: torch.Tensor, references: list[torch.Tensor],
                    mean: torch.Tensor, inv_std: torch.Tensor, patch: int, tiled: bool = False) -> torch.Tensor:
    """VACE's `control_hidden_states`: (1, 2C + s_s^2, len(references) + T', h, w), float32.

    `video` (1, 3, T, H, W) in [-1, 1]; `mask` (1, 1, T, H, W), 1 = generate; each reference
    (3, H, W) in [-1, 1] is prepended as one latent frame (later references first, as diffusers
    loops), its second half and its mask zero."""
    binary = (mask > 0.5).to(video.dtype)  # the video latents use the thresholded mask, the mask channels the mask
    inactive = encode_video(vae, video * (1 - binary), mean, inv_std, tiled)
    reactive = encode_video(vae, video * binary, mean, inv_std, tiled)
    latents = torch.cat([inactive, reactive], dim=1)
    del inactive, reactive
    for reference in references:
        ref = encode_video(vae, reference[None, :, None], mean, inv_std, tiled)
        latents = torch.cat([torch.cat([ref, torch.zeros_like(ref)], dim=1), latents], dim=2)
    s_t, s_s = int(vae.config.scale_factor_temporal), int(vae.config.scale_factor_spatial)
    cells = mask_latents(mask, s_t, s_s, patch).to(latents.device)
    if references:
        cells = torch.cat([cells.new_zeros(*cells.shape[:2], len(references), *cells.shape[3:]), cells], dim=2)
    return torch.cat([latents, cells], dim=1)


# ------------------------------------------------------------------------------------------ pieces


def without_leading_frames(callback: Callable[[sampling.Step], None], frames: int) -> Callable[[sampling.Step], None]:
    """A step callback whose previews leave out the first `frames` latent frames (conditioning slots)."""
    def wrapped(step: sampling.Step) -> None:
        callback(dataclasses.replace(step, denoised=step.denoised[:, :, frames:]))
    return wrapped


def _video_pixels(video: np.ndarray) -> torch.Tensor:
    """T x H x W x 3 uint8 -> (1, 3, T, H, W) float32 in [-1, 1]."""
    x = torch.from_numpy(np.array(video, dtype=np.float32)) / 255.0  # a copy: inputs may be read-only
    return (2.0 * x - 1.0).permute(3, 0, 1, 2).unsqueeze(0)


def _noise(vae: Any, params: Any, extra_latent_frames: int) -> torch.Tensor:
    """The first draw of one CPU generator seeded by `seed`, with the conditioning slots' latent frames."""
    generator = torch.Generator().manual_seed(int(params.seed))
    s_t, s_s = int(vae.config.scale_factor_temporal), int(vae.config.scale_factor_spatial)
    shape = (1, int(vae.config.z_dim), (params.frames - 1) // s_t + 1 + extra_latent_frames,
             params.height // s_s, params.width // s_s)
    return torch.randn(shape, generator=generator, dtype=torch.float32)


def check_video(name: str, video: Any, width: int, height: int, s_t: int) -> None:
    """A T x height x width x 3 uint8 array of s_t k + 1 frames, or InputError naming `name`."""
    if not isinstance(video, np.ndarray) or video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        shape = getattr(video, "shape", None)
        raise InputError(name, f"is {shape}, expected frames x {height} x {width} x 3 uint8 RGB",
                         "give the video's frames as one uint8 RGB array")
    if video.shape[1:3] != (height, width):
        raise InputError(name, f"frames are {video.shape[2]}x{video.shape[1]}, expected {width}x{height}",
                         "resize (and crop) the video to the output size first")
    if len(video) < 1 or (len(video) - 1) % s_t:
        raise InputError(name, f"{len(video)} frames", f"use {s_t}k + 1 frames (e.g. 81)")


def check_image(name: str, image: Any, required: str) -> None:
    if image is None:
        raise InputError(name, "is missing", required)
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise InputError(name, f"is {getattr(image, 'shape', type(image).__name__)}, expected h x w x 3 uint8 RGB",
                         "give an RGB image")
    if min(image.shape[:2]) < 1:
        raise InputError(name, "is empty", "give an RGB image")


def _validate(p: VaceParams, transformer: Any, vae: Any) -> None:
    if not getattr(transformer.config, "vace_layers", None):
        raise InputError("preset", "this transformer is not a VACE model", "use the wan-vace-1.3b or wan-vace-14b preset")
    check_image("reference_image", p.reference_image, "VACE pose control animates a reference image: give one")
    if p.pose_video is None:
        raise InputError("pose_video", "is missing", "give the pose video (rendered skeleton frames)")
    validate_common(SimpleNamespace(width=p.width, height=p.height, frames=1, steps=p.steps, shift=p.shift,
                                    image=None, last_image=None), transformer, vae)
    check_video("pose_video", p.pose_video, p.width, p.height, int(vae.config.scale_factor_temporal))
    if not np.isfinite(p.conditioning_scale):
        raise InputError("conditioning_scale", f"{p.conditioning_scale} is not a number", "use e.g. 1.0")
