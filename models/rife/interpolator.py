"""Frames through IFNet: padding, tiling, arbitrary timesteps, streaming.

- `predict(net, a, b, t)`: the frame at t in (0, 1) between two (1, 3, H, W) frames in [0, 1],
  any size: zero-padded right/bottom to a multiple of 128 (as Practical-RIFE's inference script
  does) and cropped back. Frames larger than `tile` px on a side are cut into tiles of `tile` px
  (a multiple of 128) overlapping by `overlap` px; each tile runs on its own and the overlaps are
  blended with linear ramps, so a 4K frame needs only one tile's activations at a time.
- `interpolate_stream(net, frames, factor)`: input frame 0, then per pair the frames at
  t = 1/k .. (k-1)/k and the next input frame itself (the same array object, unchanged):
  (n-1)*k + 1 frames for n inputs. `stream_at_times` is the same with any times per pair.

Inputs are HxWx3 uint8 RGB; outputs the same (rounded). On CUDA the network runs in float16
(cuDNN autotuned convolutions); on the CPU in float32 over all cores.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import InputError, JobStopped
from core.frames import check_frame
from models.rife.network import PAD_MULTIPLE, IFNet

DEFAULT_TILE = 2048
DEFAULT_OVERLAP = 128
ProgressFn = Callable[[int, "int | None", str], None]
PairTimes = Callable[[int], list[float]]


@dataclass(frozen=True)
class Runner:
    """A placed network and how to feed it."""

    net: IFNet
    device: torch.device
    dtype: torch.dtype
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP


def make_runner(net: IFNet, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP) -> Runner:
    """A runner for `net` where it already is (memory/ placed it: fp16 on CUDA, fp32 on a CPU).
    Tile sides are rounded up to a multiple of 128 and the overlap kept below half a tile."""
    weight = next(net.parameters())
    device, dtype = weight.device, weight.dtype
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed tile shapes: autotuning pays off
    tile = max(PAD_MULTIPLE, -(-int(tile) // PAD_MULTIPLE) * PAD_MULTIPLE)
    overlap = max(0, min(int(overlap), tile // 2 - 1))
    return Runner(net, device, dtype, tile, overlap)


def _padded(size: int) -> int:
    return -(-size // PAD_MULTIPLE) * PAD_MULTIPLE


def run_padded(net: IFNet, a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """One network call on frames of any size: zero-pad right/bottom to the network's multiple, crop back."""
    h, w = a.shape[-2:]
    pad = (0, _padded(w) - w, 0, _padded(h) - h)
    out = net(F.pad(a, pad), F.pad(b, pad), t)
    return out[..., :h, :w]


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: stride tile - overlap, the last tile flush with the end."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, tile - overlap))
    return starts + [size - tile]


def tile_count(runner: Runner, height: int, width: int) -> int:
    """How many network calls one in-between of this size takes."""
    return len(_starts(height, runner.tile, runner.overlap)) * len(_starts(width, runner.tile, runner.overlap))


def _ramp(length: int, start: int, size: int, tile: int, overlap: int) -> torch.Tensor:
    """Blend weight along one axis of a tile: rises over the overlap at inner edges, 1 elsewhere."""
    weight = torch.ones(length)
    if overlap <= 0 or size <= tile:
        return weight
    rise = (torch.arange(overlap, dtype=torch.float32) + 1) / (overlap + 1)
    if start > 0:
        weight[:overlap] = rise
    if start + length < size:
        weight[-overlap:] = torch.minimum(weight[-overlap:], rise.flip(0))
    return weight


def predict(runner: Runner, a: torch.Tensor, b: torch.Tensor, t: float,
            on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """The (1, 3, H, W) float frame at t; tiled when a side exceeds the runner's tile
    (`on_tile(done, total)` after each tile)."""
    h, w = a.shape[-2:]
    tile, overlap = runner.tile, runner.overlap
    if h <= tile and w <= tile:
        return run_padded(runner.net, a, b, t).float()
    out = torch.zeros(1, 3, h, w)
    total = torch.zeros(1, 1, h, w)
    origins = [(y, x) for y in _starts(h, tile, overlap) for x in _starts(w, tile, overlap)]
    for done, (y, x) in enumerate(origins, 1):
        th, tw = min(tile, h - y), min(tile, w - x)
        part = run_padded(runner.net, a[..., y:y + th, x:x + tw], b[..., y:y + th, x:x + tw], t)
        weight = _ramp(th, y, h, tile, overlap)[:, None] * _ramp(tw, x, w, tile, overlap)[None, :]
        out[..., y:y + th, x:x + tw] += part.float().cpu() * weight
        total[..., y:y + th, x:x + tw] += weight
        if on_tile is not None:
            on_tile(done, len(origins))
    return out / total


def to_tensor(frame: np.ndarray, runner: Runner) -> torch.Tensor:
    x = torch.tensor(frame).permute(2, 0, 1)[None]  # a copy: decoded frames may be read-only
    return x.to(device=runner.device, dtype=runner.dtype) / 255.0


def to_frame(x: torch.Tensor) -> np.ndarray:
    return (x[0].float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


@contextlib.contextmanager
def all_cores(device: torch.device) -> Iterator[None]:
    """On the CPU, intra-op threads on every core for the job (restored afterwards)."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def stream_at_times(runner: Runner, frames: Iterable[np.ndarray], pair_times: PairTimes,
                    should_stop: Callable[[], bool] = lambda: False,
                    on_progress: ProgressFn = lambda done, total, what: None) -> Iterator[np.ndarray]:
    """Input frame 0, then per pair i the frames at `pair_times(i)` and input frame i+1 (unchanged).
    `should_stop()` is checked between pairs (JobStopped, with the frames yielded so far)."""
    source = iter(frames)
    first = next(source, None)
    if first is None:
        return
    prev = check_frame(first, 0, None)
    yield prev
    done = 1
    prev_x = to_tensor(prev, runner)
    tiles = tile_count(runner, *prev.shape[:2])
    # Only tiled (large) frames report: a pair of small frames takes a second, and the task
    # already counts pairs; a 4K frame on a CPU takes a minute, so its tiles are worth showing.
    on_tile = (lambda i, n: on_progress(i, n, f"tile {i}/{n} of a {prev.shape[1]}x{prev.shape[0]} frame")
               ) if tiles > 1 else None
    with all_cores(runner.device):
        for i, frame in enumerate(source):
            if should_stop():
                raise JobStopped(done=done)
            frame = check_frame(frame, i + 1, prev.shape)
            x = to_tensor(frame, runner)
            for t in pair_times(i):
                # inference mode per call, never held across a yield (it would leak into the caller)
                with torch.inference_mode():
                    made = to_frame(predict(runner, prev_x, x, float(t), on_tile))
                yield made
                done += 1
            yield frame
            done += 1
            prev, prev_x = frame, x


def interpolate_stream(runner: Runner, frames: Iterable[np.ndarray], factor: int,
                       should_stop: Callable[[], bool] = lambda: False,
                       on_progress: ProgressFn = lambda done, total, what: None) -> Iterator[np.ndarray]:
    """(n-1)*factor + 1 frames: each pair's in-betweens at t = j / factor, j = 1 .. factor-1."""
    if not isinstance(factor, (int, np.integer)) or isinstance(factor, bool) or factor < 1:
        raise InputError("factor", f"is {factor!r}", "use a whole number of 2 or more")
    times = [j / int(factor) for j in range(1, int(factor))]
    return stream_at_times(runner, frames, lambda i: times, should_stop, on_progress)
