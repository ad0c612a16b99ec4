"""FramePrompt's loop: reference image + skeleton frames (+ prompt) -> the animated target frames.

On an unmodified Wan I2V transformer (Wan2.1-I2V-14B-480P with the paper's LoRA, or a fully
fine-tuned I2V-architecture checkpoint; models/frameprompt/weights.py), read top to bottom:

1. layout (models/frameprompt/sequence.py): [reference | N skeleton | N target] on the frame axis,
   1 + 2N frames (the paper: 81, N = 40); N a multiple of 4 so each part fills whole latent frames;
2. encode: UMT5 prompt (+ negative with guidance > 1); CLIP-H of the reference (Wan2.1 I2V's image
   tokens); the VAE latent z of the whole sequence with zero targets, one pass;
3. model input, as Wan I2V's: 16 latent + 4 mask + 16 condition channels; mask 1 on the reference
   and skeleton latent frames, condition = z (its target part is the latent of the zero frames);
4. selective noise (paper §3.4): only the target is noised. The latents start as the noise on the
   target and z on the context; the context is held fixed: the model always sees z there and
   every x0 prediction is z there, so only target latents change over the steps (exactly with
   Euler; UniPC's state stays within float rounding of z, what the model sees is exact);
   one timestep for the whole sequence, as Wan2.1 I2V is trained;
5. optional causal attention (paper §3.5, models/frameprompt/attention.py): context tokens do not
   attend to target tokens;
6. decode: the whole sequence through Wan's causal VAE decoder (the target latents alone would
   decode their first latent frame as a single image frame), then only the N target frames.

Weights only through `placement.phase/get`; `should_stop` after every step raises JobStopped;
`on_step` per step with a preview of the target. Tiny random weights give noise.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
import torch

from core.errors import InputError
from core.stop import ShouldStop, never
from models import sampling
from models.frameprompt.attention import group_causal
from models.frameprompt.sequence import (
    TARGET,
    Layout,
    context_keep,
    encode_sequence,
    layout_for,
    preserved_mask,
    sequence_pixels,
)
from models.wan.pipeline import (
    ModelInputs,
    StepInfo,
    WanOutput,
    decode_frames,
    denoise,
    encode_images,
    encode_text,
    initial_noise,
    latent_stats,
    preview_map,
    step_callback,
    validate_common,
)

# The paper's settings: 81 frames (1 + 40 + 40), 50 steps; Wan2.1 I2V 480P's size, guidance and shift.
DEFAULTS = {"width": 832, "height": 480, "skeleton_frames": 40, "fps": 16, "steps": 50, "guidance": 5.0,
            "shift": 3.0}


@dataclass
class FramePromptParams:
    prompt: str
    reference: np.ndarray                      # HxWx3 uint8 character image, at width x height
    skeleton: np.ndarray | list[np.ndarray]    # N x H x W x 3 uint8 pose frames (N = target frames)
    negative_prompt: str = ""
    width: int = 832
    height: int = 480
    steps: int = 50
    guidance: float = 5.0
    shift: float | None = None                 # None: the scheduler config's flow_shift
    seed: int = 0
    causal: bool = False                       # paper §3.5: context tokens do not attend to targets
    sampler: Literal["unipc", "euler"] = "unipc"
    max_tokens: int = 512
    chunk_tokens: int | None = None            # memory option: chunked blocks (models/wan/blocks.py)
    vae_tiling: bool = False
    preview: bool = True

    @property
    def frames(self) -> int:
        """The whole sequence's frames, 1 + 2N (what the noise, the plan and the VAE see)."""
        return 1 + 2 * len(self.skeleton)

    # The shared Wan checks read these: the reference is the sequence's first frame, there is no last.
    @property
    def image(self) -> np.ndarray:
        return self.reference

    @property
    def last_image(self) -> None:
        return None


def generate_frameprompt(placement: Any, params: FramePromptParams, *,
                         on_step: Callable[[StepInfo], None] | None = None, should_stop: ShouldStop = never,
                         trace: Callable[[sampling.Step], None] | None = None) -> WanOutput:
    """The target frames of `params`; `trace` (instrumentation) sees each step's whole-sequence latents."""
    transformer, vae = placement.get("transformer"), placement.get("vae")
    layout = _validate(params, transformer, vae)
    device = placement.device
    t0 = time.perf_counter()

    # 2. encode
    ctx = encode_text(placement, params)
    image_embeds = None
    if transformer.config.image_dim is not None:
        with placement.phase("image_encoder"):
            image_embeds = encode_images([params.reference], placement.get("image_processor"),
                                         placement.get("image_encoder"), device)
    noise = initial_noise(vae, params)
    mean, inv_std = latent_stats(vae)
    with placement.phase("vae"), torch.no_grad():
        z = encode_sequence(vae, sequence_pixels(params.reference, params.skeleton, layout), mean, inv_std,
                            tiled=params.vae_tiling)
        rgb_map = preview_map(vae, device, params.preview)
    _, _, _, h, w = noise.shape
    condition = torch.cat([preserved_mask(layout, h, w).to(z.device), z], dim=1)
    keep = context_keep(layout).to(z.device)
    t1 = time.perf_counter()

    # 3./4. denoise the target only
    scheduler = placement.get("scheduler")
    shift = params.shift if params.shift is not None else float(scheduler.config.flow_shift)
    schedule = sampling.flow_schedule_like_diffusers(params.steps, shift, int(scheduler.config.num_train_timesteps))
    dtype = transformer.dtype
    extra = {"encoder_hidden_states_image": None if image_embeds is None else image_embeds.to(dtype)}

    def hold(x: torch.Tensor) -> torch.Tensor:  # the context latents are z, whatever the solver did
        k = keep.to(x.device)
        return k * z.to(x.device) + (1 - k) * x

    def model_inputs(x: torch.Tensor, t: torch.Tensor) -> ModelInputs:
        return torch.cat([hold(x), condition.to(x.device)], dim=1).to(dtype), t.expand(x.shape[0]), extra

    report = step_callback(on_step, should_stop, rgb_map, mean, inv_std)

    def callback(step: sampling.Step) -> None:
        if trace is not None:
            trace(step)
        target = slice(layout.context_latents, None)
        report(dataclasses.replace(step, x=step.x[:, :, target], denoised=step.denoised[:, :, target]))

    patch = transformer.config.patch_size
    groups = [0 if s != TARGET else 1 for s in layout.segments()] if params.causal else None
    with group_causal(transformer, groups, (h // patch[1]) * (w // patch[2])):
        latents = denoise(placement, params, ctx, model_inputs, schedule, hold(noise), callback,
                          solver=scheduler.config if params.sampler == "unipc" else None, hold=hold)
    latents = hold(latents)
    t2 = time.perf_counter()

    # 6. decode the sequence, keep the target
    with placement.phase("vae"), torch.no_grad():
        frames = decode_frames(vae, latents, mean, inv_std, tiled=params.vae_tiling)[layout.target_slice()]
    return WanOutput(frames=frames, latents=latents[:, :, layout.context_latents:].float().cpu(), mode="frameprompt",
                     timings={"encode": t1 - t0, "denoise": t2 - t1, "decode": time.perf_counter() - t2})


def _validate(p: FramePromptParams, transformer: Any, vae: Any) -> Layout:
    in_ch, z = int(transformer.config.in_channels), int(vae.config.z_dim)
    if in_ch != 2 * z + int(vae.config.scale_factor_temporal):
        raise InputError("preset", f"this transformer takes {in_ch} input channels, not Wan I2V's "
                                   f"{2 * z + int(vae.config.scale_factor_temporal)}",
                         "FramePrompt runs on a Wan2.1 I2V model (e.g. the frameprompt-14b preset)")
    if transformer.config.pos_embed_seq_len:
        raise InputError("preset", "this is a first-last-frame model", "use a Wan2.1 I2V model")
    if p.reference is None:
        raise InputError("reference", "FramePrompt animates a reference image", "give the character image")
    layout = layout_for(p.skeleton, int(vae.config.scale_factor_temporal))
    validate_common(p, transformer, vae)
    for i, frame in enumerate(p.skeleton):
        if frame.dtype != np.uint8 or frame.shape != (p.height, p.width, 3):
            raise InputError("skeleton", f"frame {i} is {frame.shape[1]}x{frame.shape[0]}, expected "
                                         f"{p.width}x{p.height} uint8 RGB", "resize (and crop) the pose frames first")
    return layout
