"""FrameINO's loop: an expanded canvas + trajectory video (+ identity) + prompt -> canvas video.

Read top to bottom; it follows FrameINO's Wan2.2 pipeline (UVA-Computer-Vision-Lab/FrameINO
`pipelines/pipeline_wan_i2v_motion_FrameINO.py`, called by `app.py` with
`expand_timesteps` from Wan2.2-TI2V-5B's model_index) on the Wan layer's shared steps:

1. text: UMT5 prompt and, with guidance > 1, the negative prompt as given (FrameINO's app passes
   an empty string, not Wan's default negative);
2. encode (the VAE, posterior mode, Wan-normalised), all at the canvas size:
   - the canvas image (the original pasted on black) as one frame: c (1, 48, 1, h, w);
   - the identity frame (resized + zero-padded by the caller; a black frame when there is none,
     as FrameINO always passes one) as one frame: r (1, 48, 1, h, w), encoded on its own;
   - the trajectory video (white background) as one video: j (1, 48, T', h, w);
3. denoise: the state z (1, 48, T', h, w) starts as noise; at every step the DiT sees
   - video part: `(1 - m) c + m z` with m = 0 on the *whole first latent frame* (every token of
     it, black padding included: FrameINO's `first_frame_mask[:, :, 0] = 0`; the original-image
     region plays no part in the mask), then r appended on the time axis (T' + 1 frames);
   - trajectory part: j with one zero latent frame appended for the identity frame;
   - the two concatenated on channels: 48 + 48 = 96;
   - per-token timesteps `m'[:, ::2, ::2] * t`, m' = m plus a frame of ones: the first latent
     frame's tokens get timestep 0, the identity frame's tokens get t (not 0) as in FrameINO;
   guidance is on the text only: both passes see the same 96-channel input and timesteps; the
   identity frame's prediction is dropped (`noise_pred[:, :, :T']`); UniPC (Wan2.2-TI2V-5B's
   scheduler: bh2, order 2, flow shift 5) on diffusers' flow sigmas;
4. decode: the first latent frame replaced by c again, the whole canvas decoded (T frames). Cropping
   back to the original framing is the caller's (`crop_back`; FrameINO slices
   `frame[top:H - bottom, left:W - right]`, nothing more).

Noted, not copied: FrameINO's training feeds one scalar timestep for all tokens (its inference
uses the per-token timesteps above, and so do we); its app truncates `frame * 255` to uint8 where
we round. Tiny random weights give noise.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
import torch

from core.errors import InputError
from core.stop import ShouldStop, never
from models import sampling
from models.wan.pipeline import (
    ModelInputs,
    StepInfo,
    decode_frames,
    denoise,
    encode_text,
    encode_video,
    initial_noise,
    latent_stats,
    preview_map,
    step_callback,
    to_pixels,
)

# FrameINO's app: 81 frames at 1280x704 (its training size), 50 steps, CFG 5, written at 8 fps.
DEFAULTS = {"width": 1280, "height": 704, "frames": 81, "fps": 8, "steps": 50, "guidance": 5.0}
SIDE_MULTIPLE = 32  # VAE 16x * patch 2; FrameINO's app asks the same of the canvas


@dataclass
class FrameInoParams:
    prompt: str
    canvas_image: np.ndarray                   # H x W x 3 uint8: the image pasted on black
    region: np.ndarray                         # H x W bool: where the original image is (for cropping back)
    trajectory_video: np.ndarray               # T x H x W x 3 uint8: rendered trajectories on white
    identity: np.ndarray | None = None         # H x W x 3 uint8 at the canvas size, or None: a black frame
    negative_prompt: str = ""
    frames: int = 81
    steps: int = 50
    guidance: float = 5.0
    shift: float | None = None                 # None: the scheduler config's flow_shift (5.0)
    seed: int = 0
    sampler: Literal["unipc", "euler"] = "unipc"
    max_tokens: int = 512
    chunk_tokens: int | None = None            # memory option: chunked blocks (models/wan/blocks.py)
    vae_tiling: bool = False                   # VAE spatial tiling, encode and decode (the memory plan's)
    preview: bool = True

    @property
    def height(self) -> int:
        return int(self.canvas_image.shape[0])

    @property
    def width(self) -> int:
        return int(self.canvas_image.shape[1])


@dataclass
class FrameInoOutput:
    frames: np.ndarray                         # T x H x W x 3 uint8, the full canvas
    latents: torch.Tensor                      # (1, 48, T', h, w) normalised, first frame = the canvas latent
    box: tuple[int, int, int, int] | None      # (left, top, right, bottom) of `region`, for crop_back
    mode: str = "frameino"
    timings: dict[str, float] = field(default_factory=dict)


def generate_frameino(placement: Any, params: FrameInoParams, *, on_step: Callable[[StepInfo], None] | None = None,
                      should_stop: ShouldStop = never) -> FrameInoOutput:
    transformer, vae = placement.get("transformer"), placement.get("vae")
    _validate(params, transformer, vae)
    device = placement.device
    t0 = time.perf_counter()

    # 1. text
    ctx = encode_text(placement, params)
    # 2. encode: canvas, identity, trajectories
    noise = initial_noise(vae, params)
    latent_frames = noise.shape[2]
    mean, inv_std = latent_stats(vae)
    identity = params.identity if params.identity is not None else np.zeros_like(params.canvas_image)
    with placement.phase("vae"), torch.no_grad():
        tiled = params.vae_tiling
        canvas = encode_video(vae, to_pixels(params.canvas_image).unsqueeze(2), mean, inv_std, tiled)
        reference = encode_video(vae, to_pixels(identity).unsqueeze(2), mean, inv_std, tiled)
        trajectory = encode_video(vae, video_pixels(params.trajectory_video), mean, inv_std, tiled)
        rgb_map = preview_map(vae, device, params.preview)
    mask = first_frame_mask(noise.shape)
    t1 = time.perf_counter()

    # 3. denoise
    scheduler = placement.get("scheduler")
    shift = params.shift if params.shift is not None else float(scheduler.config.flow_shift)
    schedule = sampling.flow_schedule_like_diffusers(params.steps, shift, int(scheduler.config.num_train_timesteps))
    dtype = transformer.dtype
    patch = tuple(transformer.config.patch_size)
    state: dict[str, torch.Tensor] = {}

    def model_inputs(x: torch.Tensor, t: torch.Tensor) -> ModelInputs:
        if not state:  # on the device, inside the transformer phase; once per job
            state.update(mask=mask.to(x.device), canvas=canvas.to(x.device),
                         tail=torch.cat([reference, torch.zeros_like(reference)], dim=1).to(x.device, dtype),
                         trajectory=trajectory.to(x.device, dtype),
                         token_mask=token_mask(mask, patch).to(x.device))
        m = state["mask"]
        video = ((1 - m) * state["canvas"] + m * x).to(dtype)
        model_in = torch.cat([torch.cat([video, state["trajectory"]], dim=1), state["tail"]], dim=2)
        return model_in, (state["token_mask"] * t).unsqueeze(0), {}

    callback = step_callback(on_step, should_stop, rgb_map, mean, inv_std)
    latents = denoise(placement, params, ctx, model_inputs, schedule, noise, callback,
                      solver=scheduler.config if params.sampler == "unipc" else None, keep_frames=latent_frames)
    latents = (1 - mask.to(latents.device)) * canvas.to(latents.device) + mask.to(latents.device) * latents
    t2 = time.perf_counter()

    # 4. decode: the whole canvas
    with placement.phase("vae"), torch.no_grad():
        frames = decode_frames(vae, latents, mean, inv_std, tiled=params.vae_tiling)
    return FrameInoOutput(frames=frames, latents=latents.float().cpu(), box=region_box(params.region),
                          timings={"encode": t1 - t0, "denoise": t2 - t1, "decode": time.perf_counter() - t2})


# ------------------------------------------------------------------------------------------ pieces


def video_pixels(video: np.ndarray) -> torch.Tensor:
    """T x H x W x 3 uint8 -> (1, 3, T, H, W) float32 in [-1, 1] (FrameINO's `x / 255 * 2 - 1`)."""
    x = torch.from_numpy(np.array(video, dtype=np.float32)) / 255.0  # a copy: inputs may be read-only
    return (2.0 * x - 1.0).permute(3, 0, 1, 2).unsqueeze(0)


def first_frame_mask(shape: tuple[int, ...]) -> torch.Tensor:
    """(1, 1, T', h, w): 0 on every position of the first latent frame (the canvas), 1 elsewhere."""
    _, _, t_lat, h_lat, w_lat = shape
    mask = torch.ones(1, 1, t_lat, h_lat, w_lat)
    mask[:, :, 0] = 0
    return mask


def token_mask(mask: torch.Tensor, patch: tuple[int, ...]) -> torch.Tensor:
    """Per-token timestep factors, flattened in the DiT's token order, the identity frame appended
    with ones (FrameINO pads the mask with ones for its ID frames): the canvas frame's tokens 0."""
    padded = torch.cat([mask, torch.ones_like(mask[:, :, :1])], dim=2)
    return padded[0][0][:, ::patch[1], ::patch[2]].flatten()


def region_box(region: np.ndarray | None) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom), exclusive, of the True pixels of `region` (None when empty)."""
    if region is None or not region.any():
        return None
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def crop_back(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The original framing of canvas frames: FrameINO's `frame[top:H - bottom, left:W - right]`."""
    left, top, right, bottom = box
    return frames[:, top:bottom, left:right]


def _validate(p: FrameInoParams, transformer: Any, vae: Any) -> None:
    in_ch, z = int(transformer.config.in_channels), int(vae.config.z_dim)
    if in_ch != 2 * z:
        raise InputError("preset", f"the transformer takes {in_ch} channels, FrameINO's takes {2 * z}",
                         "use the frameino-5b preset")
    canvas = p.canvas_image
    if not isinstance(canvas, np.ndarray) or canvas.dtype != np.uint8 or canvas.ndim != 3 or canvas.shape[2] != 3:
        raise InputError("canvas_image", "is not an H x W x 3 uint8 RGB image", "give the canvas as uint8 RGB")
    multiple = int(vae.config.scale_factor_spatial) * int(transformer.config.patch_size[1])
    h, w = canvas.shape[:2]
    if h % multiple or w % multiple or h < multiple or w < multiple:
        raise InputError("canvas_image", f"{w}x{h} is not a multiple of {multiple}",
                         f"choose expansions that make both canvas sides divisible by {multiple} (e.g. 1280x704)")
    s_t = int(vae.config.scale_factor_temporal)
    if p.frames < 1 or (p.frames - 1) % s_t:
        raise InputError("frames", f"{p.frames} frames", f"use {s_t}k + 1 frames (e.g. 81)")
    if p.steps < 1:
        raise InputError("steps", f"{p.steps} < 1", "use at least 1 step (50 is FrameINO's)")
    if p.shift is not None and not p.shift > 0:
        raise InputError("shift", f"{p.shift} is not positive", "leave it empty (the model's 5) or use e.g. 5")
    if p.region is None or p.region.shape != (h, w):
        got = "missing" if p.region is None else f"{p.region.shape[1]}x{p.region.shape[0]}"
        raise InputError("region", f"is {got}, expected {w}x{h} (the canvas)", "pass the canvas's region mask")
    traj = p.trajectory_video
    if (not isinstance(traj, np.ndarray) or traj.dtype != np.uint8 or traj.ndim != 4
            or traj.shape[1:] != (h, w, 3) or traj.shape[0] != p.frames):
        got = "not a uint8 video" if not isinstance(traj, np.ndarray) or traj.ndim != 4 else \
            f"{traj.shape[0]} frames of {traj.shape[2]}x{traj.shape[1]}"
        raise InputError("trajectory_video", f"is {got}, expected {p.frames} frames of {w}x{h} uint8 RGB",
                         "render the trajectories at the canvas size, one frame per output frame")
    if p.identity is not None and (p.identity.dtype != np.uint8 or p.identity.shape != (h, w, 3)):
        raise InputError("identity", f"is {p.identity.shape}, expected {w}x{h} uint8 RGB",
                         "resize and zero-pad the identity to the canvas first")
