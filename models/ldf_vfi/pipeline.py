"""LDF-VFI interpolation, streamed: n input frames in, (n-1)*factor + 1 frames out, in order.

`interpolate(placement, frames, factor)` reads top to bottom:

1. validate; plan the chunk schedule lazily (`schedule.iter_chunks`), so frames are read only as
   far as the next window needs;
2. per chunk, VAE phase: build the window's low-frame-rate condition (input frames placed at
   every `factor`-th slot, the gaps filled with the nearest input frame), tiled-encode it (256 px
   tiles) and encode the frame mask (4 channels per latent frame);
3. transformer phase: Euler flow-matching over the window's tiles, the context tiles ("prev",
   "skip") re-noised to t_cond and held there (per-tile noise levels), local tile attention;
4. VAE phase: decode the chunk's output tiles with the conditional decoder, which also sees the
   low-frame-rate frames and the mask; yield frames in timeline order, putting the exact input
   frame at every slot i*factor.

Weights are reached only through `memory.Placement` (`phase` + `get`); tensors go to
`placement.device`. One CPU `torch.Generator(seed)` serves every random draw (VAE posterior
samples, noise, re-noising), so a seed reproduces the output.

Stopping: `should_stop()` is checked before every chunk and after every step; when it returns
True the iterator raises `JobStopped` (done = frames yielded so far, which the caller keeps).

Tiny random weights (`tiny.build_tiny_repos`) produce noise frames: only counts, order, the
exact originals and determinism are meaningful with them.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from core.errors import InputError
from core.stop import check_stop
from memory.placement import Placement
from models import sampling
from models.ldf_vfi import schedule as sched
from models.ldf_vfi.attention import INFERENCE_ATTENTION_TYPE, Backend, window_for
from models.ldf_vfi.frames import FrameSource, WindowPixels
from models.ldf_vfi.sampler import renoise, tile_denoiser
from models.ldf_vfi.tiling import (
    TileSpec,
    decode_rows,
    encode_mask_piece,
    encode_tiled,
    join_pieces,
    split_pieces,
)

MIN_FACTOR, MAX_FACTOR = 2, 16
DEFAULT_STEPS = 16
DEFAULT_SHIFT = 8.0

ProgressFn = Callable[[int, "int | None", str], None]  # (steps done, total steps or None, what)


@dataclass
class _Pending:
    """A chunk whose output tiles are sampled but not yet decoded (kept as latents: small)."""

    chunk: sched.Chunk
    latents: torch.Tensor     # (1, n_decode, nH, nW, C, T', h, w)
    pixels: WindowPixels


def interpolate(placement: Placement, frames: Sequence[np.ndarray] | Iterable[np.ndarray], factor: int, *,
                steps: int = DEFAULT_STEPS, shift: float = DEFAULT_SHIFT, seed: int = 0,
                window_frames: int = sched.WINDOW_FRAMES, tile_frames: int = sched.TILE_FRAMES,
                tile_px: int = 256, tile_stride_px: int | None = None, t_cond: float = sched.T_COND,
                attention_type: str = INFERENCE_ATTENTION_TYPE, attention_backend: Backend = "auto",
                vae_batch: int = 1, should_stop: Callable[[], bool] = lambda: False,
                on_progress: ProgressFn | None = None) -> Iterator[np.ndarray]:
    """Yield exactly (n-1)*factor + 1 HxWx3 uint8 frames for n input frames; input frame i is
    yielded unchanged at position i*factor. `frames` may be a sequence or a lazy iterable.
    (With tiny random weights the generated frames are noise.)"""
    try:
        factor = operator.index(factor)  # ints and numpy integers; not floats
    except TypeError:
        factor = -1
    if isinstance(factor, bool) or not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise InputError("factor", "is not an integer from 2 to 16", f"use {MIN_FACTOR}..{MAX_FACTOR}")
    if steps < 1:
        raise InputError("steps", f"is {steps}", "use at least 1 step (16 is the model's default)")
    if shift <= 0:
        raise InputError("shift", f"is {shift}", "use a positive shift (8 is the model's default)")
    try:
        sched.check_window(window_frames, tile_frames)
        stride = tile_stride_px if tile_stride_px is not None else tile_px * 3 // 4  # 256 -> 192
        spec = TileSpec(tile_px=tile_px, stride_px=stride, tile_frames=tile_frames)
    except ValueError as exc:
        raise InputError("window/tiles", str(exc), "keep the defaults (60 frames, 20-frame tiles, 256/192 px)")
    window = window_for(attention_type)
    source = FrameSource(frames)
    if not source.has(2):
        raise InputError("frames", "fewer than 2 frames", "give at least 2 frames to interpolate between")
    return _run(placement, source, factor, steps, shift, seed, window_frames, spec, t_cond, window,
                attention_backend, vae_batch, should_stop, on_progress)


def _run(placement: Placement, source: FrameSource, factor: int, steps: int, shift: float, seed: int,
         window_frames: int, spec: TileSpec, t_cond: float, window: tuple[int, int, int] | None,
         backend: Backend, vae_batch: int, should_stop: Callable[[], bool],
         on_progress: ProgressFn | None) -> Iterator[np.ndarray]:
    source.get(0)  # sets the frame size
    assert source.shape is not None
    height, width = source.shape
    generator = torch.Generator().manual_seed(int(seed))
    sigmas = sampling.flow_sigmas(steps, shift=shift)
    known = source.known_count()
    total_steps = steps * len(sched.chunk_schedule(known, factor, window_frames, spec.tile_frames)) \
        if known is not None else None
    done_steps = 0

    def has_slots(k: int) -> bool:
        return source.has(math.ceil(k / factor))

    def is_output(slot: int) -> bool:  # slot <= (n-1)*factor
        return source.has(math.ceil(slot / factor) + 1)

    contexts: dict[str, torch.Tensor] = {}
    pending: dict[int, _Pending] = {}
    next_slot = 0
    written = 0
    for chunk in sched.iter_chunks(has_slots, lambda: source.count() * factor, window_frames, spec.tile_frames):
        check_stop(should_stop, written, None, "frames")
        pixels = WindowPixels(source, chunk, factor, window_frames)
        with placement.phase("cond_vae"):
            cond = _encode_condition(placement, pixels, window_frames, spec, generator, vae_batch)

        x = _initial_latents(chunk, cond.shape, contexts, t_cond, generator, placement.device)

        def on_step(step: sampling.Step, _chunk: sched.Chunk = chunk) -> None:
            if on_progress is not None:
                on_progress(done_steps + step.i + 1, total_steps, f"{_chunk.kind} chunk, frames "
                            f"{_chunk.output[0]}-{_chunk.output[1]}: step {step.i + 1}/{step.total}")
            check_stop(should_stop, written, None, "frames")

        with placement.phase("transformer"):
            x = _sample(placement, x, cond, chunk, sigmas, t_cond, window, backend, on_step)
        done_steps += steps

        for name, tile in chunk.saves:
            contexts[name] = x[:, tile].clone()
        if chunk.kind == "concat":
            contexts["prev"] = contexts.pop("next_prev")
        pending[chunk.output[0]] = _Pending(chunk, x[:, list(chunk.decode)], pixels)

        ready = []
        while next_slot in pending:
            item = pending.pop(next_slot)
            ready.append(item)
            next_slot = item.chunk.output[1]
        if ready:
            with placement.phase("cond_vae"):
                decoded = [(item.chunk.output[0], _decode(placement, item, spec, height, width, vae_batch))
                           for item in ready]
            for first_slot, video in decoded:
                for k in range(video.shape[0]):
                    slot = first_slot + k
                    if not is_output(slot):
                        return
                    yield source.get(slot // factor) if slot % factor == 0 else video[k]
                    written += 1
            source.release_before(max(0, (next_slot - 2 * spec.tile_frames) // factor - 1))


def _vae_dtype(module: torch.nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


def _encode_condition(placement: Placement, pixels: WindowPixels, window_frames: int, spec: TileSpec,
                      generator: torch.Generator, vae_batch: int) -> torch.Tensor:
    """[LQ latent (16), mask latent (4)] of the window as DiT tiles (1, nT, nH, nW, 20, T', h, w)."""
    vae = placement.get("cond_vae")
    device, dtype = placement.device, _vae_dtype(vae)
    size = spec.tile_px

    def lq_tile(y0: int, x0: int) -> torch.Tensor:
        return pixels.rgb(0, window_frames, y0, y0 + size, x0, x0 + size)

    def mask_tile(y0: int, x0: int) -> torch.Tensor:
        return pixels.mask_tile(0, window_frames, y0, y0 + size, x0, x0 + size, inside_only=True)

    def encode_lq(x: torch.Tensor) -> torch.Tensor:
        pieces = split_pieces(x, spec.chunk_frames)
        outs = [vae.encode(p.to(device, dtype), generator=generator).float()
                for p in pieces.split(vae_batch)]
        return join_pieces(torch.cat(outs), x.shape[0])

    def encode_mask(m: torch.Tensor) -> torch.Tensor:
        pieces = split_pieces(m, spec.chunk_frames)
        return join_pieces(encode_mask_piece(pieces, spec.spatial_ratio), m.shape[0]).to(device)

    with torch.no_grad():
        lq = encode_tiled(lq_tile, pixels.height, pixels.width, spec, encode_lq)
        mask = encode_tiled(mask_tile, pixels.height, pixels.width, spec, encode_mask)
    both = torch.cat([lq, mask], dim=3)  # (1, nH, nW, 20, T_window, h, w)
    b, nh, nw, c, t, h, w = both.shape
    n_t = t // spec.latent_frames
    return both.reshape(b, nh, nw, c, n_t, spec.latent_frames, h, w).permute(0, 4, 1, 2, 3, 5, 6, 7)


def _initial_latents(chunk: sched.Chunk, cond_shape: torch.Size, contexts: dict[str, torch.Tensor],
                     t_cond: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    b, n_t, nh, nw, c, t, h, w = cond_shape
    latent_channels = c - 4  # the condition is [LQ latent | 4 mask channels]; LQ and x share channels
    x = torch.randn((b, n_t, nh, nw, latent_channels, t, h, w), generator=generator).to(device)
    for tile, name in chunk.context.items():
        x[:, tile] = renoise(contexts[name], t_cond, generator)
    return x


def _sample(placement: Placement, x: torch.Tensor, cond: torch.Tensor, chunk: sched.Chunk,
            sigmas: torch.Tensor, t_cond: float, window: tuple[int, int, int] | None, backend: Backend,
            on_step: sampling.Callback) -> torch.Tensor:
    dit = placement.get("transformer")
    dtype = dit.patch_embedding.weight.dtype
    cond = cond.to(placement.device, dtype)

    def velocity(latents: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([latents.to(dtype), cond], dim=4)  # channels: noisy 16 | LQ 16 | mask 4
        return dit(inputs, timestep, window=window, attention_backend=backend)

    with torch.no_grad():
        denoiser = tile_denoiser(velocity, chunk.sampled, x.shape[1], t_cond, dtype)
        return sampling.sample_euler(denoiser, x, sigmas, on_step)


def _decode(placement: Placement, item: _Pending, spec: TileSpec, height: int, width: int,
            vae_batch: int) -> np.ndarray:
    """Output frames of a pending chunk: (n_decode * tile_frames, H, W, 3) uint8."""
    vae = placement.get("cond_vae")
    device, dtype = placement.device, _vae_dtype(vae)
    latents = item.latents[0]  # (n_decode, nH, nW, C, T', h, w)
    n_dec, nh, nw, c, t, h, w = latents.shape
    out = np.empty((n_dec * spec.tile_frames, height, width, 3), np.uint8)
    for k, tile in enumerate(item.chunk.decode):
        plane = latents[k].permute(2, 3, 0, 4, 1, 5).reshape(1, c, t, nh * h, nw * w)
        f0, f1 = tile * spec.tile_frames, (tile + 1) * spec.tile_frames

        def decode_tile(z: torch.Tensor, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
            cond = split_pieces(item.pixels.rgb(f0, f1, y0, y1, x0, x1), spec.chunk_frames)
            mask = split_pieces(item.pixels.mask_tile(f0, f1, y0, y1, x0, x1, inside_only=False),
                                spec.chunk_frames)
            pieces = split_pieces(z, spec.chunk_latents)
            outs = [vae.decode(zp.to(device, dtype), cp.to(device, dtype), mp.to(device, dtype)).float().cpu()
                    for zp, cp, mp in zip(pieces.split(vae_batch), cond.split(vae_batch), mask.split(vae_batch))]
            return join_pieces(torch.cat(outs), 1)

        row0 = 0
        with torch.no_grad():
            for strip in decode_rows(plane, spec, decode_tile):
                rows = min(strip.shape[-2], height - row0)
                if rows <= 0:
                    break
                pix = ((strip[0, :, :, :rows, :width] + 1) * 127.5).clamp(0, 255).to(torch.uint8)
                out[k * spec.tile_frames:(k + 1) * spec.tile_frames, row0:row0 + rows] = \
                    pix.permute(1, 2, 3, 0).numpy()
                row0 += rows
    return out
