"""Weight-free optical-flow video frame interpolation (public API).

    interpolate_stream(frames, factor)      lazy: an iterable of frames in, a generator out
    interpolate_frames_flow(frames, factor) the same, as a list

n input frames give exactly (n-1)*factor + 1 output frames; input frame i is yielded unchanged
at position i*factor. Only a window of four input frames (plus the motion of three pairs) is
held, so a long or 4K video never sits in RAM. Motion for the next pair is estimated on one
worker thread while the current pair's frames are synthesised on the other (OpenCV releases the
GIL). How the motion and the frames are computed: see `motion.py` and `synthesis.py`.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from core.errors import InputError
from core.frames import check_frame
from core.stop import check_stop
from studio.interpolation.motion import (
    MIN_SIDE,
    FrameData,
    MotionEstimator,
    MotionParams,
    PairMotion,
)
from studio.interpolation.synthesis import Resolution, SynthParams, synthesize

MIN_FACTOR, MAX_FACTOR = 2, 16
WORKERS = 2
BIG_FRAME_PIXELS = 2_000_000  # above this, frames are synthesised one at a time


def interpolate_frames_flow(frames: Sequence[np.ndarray], factor: int) -> list[np.ndarray]:
    """All output frames as a list (see `interpolate_stream`)."""
    return list(interpolate_stream(frames, factor))


def interpolate_stream(frames: Iterable[np.ndarray], factor: int, *,
                       should_stop: Callable[[], bool] | None = None,
                       on_pair: Callable[[int], None] | None = None) -> Iterator[np.ndarray]:
    """Interpolate HxWx3 uint8 RGB frames `factor` times, lazily.

    Yields (n-1)*factor + 1 frames for n input frames, input frame i unchanged at i*factor.
    `on_pair(i)` is called once the frames between inputs i and i+1 are out; `should_stop()` is
    checked between pairs, and when it returns True `JobStopped` is raised (done = frames yielded).
    Bad input raises `InputError` ("factor" / "frames"): the factor and the first two frames are
    checked here, later frames when they are read.
    """
    _check_factor(factor)
    try:
        source = _FrameSource(iter(frames))
    except TypeError:
        raise InputError("frames", f"is a {type(frames).__name__}, not a sequence of frames",
                         "pass a list or an iterator of HxWx3 uint8 RGB frames") from None
    if source.get(1) is None:
        raise InputError("frames", "fewer than 2 frames", "give at least 2 frames to interpolate between")
    return _run(source, int(factor), should_stop or (lambda: False), on_pair)


# ---------------------------------------------------------------------------------------------
# validation and input

def _check_factor(factor: object) -> None:
    ok = isinstance(factor, (int, np.integer)) and not isinstance(factor, bool) and MIN_FACTOR <= factor <= MAX_FACTOR
    if not ok:
        raise InputError("factor", f"is {factor!r}", f"use a whole number from {MIN_FACTOR} to {MAX_FACTOR}")


_END = object()


class _FrameSource:
    """Reads and validates frames on demand, keeping only the ones still needed."""

    def __init__(self, it: Iterator[np.ndarray]) -> None:
        self._it = it
        self._frames: dict[int, np.ndarray] = {}
        self._read = 0
        self._done = False
        self.shape: tuple[int, ...] | None = None

    def get(self, index: int) -> np.ndarray | None:
        while not self._done and self._read <= index:
            frame = next(self._it, _END)
            if frame is _END:
                self._done = True
                break
            frame = check_frame(frame, self._read, self.shape)
            self.shape = frame.shape
            self._frames[self._read] = frame
            self._read += 1
        return self._frames.get(index)

    def forget_before(self, index: int) -> None:
        for k in [k for k in self._frames if k < index]:
            del self._frames[k]


WORK_PIXELS = 600_000  # motion is estimated on at most about this many pixels


def work_scale(h: int, w: int) -> int:
    """Motion is estimated at 1/scale of the frame size, the smallest power of two that brings
    the frame within WORK_PIXELS: full resolution up to about 1000x600 (on real footage every
    pixel of evidence counts: half resolution costs ~0.3 dB and loses thin structures),
    half size for 1080p, a quarter for 4K."""
    scale = 1
    while (h / scale) * (w / scale) > WORK_PIXELS:
        scale *= 2
    return scale


class _WorkGrid:
    """Maps full-resolution frames to the grey working images motion is estimated on. Frames
    whose working size is under MIN_SIDE are padded (edge pixels repeated); synthesis only uses
    the unpadded part."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        h, w = shape[0], shape[1]
        s = work_scale(h, w)
        self.res = Resolution(h, w, max(1, round(h / s)), max(1, round(w / s)))
        self.pad_y = max(0, MIN_SIDE - self.res.work_h)
        self.pad_x = max(0, MIN_SIDE - self.res.work_w)

    def grey(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(working grey image, finer grey image for feature matching: up to 2x the working size)."""
        full = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        g = full
        if not self.res.same:
            g = cv2.resize(full, (self.res.work_w, self.res.work_h), interpolation=cv2.INTER_AREA)
        detail = full
        if self.res.w > 2 * self.res.work_w:
            detail = cv2.resize(full, (2 * self.res.work_w, 2 * self.res.work_h), interpolation=cv2.INTER_AREA)
        if self.pad_x or self.pad_y:
            g = cv2.copyMakeBorder(g, 0, self.pad_y, 0, self.pad_x, cv2.BORDER_REPLICATE)
            detail = g
        return g, detail


# ---------------------------------------------------------------------------------------------
# the pipeline

def _run(source: _FrameSource, factor: int, should_stop: Callable[[], bool],
         on_pair: Callable[[int], None] | None, motion_params: MotionParams | None = None,
         synth_params: SynthParams | None = None) -> Iterator[np.ndarray]:
    """Pair i is synthesised while the motion of pair i+2 is estimated (pair i needs the motion
    of pairs i-1, i and i+1 for its quadratic trajectories)."""
    estimator = MotionEstimator(motion_params)
    sp = synth_params or SynthParams()
    assert source.shape is not None
    work = _WorkGrid(source.shape)
    chunks = _time_chunks(factor, work.res.h * work.res.w)
    data: dict[int, FrameData] = {}

    def frame_data(i: int) -> FrameData:
        if i not in data:
            data[i] = estimator.frame(*work.grey(source.get(i)))  # type: ignore[arg-type]
        return data[i]

    def motion_task(i: int, prev: PairMotion | None) -> PairMotion:
        return estimator.estimate(frame_data(i), frame_data(i + 1), prev)

    def synth_task(a: np.ndarray, b: np.ndarray, times: list[float], prev: PairMotion | None, cur: PairMotion,
                   nxt: PairMotion | None) -> list[np.ndarray]:
        return synthesize(a, b, cur, prev, nxt, times, work.res, sp)

    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="vfi")
    try:
        yield source.get(0)  # type: ignore[misc]
        motions: dict[int, PairMotion] = {0: motion_task(0, None)}
        if source.get(2) is not None:
            motions[1] = motion_task(1, motions[0])
        i = 0
        while True:
            check_stop(should_stop, i * factor + 1, None, "frames")  # frames yielded so far
            ahead: Future[PairMotion] | None = None
            if i + 2 not in motions and source.get(i + 3) is not None:
                frame_data(i + 2), frame_data(i + 3)  # built here: only this thread reads the source
                ahead = pool.submit(motion_task, i + 2, motions[i + 1])
            args = (source.get(i), source.get(i + 1))
            hood = (motions.get(i - 1), motions[i], motions.get(i + 1))
            # at most WORKERS chunks in flight: big frames never pile up in memory
            todo = iter(chunks)
            running = deque(pool.submit(synth_task, *args, c, *hood) for c in islice(todo, WORKERS))
            while running:
                done = running.popleft().result()
                more = next(todo, None)
                if more is not None:
                    running.append(pool.submit(synth_task, *args, more, *hood))
                yield from done
            yield source.get(i + 1)  # type: ignore[misc]
            if on_pair is not None:
                on_pair(i)
            if ahead is not None:
                motions[i + 2] = ahead.result()
            if i + 1 not in motions:  # that was the last pair
                return
            i += 1
            # keep a window: frames i..i+3, motions i-1..i+2
            source.forget_before(i)
            for k in [k for k in data if k < i]:
                del data[k]
            for k in [k for k in motions if k < i - 1]:
                del motions[k]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        estimator.close()


def _time_chunks(factor: int, pixels: int) -> list[list[float]]:
    """The intermediate times of a pair, split into jobs: halves for the two workers, single
    frames when frames are big (bounded memory)."""
    ts = [j / factor for j in range(1, factor)]
    size = 1 if pixels > BIG_FRAME_PIXELS else (len(ts) + WORKERS - 1) // WORKERS
    return [ts[j:j + size] for j in range(0, len(ts), size)]
