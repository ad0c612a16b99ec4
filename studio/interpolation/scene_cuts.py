"""Scene cuts and output timing: a layer around any interpolation method.

    CutDetector          says, frame by frame, whether a new frame starts a new shot (no weights)
    interpolate_shots    splits a frame stream into shots at cuts, runs the method once per shot and
                         fills each interval that spans a cut with repeats or a cross-fade
    plan_timing / pick   "to N fps": the output instants, the times the method is asked for (a
                         whole-factor grid, or exact times from a method with `at_times`), and
                         which made frame each output shows

The method is started afresh for every shot, so nothing is warped across a cut and no motion
context (the flow method keeps the motion of the neighbouring pairs for its trajectories) reaches
across one. Everything streams: only the current shot's method window and one frame are held.

Why the detector works. Two frames of one shot are related by motion: once the second is warped
onto the first with a dense optical flow (DIS, on a ~128 px thumbnail), textures correlate locally
(local normalised cross-correlation near 1; noise, blur and occlusions pull it down to ~0.6 under
large motion). Frames of two different shots are unrelated content: no flow explains one by the
other, and the local correlation stays near chance (0). A colour-histogram distance (Hellinger, 0
same colours, 1 disjoint) adds evidence for cuts between differently lit shots. A flat frame
(too little texture to correlate) never makes a cut. The score is the mean of the two terms,
    d = (1 - max(rho, 0)) / 2 + hellinger / 2,      both halves in [0, 1/2],
and a cut is d > 0.4: unrelated content (rho ~ 0) scores >= 0.5 even with identical colours; a
shot under heavy motion (rho >= 0.6, colour distance < 0.3) scores <= 0.35. A fade keeps the local
correlation (it is invariant to brightness and contrast) and changes the colours only gradually; a
pan is explained by the flow (pixels whose flow leaves the frame are not scored).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Literal, NamedTuple

import cv2
import numpy as np

from core.stop import check_stop

CUT_THRESHOLD = 0.4
WORK_SIDE = 128          # thumbnails for the detector: cheap at any input size
TEXTURE_VAR = 4.0        # grey-level variance (std 2 levels) below which a window is flat, not evidence
MIN_TEXTURE_SHARE = 0.05  # under this share of textured pixels the structural term abstains
CORR_WINDOW = 7
CutFill = Literal["repeat", "crossfade"]
CUT_FILLS: tuple[str, ...] = ("repeat", "crossfade")

ProgressFn = Callable[[int, "int | None", str], None]
StreamFn = Callable[[Iterable[np.ndarray], int, Callable[[], bool], ProgressFn], Iterator[np.ndarray]]
# A method that makes frames at any time in (0, 1) may offer `run.at_times(frames, pair_times,
# should_stop, on_progress)`: input frame 0, then per pair i the frames at pair_times(i), frame i+1.
PairTimes = Callable[[int], list[float]]
TimedStreamFn = Callable[[Iterable[np.ndarray], PairTimes, Callable[[], bool], ProgressFn], Iterator[np.ndarray]]


# ---------------------------------------------------------------------------------------------
# detection

@dataclass(frozen=True)
class _Thumb:
    grey: np.ndarray   # uint8 thumbnail
    hist: np.ndarray   # normalised HSV histogram


def _thumb(rgb: np.ndarray) -> _Thumb:
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    small = rgb if scale == 1.0 else cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))),
                                                interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    return _Thumb(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), hist / max(float(hist.sum()), 1.0))


def _hellinger(p: np.ndarray, q: np.ndarray) -> float:
    return math.sqrt(max(0.0, 1.0 - float(np.sqrt(p * q).sum())))


def _local_correlation(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float | None:
    """Mean local NCC of a and b over textured, valid pixels; None when there is too little texture."""
    box = (CORR_WINDOW, CORR_WINDOW)
    mu_a, mu_b = cv2.blur(a, box), cv2.blur(b, box)
    var_a = cv2.blur(a * a, box) - mu_a * mu_a
    var_b = cv2.blur(b * b, box) - mu_b * mu_b
    cov = cv2.blur(a * b, box) - mu_a * mu_b
    use = valid & (var_a > TEXTURE_VAR) & (var_b > TEXTURE_VAR)
    if use.mean() < MIN_TEXTURE_SHARE:
        return None
    return float((cov / np.sqrt(np.maximum(var_a * var_b, 1e-6)))[use].mean())


def _structure_correlation(a: np.ndarray, b: np.ndarray, dis: cv2.DISOpticalFlow) -> float | None:
    """b warped onto a by the DIS flow a->b, then their local correlation (pixels that flow out
    of the frame are new content, not evidence either way)."""
    flow = dis.calc(a, b, None)
    h, w = a.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    warped = cv2.remap(b.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    valid = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return _local_correlation(a.astype(np.float32), warped, valid)


class CutScore(NamedTuple):
    colour: float            # Hellinger distance of the colour histograms, 0..1
    correlation: float | None  # motion-compensated local correlation, None when there is no texture

    @property
    def value(self) -> float:
        rho = 1.0 if self.correlation is None else self.correlation
        return 0.5 * (1.0 - max(rho, 0.0)) + 0.5 * self.colour

    @property
    def is_cut(self) -> bool:
        # A cut needs structural evidence: a flat frame (black between shots, the end of a fade)
        # has none, and interpolating towards a flat frame is a blend anyway.
        return self.correlation is not None and self.value > CUT_THRESHOLD


def _usable(frame: object) -> bool:
    return isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 \
        and min(frame.shape[:2]) > 0


class CutDetector:
    """`push(frame)` -> True when `frame` starts a new shot (a cut after the previous frame).
    Frames the method would refuse (wrong type, size change) are not judged: the method raises."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._prev: _Thumb | None = None
        self._shape: tuple[int, ...] | None = None
        self.last: CutScore | None = None

    def push(self, frame: np.ndarray) -> bool:
        if not _usable(frame) or (self._shape is not None and frame.shape != self._shape):
            self._prev = None
            return False
        cur = _thumb(frame)
        prev, self._prev, self._shape = self._prev, cur, frame.shape
        if prev is None:
            return False
        self.last = score_pair(prev, cur, self._dis)
        return self.last.is_cut


def score_pair(a: _Thumb, b: _Thumb, dis: cv2.DISOpticalFlow) -> CutScore:
    return CutScore(_hellinger(a.hist, b.hist), _structure_correlation(a.grey, b.grey, dis))


def cut_score(a: np.ndarray, b: np.ndarray) -> CutScore:
    """The cut score of two HxWx3 uint8 RGB frames (for tests and tools)."""
    return score_pair(_thumb(a), _thumb(b), cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM))


def find_cuts(frames: Iterable[np.ndarray]) -> list[int]:
    """Indices i such that a cut lies between frames i and i+1."""
    detector = CutDetector()
    return [i - 1 for i, frame in enumerate(frames) if detector.push(frame)]


# ---------------------------------------------------------------------------------------------
# shots

_END = object()


class _Shots:
    """Reads the input once, in order, and hands it out shot by shot (one frame of look-ahead)."""

    def __init__(self, frames: Iterable[np.ndarray], detect: bool) -> None:
        self._it = iter(frames)
        self._detector = CutDetector() if detect else None
        self.index = -1           # input index of the last frame read
        self.cuts: list[int] = []  # cut after input frame i
        self.first_index = 0       # input index of the current shot's first frame
        self.last: np.ndarray | None = None  # the last frame handed out
        self._head = self._read()

    def _read(self) -> tuple[np.ndarray, bool] | None:
        frame = next(self._it, _END)
        if frame is _END:
            return None
        self.index += 1
        cut = self._detector.push(frame) if self._detector is not None else False
        if cut:
            self.cuts.append(self.index - 1)
        return frame, cut  # type: ignore[return-value]

    def next_shot(self) -> tuple[np.ndarray, Iterator[np.ndarray] | None] | None:
        """(first frame, the shot's frames from the first on; None for a one-frame shot)."""
        if self._head is None:
            return None
        first = self.last = self._head[0]
        self.first_index = self.index
        self._head = self._read()
        if self._head is None or self._head[1]:
            return first, None
        return first, self._frames(first)

    def _frames(self, first: np.ndarray) -> Iterator[np.ndarray]:
        yield first
        while self._head is not None and not self._head[1]:
            frame = self.last = self._head[0]
            self._head = self._read()
            yield frame


def fill_cut(a: np.ndarray, b: np.ndarray, times: list[float], how: str) -> list[np.ndarray]:
    """Frames at `times` in (0, 1) between the last frame of one shot and the first of the next:
    the nearest of the two (ties to the earlier) or the linear cross-fade (1-t) a + t b, rounded."""
    if how == "crossfade":
        return [cv2.addWeighted(a, 1.0 - t, b, t, 0.0) for t in times]
    return [a.copy() if t <= 0.5 else b.copy() for t in times]


def interpolate_shots(frames: Iterable[np.ndarray], timing: Timing, run: StreamFn, should_stop: Callable[[], bool],
                      on_progress: ProgressFn, *, detect_cuts: bool = True, cut_fill: str = "repeat",
                      cuts: list[int] | None = None) -> Iterator[np.ndarray]:
    """Input frame 0, then for every pair i the frames at `timing.pair_times(i)` and input frame
    i+1 (with a grid timing: the (n-1)*factor + 1 frames of `run` itself). `run` is started afresh
    for every shot (at the grid factor, or its `at_times` for exact times) and the pair across each
    cut is filled by `fill_cut`. Detected cuts (after input frame i) are put in `cuts`."""
    shots = _Shots(frames, detect_cuts)
    done, last = 0, None
    while (shot := shots.next_shot()) is not None:
        start, (first, shot_frames) = shots.first_index, shot
        if last is not None:  # the pair that spans the cut
            check_stop(should_stop, done, None, "frames")
            for frame in fill_cut(last, first, [float(t) for t in timing.pair_times(start - 1)], cut_fill):
                done += 1
                yield frame
        for frame in [first] if shot_frames is None else _run_shot(run, shot_frames, start, timing, should_stop,
                                                                   on_progress):
            done += 1
            yield frame
        if shot_frames is not None:
            for _ in shot_frames:  # a method that stopped reading early still leaves the next shot intact
                pass
        last = shots.last
        if cuts is not None:
            cuts[:] = shots.cuts


def _run_shot(run: StreamFn, frames: Iterator[np.ndarray], start: int, timing: Timing,
              should_stop: Callable[[], bool], on_progress: ProgressFn) -> Iterator[np.ndarray]:
    if timing.grid_factor is not None:
        return run(frames, timing.grid_factor, should_stop, on_progress)
    at_times: TimedStreamFn = run.at_times  # type: ignore[attr-defined]
    return at_times(frames, lambda i: [float(t) for t in timing.pair_times(start + i)], should_stop, on_progress)


# ---------------------------------------------------------------------------------------------
# timing

@dataclass(frozen=True)
class Timing:
    """Output frame i shows input time min(i * step, n_in - 1) (in input frames). The method makes
    frames on a grid (`grid_factor`: grid frame g at time g / grid_factor) or, grid_factor None,
    at exactly the output times (a method with `at_times`). `exact`: every output time is made."""

    n_in: int
    step: Fraction
    count: int
    grid_factor: int | None
    exact: bool

    def output_time(self, i: int) -> Fraction:
        return min(i * self.step, Fraction(self.n_in - 1))

    def pair_times(self, i: int) -> list[Fraction]:
        """The times in (0, 1) the method makes between input frames i and i+1."""
        if self.grid_factor is not None:
            return [Fraction(j, self.grid_factor) for j in range(1, self.grid_factor)]
        lo, hi = math.floor(i / self.step) + 1, math.ceil((i + 1) / self.step) - 1
        return [j * self.step - i for j in range(lo, min(hi, self.count - 1) + 1)]

    def timeline(self) -> Iterator[Fraction]:
        """The time of every frame `interpolate_shots` yields, in order."""
        yield Fraction(0)
        for i in range(self.n_in - 1):
            for t in self.pair_times(i):
                yield i + t
            yield Fraction(i + 1)


def as_fraction(fps: float) -> Fraction:
    """A frame rate as a ratio: 23.976... -> 24000/1001, 29.97 -> 2997/100."""
    return Fraction(fps).limit_denominator(1001)


def plan_timing(n_in: int, factor: int, in_fps: float, target_fps: float | None, max_factor: int,
                arbitrary_t: bool = False) -> Timing:
    """The factor alone: (n-1)*factor + 1 frames. "To N fps": round(n_in * N / in_fps) frames (the
    input's duration) at times i * in_fps / N. A method with arbitrary timesteps makes exactly those
    times. Otherwise the grid is the smallest factor that holds all of them when that costs at most
    twice the next whole factor above N / in_fps (24 -> 60: x5, exact), else that next factor
    (25 -> 60: x3), each output taken from the nearest grid frame."""
    if not target_fps:
        return Timing(n_in, Fraction(1, factor), (n_in - 1) * factor + 1, factor, True)
    ratio = as_fraction(target_fps) / as_fraction(in_fps)
    count = math.floor(n_in * ratio + Fraction(1, 2))
    above = max(2, math.ceil(ratio))
    if arbitrary_t:
        return Timing(n_in, 1 / ratio, count, None, True)
    if ratio.numerator <= min(max_factor, 2 * above):
        return Timing(n_in, 1 / ratio, count, max(2, ratio.numerator), True)
    return Timing(n_in, 1 / ratio, count, above, False)


class Picked(NamedTuple):
    frame: np.ndarray
    original: np.ndarray   # the input frame at or before the frame's time
    time: Fraction         # the output time, in input frames


def pick(made: Iterable[np.ndarray], timing: Timing) -> Iterator[Picked]:
    """The output frames of `timing` from the `interpolate_shots` stream: for each output time the
    nearest frame made (ties to the later one, i.e. round half up)."""
    i, prev = 0, None
    original: np.ndarray | None = None
    for t, frame in zip(timing.timeline(), made):
        if t.denominator == 1:
            original = frame
        while i < timing.count and t >= (want := timing.output_time(i)):
            use = prev if prev is not None and want - prev[0] < t - want else (t, frame, original)
            yield Picked(use[1], use[2], want)  # type: ignore[arg-type]
            i += 1
        if i >= timing.count:
            return
        prev = (t, frame, original)
