"""FramePack's section loop: image (+ prompt) -> a long video, one fixed-size section at a time.

`generate(placement, params)` yields a `SectionOutput` after every section with the whole video so
far, so a caller can write a partial mp4 each time. Steps, top to bottom:

1. validate, bucket the image (and the end image / the video to extend) to one resolution;
2. encode phase (text encoders, SigLIP, VAE): prompts per section, image embeddings, start/end
   latents; one seeded CPU generator serves the VAE posterior samples and every section's noise;
3. per section: denoise phase (transformer) on [clean 4x | clean 2x | clean 1x | noisy] tokens, a
   constant count for any video length; then decode phase (VAE) of only the new latents plus the
   overlap, cross-faded linearly over window*4-3 frames into the video.

Variants: "inverted" (FramePack's anti-drifting order: the video grows backwards, the last section
adds the start frame; an end image fills the first section's clean-post slot) and "f1" (forward:
history [start, 16 for 4x, 2 for 2x, 1 for 1x], new latents appended). "Extend video" is F1 with
the history taken from the VAE-encoded frames to extend; those frames are kept bit-exact at the
start of the output, the new frames follow without a cross-fade at the junction.

Stopping: `should_stop()` is checked before each section and after every step; when it returns
True, `generate` raises `core.errors.JobStopped` (done = finished sections). Every finished section was
already yielded, so the caller keeps it; the next `generate` call starts clean.

Relation to diffusers' `HunyuanVideoFramepackPipeline` (checked by tests/test_framepack_parity.py):
with `sampler="euler"` the section loop, index layouts, history handling, noise draws (one
generator: VAE posterior of the start image, of the end image, then one `randn` per section),
guidance (gs*1000, real CFG as neg + cfg*(pos-neg)), decode slices and cross-fade are the same,
so latents and frames agree to float rounding. Intended differences:
- shift: FramePack's mu (linear in tokens, capped at ln 7) unless `shift` is set; diffusers uses
  its scheduler config: the real one is a fixed shift 7 (= the cap, reached at the 640 buckets),
  or, with `use_dynamic_shifting`, the same capped mu as here;
- text: Llama input not padded to 95+256 tokens (same kept tokens; short all-ones mask);
- end frame: scaled by `end_influence` (diffusers: 1.0); diffusers computes an average of the
  start/end SigLIP embeddings but never uses it, `end_embed_mix` here makes that mix real (0.0 =
  start image only = diffusers' behaviour);
- frame count: ours is 4*window*sections + 1 from `seconds`; diffusers derives sections from
  `num_frames` (ceil(num_frames / (4*window-3))) and returns the same 4*window*sections + 1;
- output: uint8 frames rounded like diffusers' PIL output; `frames` is a view of a preallocated
  buffer (no O(length) float history, no re-copy of the whole video per section);
- sampler "unipc" (FramePack's default) has no diffusers counterpart.
Tiny random weights (the tiny kit) produce noise; only shapes, counts and parity are meaningful.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Literal

import numpy as np
import torch

from core.errors import InputError
from core.stop import stopped
from models import sampling
from models.framepack import buckets, encode, prompts, schedule
from models.framepack.preview import latent_preview, readable
from models.framepack.teacache import TeaCache

ENCODE_COMPONENTS = ("text_encoder", "text_encoder_2", "image_encoder", "vae")


@dataclass
class FramePackParams:
    variant: Literal["inverted", "f1"]      # f1 also used for "extend video"
    image: np.ndarray                        # HxWx3 uint8 start image (any size; bucketed here)
    prompt: str                              # may be timestamped: "[0s: ...] [2s-4s: ...]"
    negative_prompt: str = ""
    end_image: np.ndarray | None = None      # inverted only: first section's clean-post slot
    end_influence: float = 1.0               # (0, 1]: scale of the end latent in that slot
    seed: int = 31337
    seconds: float = 5.0                     # video length (for extend: length of the new part)
    latent_window_size: int = 9
    steps: int = 25
    cfg: float = 1.0                         # real CFG only when != 1 (two transformer calls)
    gs: float = 10.0                         # distilled guidance, passed as gs*1000
    rs: float = 0.0                          # CFG rescale
    bucket: int = 640                        # base size of the 14 buckets
    sampler: Literal["unipc", "euler"] = "unipc"
    use_teacache: bool = False
    teacache_threshold: float = 0.15
    prompt_blend_sections: int = 0
    extend_frames: np.ndarray | None = None  # TxHxWx3 uint8 context frames of a video to extend (F1)
    fps: int = 30
    shift: float | None = None               # None: FramePack's resolution-dependent mu; else fixed
    end_embed_mix: float = 0.0               # weight of the end image's SigLIP embedding (0..1)
    tiled_decode: bool = False               # VAE spatial tiling (less memory at 640 px)


@dataclass(frozen=True)
class StepInfo:
    section: int          # generation order, from 0
    step: int             # 1..total_steps
    total_steps: int
    preview: np.ndarray | None  # h x (T*w) x 3 uint8 latent preview of the current clean estimate


@dataclass(frozen=True)
class SectionOutput:
    section: int                # generation order, from 0
    total_sections: int
    frames: np.ndarray          # T x H x W x 3 uint8, the whole video so far, playback order.
    #                             A read-only view valid until the next section: copy to keep it.
    latent_frames: int          # latent frames behind `frames`
    latents: torch.Tensor       # (1, C, latent_frames, h, w) float32 latents of the video so far
    #                             (playback order; for extend: the encoded context tail + new ones)
    tokens: int                 # transformer tokens per step (clean 4x + 2x + 1x + noisy)
    token_breakdown: dict[str, int]
    conditioning: dict[str, Any]
    timings: dict[str, float]
    teacache: dict[str, Any] | None = None


def generate(placement: Any, params: FramePackParams, *,
             on_step: Callable[[StepInfo], None] | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> Iterator[SectionOutput]:
    """Run FramePack section by section; see the module docstring. Bad parameters raise
    `InputError` here, at the call (a bad prompt too), not at the first iteration."""
    _validate(params)
    prompts.parse_timestamped_prompt(params.prompt, params.seconds)
    return _run(placement, params, on_step, should_stop)


def _run(placement: Any, params: FramePackParams, on_step: Callable[[StepInfo], None] | None,
         should_stop: Callable[[], bool]) -> Iterator[SectionOutput]:
    window = params.latent_window_size
    extend = params.extend_frames is not None
    inverted = params.variant == "inverted"

    # 1. Bucket every input image to one size (the video to extend decides it when given).
    reference = params.extend_frames[0] if extend else params.image
    height, width = buckets.nearest_bucket(reference.shape[0], reference.shape[1], params.bucket)
    start_image = buckets.resize_and_center_crop(params.image, height, width)
    end_image = (buckets.resize_and_center_crop(params.end_image, height, width)
                 if params.end_image is not None else None)

    total_sections = schedule.section_count(params.seconds, window, params.fps)
    # The video as one preallocated uint8 buffer; a video to extend is copied in (bucketed) first.
    n_context = len(params.extend_frames) if extend else 0
    video = _VideoBuffer(n_context + schedule.total_frames(total_sections, window) - (1 if extend else 0),
                         height, width, grows_backwards=inverted, overlap=schedule.overlap_frames(window))
    if extend:
        video.put_context(buckets.resize_and_center_crop(f, height, width) for f in params.extend_frames)
    spans = prompts.parse_timestamped_prompt(params.prompt, params.seconds)
    section_prompts = prompts.prompts_per_section(
        spans, schedule.section_start_seconds(total_sections, window, params.fps),
        inverted=inverted, blend_sections=params.prompt_blend_sections)

    generator = torch.Generator("cpu").manual_seed(int(params.seed))
    device = placement.device

    # 2. Encode: text, image embeddings, start/end/context latents.
    with placement.phase(*ENCODE_COMPONENTS):
        texts = {}
        for mix in section_prompts:
            for text, _ in mix:
                if text not in texts:
                    texts[text] = encode.encode_text(
                        text, placement.get("tokenizer"), placement.get("text_encoder"),
                        placement.get("tokenizer_2"), placement.get("text_encoder_2"), device)
        negative = (encode.encode_text(params.negative_prompt, placement.get("tokenizer"),
                                       placement.get("text_encoder"), placement.get("tokenizer_2"),
                                       placement.get("text_encoder_2"), device)
                    if params.cfg != 1.0 else None)
        image_embeds = encode.encode_image(start_image, placement.get("feature_extractor"),
                                           placement.get("image_encoder"), device)
        if end_image is not None and params.end_embed_mix > 0:
            end_embeds = encode.encode_image(end_image, placement.get("feature_extractor"),
                                             placement.get("image_encoder"), device)
            image_embeds = (1.0 - params.end_embed_mix) * image_embeds + params.end_embed_mix * end_embeds
        vae = placement.get("vae")
        # Same generator order as diffusers: start image posterior, end image posterior, then noise.
        start_latent = encode.vae_encode(encode.image_to_pixels(start_image), vae, generator).cpu()
        end_latent = (encode.vae_encode(encode.image_to_pixels(end_image), vae, generator).cpu()
                      if end_image is not None else None)
        context_latents = (encode.vae_encode(encode.frames_to_pixels(_context_tail(video.view(), window)),
                                             vae, generator).cpu()
                           if extend else None)

    section_text = [encode.blend_text([(texts[t], w) for t, w in mix]) for mix in section_prompts]
    channels = start_latent.shape[1]
    latent_h, latent_w = height // schedule.VAE_SPACE, width // schedule.VAE_SPACE
    tokens = schedule.token_counts(height, width, window)

    # History latents on the CPU (small): zeros where no history exists yet.
    zeros = torch.zeros(1, channels, schedule.HISTORY_LATENTS, latent_h, latent_w)
    if inverted:
        history, generated = zeros, 0
    else:
        history = torch.cat([zeros, context_latents if extend else start_latent], dim=2)
        generated = context_latents.shape[2] if extend else 1
    paddings = schedule.latent_paddings(total_sections) if inverted else [0] * total_sections

    teacache = (TeaCache(placement.get("transformer"), params.steps, params.teacache_threshold)
                if params.use_teacache else None)
    try:
        for k in range(total_sections):
            if should_stop():
                raise stopped(k, total_sections, "sections")
            t0, c0 = time.perf_counter(), time.process_time()
            is_first, is_last = k == 0, k == total_sections - 1

            # 3a. The section's conditioning: index layout and clean latents.
            if inverted:
                index = schedule.inverted_indices(window, paddings[k])
                post, history_2x, history_4x = history[:, :, :schedule.HISTORY_LATENTS].split(
                    [schedule.HISTORY_1X, schedule.HISTORY_2X, schedule.HISTORY_4X], dim=2)
                post_source = "history" if generated else "zeros"
                if is_first and end_latent is not None:
                    post, post_source = end_latent * params.end_influence, "end_image"
                clean = torch.cat([start_latent, post], dim=2)
            else:
                index = schedule.f1_indices(window)
                history_4x, history_2x, post = history[:, :, -schedule.HISTORY_LATENTS:].split(
                    [schedule.HISTORY_4X, schedule.HISTORY_2X, schedule.HISTORY_1X], dim=2)
                post_source = "history"
                clean = torch.cat([start_latent, post], dim=2)
            conditioning = {
                "variant": params.variant,
                "padding": paddings[k] if inverted else None,
                "clean_post": post_source,
                "clean_post_mean_abs": float(post.abs().mean()),
                "end_influence": params.end_influence if post_source == "end_image" else None,
                "indices": {name: getattr(index, name).tolist()
                            for name in ("latents", "clean", "history_2x", "history_4x")},
                "prompt": section_prompts[k],
            }

            # 3b. Denoise the section's window from fresh noise (drawn on the CPU generator).
            noise = torch.randn((1, channels, window, latent_h, latent_w), generator=generator, dtype=torch.float32)
            mu = None if params.shift is not None else sampling.dynamic_shift_mu(window * latent_h * latent_w / schedule.PATCH ** 2)
            sigmas = sampling.flow_sigmas(params.steps, mu=mu, shift=params.shift)
            conditioning["mu"] = mu if mu is not None else float(np.log(params.shift))
            with placement.phase("transformer"):
                new_latents = _denoise_section(
                    placement, params, k, noise, sigmas, section_text[k], negative, image_embeds,
                    index, clean, history_2x, history_4x, teacache, on_step, should_stop, total_sections)
            t1, c1 = time.perf_counter(), time.process_time()

            # 3c. Grow the latent history (backwards for inverted; the last section adds the start).
            if inverted:
                if is_last:
                    new_latents = torch.cat([start_latent, new_latents], dim=2)
                history = torch.cat([new_latents, history], dim=2)
                generated += new_latents.shape[2]
                real = history[:, :, :generated]
            else:
                history = torch.cat([history, new_latents], dim=2)
                generated += new_latents.shape[2]
                real = history[:, :, -generated:]

            # 3d. Decode only the new part (+ overlap) and join it to the video.
            count = schedule.decode_latents(params.variant, window, is_first and not extend, is_last, generated)
            segment = real[:, :, :count] if inverted else real[:, :, -count:]
            with placement.phase("vae"):
                pixels = encode.vae_decode(segment.to(device), placement.get("vae"), tiled=params.tiled_decode).cpu()
            if extend and is_first:
                video.append_after_context(pixels[:, :, -schedule.frames_per_section(window):])
            else:
                video.join(pixels)
            t2, c2 = time.perf_counter(), time.process_time()

            yield SectionOutput(
                section=k,
                total_sections=total_sections,
                frames=video.view(),
                latent_frames=generated,
                latents=real,
                tokens=tokens["total"],
                token_breakdown=dict(tokens),
                conditioning=conditioning,
                timings={"denoise": t1 - t0, "decode": t2 - t1, "section": t2 - t0,  # wall seconds
                         "section_cpu": c2 - c0, "denoise_cpu": c1 - c0},        # process CPU seconds
                teacache=(None if teacache is None else
                          {"computed": teacache.stats.computed, "skipped": teacache.stats.skipped}),
            )
    finally:
        if teacache is not None:
            teacache.remove()


def _denoise_section(placement: Any, params: FramePackParams, k: int, noise: torch.Tensor, sigmas: torch.Tensor,
                     text: encode.TextEmbeds, negative: encode.TextEmbeds | None, image_embeds: torch.Tensor,
                     index: schedule.IndexSplit, clean: torch.Tensor, history_2x: torch.Tensor,
                     history_4x: torch.Tensor, teacache: TeaCache | None,
                     on_step: Callable[[StepInfo], None] | None, should_stop: Callable[[], bool],
                     total_sections: int) -> torch.Tensor:
    """Sample one window of latents; returns (1, C, window, h, w) float32 on the CPU."""
    transformer = placement.get("transformer")
    device, dtype = placement.device, transformer.dtype
    positive_text = text.to(device, dtype)
    negative_text = (negative if negative is not None else encode.zeros_like_text(text)).to(device, dtype)
    shared = {
        "image_embeds": image_embeds.to(device, dtype),
        "indices_latents": index.latents.to(device),
        "guidance": torch.tensor([params.gs * 1000.0]).to(device, dtype),
        "latents_clean": clean.to(device, dtype),
        "indices_latents_clean": index.clean.to(device),
        "latents_history_2x": history_2x.to(device, dtype),
        "indices_latents_history_2x": index.history_2x.to(device),
        "latents_history_4x": history_4x.to(device, dtype),
        "indices_latents_history_4x": index.history_4x.to(device),
    }

    def velocity(embeds: encode.TextEmbeds, branch: str) -> sampling.Velocity:
        def call(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            if teacache is not None:
                teacache.begin(branch)
            return transformer(
                hidden_states=x.to(dtype), timestep=(sigma * 1000.0).to(torch.float32),
                encoder_hidden_states=embeds.llama, encoder_attention_mask=embeds.mask,
                pooled_projections=embeds.pooled, return_dict=False, **shared)[0]
        return call

    denoiser = sampling.to_denoiser(sampling.cfg_velocity(velocity(positive_text, "positive"),
                                                          velocity(negative_text, "negative"),
                                                          scale=params.cfg, rescale=params.rs))

    def callback(step: sampling.Step) -> None:
        if should_stop():
            raise stopped(k, total_sections, "sections")
        if on_step is not None:
            on_step(StepInfo(section=k, step=step.i + 1, total_steps=step.total,
                             preview=readable(latent_preview(step.denoised), step.denoised.shape[2])))

    if teacache is not None:
        teacache.new_section(params.steps)
    run = sampling.sample_euler if params.sampler == "euler" else sampling.sample_unipc
    with torch.no_grad():
        latents = run(denoiser, noise.to(device), sigmas.to(device), callback=callback)
    return latents.float().cpu()


def _context_tail(frames: np.ndarray, window: int) -> np.ndarray:
    """The last 4m+1 frames of the video to extend, enough for the 19 history latents and one
    window (the causal VAE maps 4m+1 frames to m+1 latents)."""
    latents_needed = max(schedule.HISTORY_LATENTS, window) + 1
    usable = min(frames.shape[0], schedule.pixel_frames(latents_needed))
    usable = (usable - 1) // schedule.VAE_TIME * schedule.VAE_TIME + 1
    return frames[-usable:]


class _VideoBuffer:
    """The video so far as one preallocated uint8 buffer, filled from the end (inverted) or the start.

    Only the `overlap` frames at the growing edge may still change (cross-fade with the next
    section), so only they are kept in float; every other frame is final once written."""

    def __init__(self, total: int, height: int, width: int, grows_backwards: bool, overlap: int) -> None:
        self.frames = np.zeros((total, height, width, 3), dtype=np.uint8)
        self.backwards = grows_backwards
        self.overlap = overlap
        self.lo = self.hi = total if grows_backwards else 0  # filled range [lo, hi)
        self.edge: torch.Tensor | None = None  # float pixels of the overlap at the growing edge

    def put_context(self, frames: Iterable[np.ndarray]) -> None:
        for i, frame in enumerate(frames):
            self.frames[i] = frame
            self.hi = i + 1

    def append_after_context(self, pixels: torch.Tensor) -> None:
        count = pixels.shape[2]
        self.frames[self.hi: self.hi + count] = encode.pixels_to_uint8(pixels)
        self.hi += count
        self.edge = pixels[:, :, -self.overlap:]

    def join(self, pixels: torch.Tensor) -> None:
        count = pixels.shape[2]
        if self.edge is None:  # first section: nothing to fade into
            self._write(pixels, self.lo - count if self.backwards else self.hi)
            self.lo, self.hi = (self.lo - count, self.hi) if self.backwards else (self.lo, self.hi + count)
            self.edge = pixels[:, :, : self.overlap] if self.backwards else pixels[:, :, -self.overlap:]
            return
        ov = self.overlap
        weights = torch.linspace(1, 0, ov, dtype=pixels.dtype).view(1, 1, -1, 1, 1)
        if self.backwards:  # new pixels come before the video: fade their tail into its head
            blended = weights * pixels[:, :, -ov:] + (1 - weights) * self.edge
            start = self.lo - (count - ov)
            self._write(torch.cat([pixels[:, :, :-ov], blended], dim=2), start)
            self.lo = start
            self.edge = pixels[:, :, :ov]
        else:  # new pixels come after the video: fade its tail into their head
            blended = weights * self.edge + (1 - weights) * pixels[:, :, :ov]
            start = self.hi - ov
            self._write(torch.cat([blended, pixels[:, :, ov:]], dim=2), start)
            self.hi = start + count
            self.edge = pixels[:, :, -ov:]

    def _write(self, pixels: torch.Tensor, start: int) -> None:
        self.frames[start: start + pixels.shape[2]] = encode.pixels_to_uint8(pixels)

    def view(self) -> np.ndarray:
        out = self.frames[self.lo: self.hi]
        out.flags.writeable = False
        return out


def _validate(p: FramePackParams) -> None:
    if p.variant not in ("inverted", "f1"):
        raise InputError("variant", f"unknown variant {p.variant!r}", "use 'inverted' or 'f1'")
    _check_image("image", p.image)
    if p.end_image is not None:
        if p.variant != "inverted":
            raise InputError("end_image", "an end frame needs inverted sampling",
                             "use variant 'inverted' or drop the end image")
        _check_image("end_image", p.end_image)
    if not 0.0 < p.end_influence <= 1.0:
        raise InputError("end_influence", f"{p.end_influence} is outside (0, 1]", "use a value in (0, 1], 1 = full")
    if not 0.0 <= p.end_embed_mix <= 1.0:
        raise InputError("end_embed_mix", f"{p.end_embed_mix} is outside [0, 1]", "use a value in [0, 1]")
    if p.extend_frames is not None:
        if p.variant != "f1":
            raise InputError("extend_frames", "extending a video needs F1 sampling", "use variant 'f1'")
        f = p.extend_frames
        if not (isinstance(f, np.ndarray) and f.dtype == np.uint8 and f.ndim == 4 and f.shape[-1] == 3 and len(f)):
            raise InputError("extend_frames", "expected T x H x W x 3 uint8 frames with T >= 1",
                             "pass the decoded RGB frames of the video")
    if not p.seconds > 0:
        raise InputError("seconds", f"{p.seconds} is not a positive length", "use a length in seconds, e.g. 5")
    if p.latent_window_size < 1:
        raise InputError("latent_window_size", f"{p.latent_window_size} < 1", "use 9 (FramePack's default)")
    if p.steps < 1:
        raise InputError("steps", f"{p.steps} < 1", "use 25 (FramePack's default)")
    if p.sampler not in ("unipc", "euler"):
        raise InputError("sampler", f"unknown sampler {p.sampler!r}", "use 'unipc' or 'euler'")
    if p.shift is not None and not p.shift > 0:
        raise InputError("shift", f"{p.shift} is not positive", "leave it empty or use e.g. 7.0")
    if p.prompt_blend_sections < 0:
        raise InputError("prompt_blend_sections", "negative", "use 0 (no blending) or more")
    if p.fps < 1:
        raise InputError("fps", f"{p.fps} < 1", "use 30 (FramePack's rate)")


def _check_image(name: str, image: Any) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise InputError(name, "expected an H x W x 3 uint8 RGB image", "pass an RGB image")
    if min(image.shape[:2]) < 8:
        raise InputError(name, f"image of {image.shape[1]}x{image.shape[0]} is too small", "use a larger image")
