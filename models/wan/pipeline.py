"""The Wan family's one generation loop: text (+ first / last image) -> latents -> frames.

`generate(placement, params)` reads top to bottom, like diffusers' WanPipeline /
WanImageToVideoPipeline `__call__`:

1. validate; the mode follows from the model and the inputs:
   - t2v:   no image;
   - i2v:   first image; the transformer takes 16 noise + 4 mask + 16 condition channels, the
            condition being the VAE latent of [image, zeros, ...]; Wan 2.1 I2V also gets CLIP-H
            embeddings of the image;
   - flf2v: first and last image: condition [image, zeros, ..., last], mask 1 on both ends,
            CLIP-H embeddings of both images (FLF2V-14B's `pos_embed_seq_len` 514 = 2 x 257);
   - ti2v:  Wan 2.2 `expand_timesteps`: the first latent frame is replaced by the image's latent
            and its tokens get timestep 0 (per-token timesteps), no channel concat; a last image
            is refused there (diffusers silently ignores it);
2. encode phase: UMT5 prompt (+ negative when guidance > 1), CLIP-H, VAE condition;
3. denoise phase: flow UniPC (the scheduler config Wan ships: bh2, order 2, flow shift) or
   Euler on diffusers' flow sigmas; CFG as uncond + g (cond - uncond); noise from one CPU
   generator seeded by `seed` (the same draw diffusers makes with a CPU generator);
4. decode phase: latents de-normalised with the VAE's `latents_mean` / `latents_std`, decoded
   (spatially tiled when the memory plan says so, as is the condition's encode), frames as uint8.

Weights are reached only through `placement.phase(...)` / `placement.get(...)`. `should_stop` is
checked after every step and raises `JobStopped` (steps done). Tiny random weights give noise.

Relation to diffusers' pipelines (tests/test_wan_parity.py checks latents within 1e-4 on tiny
weights): the same noise, schedule, model inputs and guidance. Intended differences: CFG is
combined in float32 (diffusers combines in the transformer dtype), the image goes in as an
array already at the output size (callers resize/crop; diffusers resizes a PIL image), and the
chunked block execution (a memory option) may run instead of the stock block forward.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal

import numpy as np
import torch

from core.errors import InputError
from core.stop import ShouldStop, never, stopped
from models import sampling
from models.wan.blocks import set_chunking
from models.wan.text import encode_prompt


@dataclass
class WanParams:
    prompt: str
    negative_prompt: str = ""
    width: int = 832
    height: int = 480
    frames: int = 81
    steps: int = 50
    guidance: float = 5.0
    shift: float | None = None                 # None: the scheduler config's flow_shift
    seed: int = 0
    image: np.ndarray | None = None            # HxWx3 uint8 first frame, at width x height
    last_image: np.ndarray | None = None       # HxWx3 uint8 last frame (FLF2V)
    sampler: Literal["unipc", "euler"] = "unipc"
    expand_timesteps: bool = False             # Wan 2.2 TI2V (the preset says so)
    max_tokens: int = 512
    chunk_tokens: int | None = None            # memory option: chunked blocks (models/wan/blocks.py)
    vae_tiling: bool = False                   # VAE spatial tiling, encode and decode (the memory plan's)
    preview: bool = True


@dataclass(frozen=True)
class StepInfo:
    step: int                  # 1..total
    total: int
    preview: np.ndarray | None


@dataclass
class WanOutput:
    frames: np.ndarray                         # T x H x W x 3 uint8
    latents: torch.Tensor                      # (1, C, T', h, w) normalised latents, float32, CPU
    mode: str
    timings: dict[str, float] = field(default_factory=dict)


def mode_of(transformer: Any, params: WanParams) -> str:
    if params.expand_timesteps:
        return "ti2v"
    if params.image is None:
        return "t2v"
    return "flf2v" if params.last_image is not None else "i2v"


def generate(placement: Any, params: WanParams, *, on_step: Callable[[StepInfo], None] | None = None,
             should_stop: ShouldStop = never) -> WanOutput:
    transformer, vae = placement.get("transformer"), placement.get("vae")
    mode = mode_of(transformer, params)
    _validate(params, transformer, vae, mode)
    device = placement.device
    t0 = time.perf_counter()

    # 2. encode phase
    ctx = encode_text(placement, params)
    image_embeds = None
    if transformer.config.image_dim is not None and mode in ("i2v", "flf2v"):
        with placement.phase("image_encoder"):
            images = [params.image] + ([params.last_image] if mode == "flf2v" else [])
            image_embeds = encode_images(images, placement.get("image_processor"), placement.get("image_encoder"),
                                         device)
    noise = initial_noise(vae, params)
    mean, inv_std = latent_stats(vae)
    condition, first_frame_mask = None, None
    rgb_map = None
    if params.image is not None or params.preview:
        with placement.phase("vae"), torch.no_grad():
            if params.image is not None:
                condition, first_frame_mask = _condition(vae, params, mode, tuple(noise.shape), device, mean,
                                                         inv_std)
            rgb_map = preview_map(vae, device, params.preview)
    t1 = time.perf_counter()

    # 3. denoise phase
    scheduler = placement.get("scheduler")
    shift = params.shift if params.shift is not None else float(scheduler.config.flow_shift)
    schedule = sampling.flow_schedule_like_diffusers(params.steps, shift,
                                                     int(scheduler.config.num_train_timesteps))
    dtype = transformer.dtype
    patch = tuple(transformer.config.patch_size)
    extra = {"encoder_hidden_states_image": None if image_embeds is None else image_embeds.to(dtype)}

    def model_inputs(x: torch.Tensor, t: torch.Tensor) -> ModelInputs:
        if mode == "ti2v":
            m = first_frame_mask if first_frame_mask is not None else torch.ones_like(x[:, :1])
            model_in = (1 - m) * condition + m * x if condition is not None else x
            timestep = (m[0][0][:, ::patch[1], ::patch[2]] * t).flatten().unsqueeze(0)
            return model_in.to(dtype), timestep, extra
        model_in = torch.cat([x, condition], dim=1) if condition is not None else x
        return model_in.to(dtype), t.expand(x.shape[0]), extra

    callback = step_callback(on_step, should_stop, rgb_map, mean, inv_std)
    latents = denoise(placement, params, ctx, model_inputs, schedule, noise, callback,
                      solver=scheduler.config if params.sampler == "unipc" else None)
    if mode == "ti2v" and condition is not None:
        latents = (1 - first_frame_mask) * condition + first_frame_mask * latents
    t2 = time.perf_counter()

    # 4. decode phase
    with placement.phase("vae"), torch.no_grad():
        frames = decode_frames(vae, latents, mean, inv_std, tiled=params.vae_tiling)
    return WanOutput(frames=frames, latents=latents.float().cpu(), mode=mode,
                     timings={"encode": t1 - t0, "denoise": t2 - t1, "decode": time.perf_counter() - t2})


# ------------------------------------------------------------------------------------------ the shared steps
# Every Wan-based loop (this one, models/flashi2v) is made of these: text, noise, denoise, decode.

# (x, timestep) -> (transformer input, timestep tensor, extra transformer keyword arguments)
ModelInputs = tuple[torch.Tensor, torch.Tensor, dict[str, Any]]


def encode_text(placement: Any, params: Any) -> dict[str, torch.Tensor]:
    """UMT5 embeddings: {"positive"} and, when guidance > 1, {"negative"}."""
    device = placement.device
    with placement.phase("text_encoder"), torch.no_grad():
        tokenizer, text_encoder = placement.get("tokenizer"), placement.get("text_encoder")
        ctx = {"positive": encode_prompt(params.prompt, tokenizer, text_encoder, device, params.max_tokens)}
        if params.guidance > 1.0:
            ctx["negative"] = encode_prompt(params.negative_prompt, tokenizer, text_encoder, device,
                                            params.max_tokens)
    return ctx


def initial_noise(vae: Any, params: Any) -> torch.Tensor:
    """The latent-shaped noise of one CPU generator seeded by `seed` (diffusers' first draw)."""
    generator = torch.Generator().manual_seed(int(params.seed))
    s_t, s_s = int(vae.config.scale_factor_temporal), int(vae.config.scale_factor_spatial)
    shape = (1, int(vae.config.z_dim), (params.frames - 1) // s_t + 1, params.height // s_s, params.width // s_s)
    return torch.randn(shape, generator=generator, dtype=torch.float32)


def preview_map(vae: Any, device: Any, enabled: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The latent -> RGB map for previews (fitted while the VAE is on the device), or None."""
    if not enabled:
        return None
    from models.wan.preview import fit_rgb_map

    return fit_rgb_map(vae, device)


def step_callback(on_step: Callable[[StepInfo], None] | None, should_stop: ShouldStop,
                  rgb_map: tuple[torch.Tensor, torch.Tensor] | None, mean: torch.Tensor,
                  inv_std: torch.Tensor) -> Callable[[sampling.Step], None]:
    """After every step: stop (JobStopped with the steps done) or report, with a preview."""

    def callback(step: sampling.Step) -> None:
        if should_stop():
            raise stopped(step.i + 1, step.total, "steps")
        if on_step is not None:
            preview = None
            if rgb_map is not None:
                from models.wan.preview import latent_preview

                preview = latent_preview(step.denoised, *rgb_map, mean.flatten().cpu(), (1 / inv_std).flatten().cpu())
            on_step(StepInfo(step.i + 1, step.total, preview))

    return callback


def denoise(placement: Any, params: Any, ctx: dict[str, torch.Tensor],
            model_inputs: Callable[[torch.Tensor, torch.Tensor], ModelInputs], schedule: sampling.FlowSchedule,
            noise: torch.Tensor, callback: Callable[[sampling.Step], None], solver: Any = None,
            branch_extra: dict[str, dict[str, Any]] | None = None, keep_frames: int | None = None,
            hold: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """The transformer phase: CFG (uncond + g (cond - uncond), text only) over `model_inputs`, then
    flow UniPC with `solver` (a UniPC scheduler config: order, bh1/bh2, lower_order_final) or Euler.
    `branch_extra[name]` overrides transformer keyword arguments of one branch ("positive" /
    "negative"), e.g. Animate's blanked face video in the unconditional pass. `keep_frames` keeps
    only the first latent frames of each prediction (FrameINO drops its appended identity frame;
    CFG is elementwise, so dropping before or after combining is the same). `hold` rewrites every
    x0 prediction before the solver uses it (FramePrompt holds the context frames to the context)."""
    transformer = placement.get("transformer")
    dtype = transformer.dtype

    def branch(name: str) -> sampling.Velocity:
        def velocity(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            model_in, timestep, extra = model_inputs(x, schedule.timestep(sigma).to(x.device))
            if branch_extra and name in branch_extra:
                extra = {**extra, **branch_extra[name]}
            with transformer.cache_context("cond" if name == "positive" else "uncond"):
                v = transformer(hidden_states=model_in, timestep=timestep,
                                encoder_hidden_states=ctx[name].to(dtype), return_dict=False, **extra)[0]
            return v if keep_frames is None else v[:, :, :keep_frames]
        return velocity

    negative = branch("negative") if "negative" in ctx else None
    predict = sampling.to_denoiser(sampling.cfg_velocity(branch("positive"), negative,
                                                         scale=params.guidance if negative is not None else 1.0))
    denoiser = predict if hold is None else (lambda x, sigma: hold(predict(x, sigma)))
    x = noise.to(placement.device)
    with placement.phase("transformer"), _chunking(transformer, params.chunk_tokens), torch.no_grad():
        if solver is None:
            return sampling.sample_euler(denoiser, x, schedule.sigmas, callback)
        return sampling.sample_unipc(denoiser, x, schedule.sigmas, callback, max_order=int(solver.solver_order),
                                     variant=solver.solver_type, alpha="flow",
                                     lower_order_final=bool(solver.lower_order_final))


@contextlib.contextmanager
def _chunking(transformer: Any, chunk_tokens: int | None) -> Iterator[None]:
    set_chunking(transformer, chunk_tokens)
    try:
        yield
    finally:
        set_chunking(transformer, None)


# ------------------------------------------------------------------------------------------ pieces


def latent_stats(vae: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, C, 1, 1, 1) latents_mean and 1 / latents_std (diffusers' normalisation)."""
    c = int(vae.config.z_dim)
    mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32).view(1, c, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std, dtype=torch.float32).view(1, c, 1, 1, 1)
    return mean, inv_std


def to_pixels(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float32 in [-1, 1] (diffusers' VaeImageProcessor normalisation)."""
    x = torch.from_numpy(np.array(image, dtype=np.float32)) / 255.0  # a copy: inputs may be read-only
    return (2.0 * x - 1.0).permute(2, 0, 1).unsqueeze(0)


@torch.no_grad()
def encode_images(images: list[np.ndarray], processor: Any, image_encoder: Any,
                  device: torch.device | str) -> torch.Tensor:
    """CLIP-H `hidden_states[-2]` of each image, (len(images), 257, 1280) for the real encoder."""
    from PIL import Image

    inputs = processor(images=[Image.fromarray(i) for i in images], return_tensors="pt")
    values = inputs["pixel_values"].to(device=device, dtype=next(image_encoder.parameters()).dtype)
    return image_encoder(pixel_values=values, output_hidden_states=True).hidden_states[-2]


def _condition(vae: Any, p: WanParams, mode: str, shape: tuple[int, ...], device: Any, mean: torch.Tensor,
               inv_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The normalised VAE condition (and, for ti2v, the first-frame mask), as diffusers builds them."""
    image = to_pixels(p.image).unsqueeze(2)  # (1, 3, 1, H, W)
    if mode == "ti2v":
        video = image
    elif mode == "i2v":
        video = torch.cat([image, image.new_zeros(1, 3, p.frames - 1, p.height, p.width)], dim=2)
    else:
        last = to_pixels(p.last_image).unsqueeze(2)
        video = torch.cat([image, image.new_zeros(1, 3, p.frames - 2, p.height, p.width), last], dim=2)
    vae_dtype = next(vae.parameters()).dtype
    previous = getattr(vae, "use_tiling", False)
    vae.use_tiling = p.vae_tiling  # an 81-frame condition video needs the plan's tiles as much as decoding
    try:
        latent = vae.encode(video.to(device, vae_dtype)).latent_dist.mode().float()  # "argmax" in diffusers
    finally:
        vae.use_tiling = previous
    latent = (latent - mean.to(latent.device)) * inv_std.to(latent.device)
    _, _, t_lat, h_lat, w_lat = shape
    if mode == "ti2v":
        mask = torch.ones(1, 1, t_lat, h_lat, w_lat, device=latent.device)
        mask[:, :, 0] = 0
        return latent, mask
    s_t = int(vae.config.scale_factor_temporal)
    mask = torch.ones(1, 1, p.frames, h_lat, w_lat)
    mask[:, :, 1:p.frames - (1 if mode == "flf2v" else 0)] = 0
    first = torch.repeat_interleave(mask[:, :, 0:1], dim=2, repeats=s_t)
    mask = torch.cat([first, mask[:, :, 1:]], dim=2).view(1, -1, s_t, h_lat, w_lat).transpose(1, 2)
    return torch.cat([mask.to(latent.device), latent], dim=1), None


@torch.no_grad()
def encode_video(vae: Any, pixels: torch.Tensor, mean: torch.Tensor, inv_std: torch.Tensor,
                 tiled: bool = False) -> torch.Tensor:
    """(1, 3, T, H, W) pixels in [-1, 1] -> Wan-normalised posterior-mode latents, float32, on the VAE's device."""
    vae_dtype = next(vae.parameters()).dtype
    device = next(vae.parameters()).device
    previous = getattr(vae, "use_tiling", False)
    vae.use_tiling = tiled
    try:
        latent = vae.encode(pixels.to(device, vae_dtype)).latent_dist.mode().float()  # "argmax" in diffusers
    finally:
        vae.use_tiling = previous
    return (latent - mean.to(latent.device)) * inv_std.to(latent.device)


@torch.no_grad()
def decode_video(vae: Any, latents: torch.Tensor, mean: torch.Tensor, inv_std: torch.Tensor,
                 tiled: bool = False) -> torch.Tensor:
    """Normalised latents -> (1, 3, T, H, W) pixels in the VAE's dtype, unclamped (loops that feed
    decoded frames back in, as Animate's segments do, need them before the uint8 rounding)."""
    vae_dtype = next(vae.parameters()).dtype
    z = latents.to(mean.device) / inv_std + mean
    previous = getattr(vae, "use_tiling", False)
    vae.use_tiling = tiled
    try:
        return vae.decode(z.to(latents.device, vae_dtype), return_dict=False)[0]
    finally:
        vae.use_tiling = previous


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) pixels in [-1, 1] -> T x H x W x 3 uint8 (converted where the video is)."""
    video = ((video[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return video.permute(1, 2, 3, 0).cpu().numpy()


@torch.no_grad()
def decode_frames(vae: Any, latents: torch.Tensor, mean: torch.Tensor, inv_std: torch.Tensor,
                  tiled: bool = False) -> np.ndarray:
    """Normalised latents -> T x H x W x 3 uint8 (converted on the device: no float video on the host)."""
    vae_dtype = next(vae.parameters()).dtype
    z = latents.to(mean.device) / inv_std + mean
    previous = getattr(vae, "use_tiling", False)
    vae.use_tiling = tiled
    try:
        video = vae.decode(z.to(latents.device, vae_dtype), return_dict=False)[0]
    finally:
        vae.use_tiling = previous
    video = ((video[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return video.permute(1, 2, 3, 0).cpu().numpy()


def _validate(p: WanParams, transformer: Any, vae: Any, mode: str) -> None:
    validate_common(p, transformer, vae)
    in_ch, z = int(transformer.config.in_channels), int(vae.config.z_dim)
    if mode in ("i2v", "flf2v") and in_ch == z:
        raise InputError("image", "this model generates from text only (no image channels)",
                         "use an image-to-video or first-last-frame model, or remove the image")
    if mode == "i2v" and transformer.config.pos_embed_seq_len:
        raise InputError("last_image", "this model was trained with a first and a last frame",
                         "give the last frame too, or use an image-to-video model for a first frame only")
    if mode == "t2v" and in_ch != z:
        raise InputError("image", "this model needs a first image", "give the first frame")
    if mode == "ti2v" and p.last_image is not None:
        raise InputError("last_image", "Wan 2.2 TI2V has no last-frame conditioning",
                         "use Wan2.1-FLF2V or FramePack's end-frame mode for a last frame")


def validate_common(p: Any, transformer: Any, vae: Any) -> None:
    """What every Wan-based loop checks: sides, frame count, steps, shift, the image arrays."""
    s_s, s_t = int(vae.config.scale_factor_spatial), int(vae.config.scale_factor_temporal)
    multiple = s_s * int(transformer.config.patch_size[1])
    if p.width % multiple or p.height % multiple or p.width < multiple or p.height < multiple:
        raise InputError("resolution", f"{p.width}x{p.height} is not a multiple of {multiple}",
                         f"use sides divisible by {multiple} (e.g. 832x480 or 1280x720)")
    if p.frames < 1 or (p.frames - 1) % s_t:
        raise InputError("frames", f"{p.frames} frames", f"use {s_t}k + 1 frames (e.g. 81)")
    if p.steps < 1:
        raise InputError("steps", f"{p.steps} < 1", "use at least 1 step (50 is Wan's default)")
    if p.shift is not None and not p.shift > 0:
        raise InputError("shift", f"{p.shift} is not positive", "leave it empty (the model's) or use e.g. 5")
    for name, image in (("image", p.image), ("last_image", p.last_image)):
        if image is not None and (image.dtype != np.uint8 or image.shape != (p.height, p.width, 3)):
            raise InputError(name, f"is {image.shape[1]}x{image.shape[0]}, expected {p.width}x{p.height} uint8 RGB",
                             "resize (and crop) it to the output size first")
