"""FlashI2V's loop: a first frame + prompt -> video, on the Wan layer's steps.

Read top to bottom (PKU-YuanGroup/FlashI2V, the released "npu" pipeline):

1. text: UMT5 prompt and, with guidance > 1, the negative prompt (Wan's English default when
   empty); guidance is on text only — the image condition is never dropped;
2. image: the first frame (already at the output size) through the VAE alone, one frame, the
   mode of the posterior, Wan-normalised: c (1, 16, 1, h, w). From it, once per job:
   - p = learnable_proj(c repeated over the latent frames) (the latent shift),
   - F = the high-frequency magnitude of c (models/flashi2v/fourier.py), repeated likewise;
3. denoise: the state z starts as noise and is never shifted; the DiT sees z - p and F at every
   step, in both guidance passes; Euler on sigma = s u / (1 + (s - 1) u), u = linspace(1, 0),
   timestep 1000 sigma (not diffusers' Wan grid, whose last sigma differs);
4. decode: z at sigma 0 is the clean latent, decoded as it is (p is not added back).

There is no channel concat, no CLIP and no first-frame replacement: the first frame comes out of
the model. Tiny random weights give noise.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch

from core.errors import InputError
from core.stop import ShouldStop, never
from models import sampling
from models.flashi2v.fourier import LOW_FREQ_ENERGY_RATIO, fourier_features
from models.wan.pipeline import (
    ModelInputs,
    StepInfo,
    WanOutput,
    WanParams,
    decode_frames,
    denoise,
    encode_text,
    initial_noise,
    latent_stats,
    preview_map,
    step_callback,
    to_pixels,
    validate_common,
)

# FlashI2V's defaults (its inference config): 49 frames at 832x480, 16 fps, 50 Euler steps, shift 7, CFG 5.
DEFAULTS = {"width": 832, "height": 480, "frames": 49, "fps": 16, "steps": 50, "shift": 7.0, "guidance": 5.0}
NEGATIVE_PROMPT = ("Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, "
                   "static, overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, "
                   "extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, "
                   "fused fingers, still picture, messy background, three legs, many people in the background, "
                   "walking backwards")


def flashi2v_schedule(steps: int, shift: float) -> sampling.FlowSchedule:
    sigmas = sampling.flow_sigmas(steps, shift=shift)
    return sampling.FlowSchedule(sigmas, sigmas[:-1] * 1000.0)


@torch.no_grad()
def encode_image(vae: Any, image: Any, mean: torch.Tensor, inv_std: torch.Tensor, tiled: bool = False) -> torch.Tensor:
    """HxWx3 uint8 -> (1, C, 1, h, w) Wan-normalised latent (posterior mode)."""
    dtype = next(vae.parameters()).dtype
    device = next(vae.parameters()).device
    previous = getattr(vae, "use_tiling", False)
    vae.use_tiling = tiled
    try:
        latent = vae.encode(to_pixels(image).unsqueeze(2).to(device, dtype)).latent_dist.mode().float()
    finally:
        vae.use_tiling = previous
    return (latent - mean.to(latent.device)) * inv_std.to(latent.device)


def generate(placement: Any, params: WanParams, *, on_step: Callable[[StepInfo], None] | None = None,
             should_stop: ShouldStop = never) -> WanOutput:
    transformer, vae = placement.get("transformer"), placement.get("vae")
    _validate(params, transformer, vae)
    if not params.negative_prompt.strip():
        params = _with(params, negative_prompt=NEGATIVE_PROMPT)
    device = placement.device
    t0 = time.perf_counter()

    # 1. text
    ctx = encode_text(placement, params)
    # 2. image
    noise = initial_noise(vae, params)
    frames = noise.shape[2]
    mean, inv_std = latent_stats(vae)
    with placement.phase("vae"), torch.no_grad():
        image_latent = encode_image(vae, params.image, mean, inv_std, tiled=params.vae_tiling)
        rgb_map = preview_map(vae, device, params.preview)
    ratio = float(getattr(transformer.config, "low_freq_energy_ratio", LOW_FREQ_ENERGY_RATIO))
    t1 = time.perf_counter()

    # 3. denoise
    dtype = transformer.dtype
    schedule = flashi2v_schedule(params.steps, params.shift if params.shift is not None else DEFAULTS["shift"])
    state: dict[str, torch.Tensor] = {}

    def model_inputs(x: torch.Tensor, t: torch.Tensor) -> ModelInputs:
        if not state:  # on the device, inside the transformer phase; once per job
            # P runs where its weights are (a streamed DiT keeps them on the host between forwards)
            state["p"] = transformer.latent_shift(image_latent, frames).to(x.device, torch.float32)
            state["fourier"] = fourier_features(image_latent.to(x.device), frames, ratio).to(dtype)
        return (x - state["p"]).to(dtype), t.expand(x.shape[0]), {"fourier_features": state["fourier"]}

    callback = step_callback(on_step, should_stop, rgb_map, mean, inv_std)
    latents = denoise(placement, params, ctx, model_inputs, schedule, noise, callback, solver=None)
    t2 = time.perf_counter()

    # 4. decode
    with placement.phase("vae"), torch.no_grad():
        video = decode_frames(vae, latents, mean, inv_std, tiled=params.vae_tiling)
    return WanOutput(frames=video, latents=latents.float().cpu(), mode="flashi2v",
                     timings={"encode": t1 - t0, "denoise": t2 - t1, "decode": time.perf_counter() - t2})


def _with(params: WanParams, **changes: Any) -> WanParams:
    from dataclasses import replace

    return replace(params, **changes)


def _validate(p: WanParams, transformer: Any, vae: Any) -> None:
    if not hasattr(transformer, "latent_shift"):
        raise InputError("preset", "this transformer is not FlashI2V's", "use the flashi2v-1.3b preset")
    if p.image is None:
        raise InputError("first_image", "FlashI2V animates a first frame", "give the first frame")
    if p.last_image is not None:
        raise InputError("last_image", "FlashI2V has no last-frame conditioning",
                         "use Wan2.1-FLF2V or FramePack's end-frame mode for a last frame")
    validate_common(p, transformer, vae)
