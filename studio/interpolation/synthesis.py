"""Frames at intermediate times from two frames and their motion.

For a pixel x at time t we look for the point p of frame a that arrives at x, i.e. solve
p + D_a(p, t) = x by fixed-point iteration (backward warping with exact flow projection, not
the "flow at x" approximation, which breaks under rotation and zoom). D_a is the displacement
along the motion trajectory: quadratic (constant acceleration) when the neighbouring pairs are
known, else linear. The same is done from frame b, and the two samples are blended with
weights (1-t, t); a sample that falls outside its frame repeats the edge pixels and, further
than `edge_px` out, fades out in favour of the other frame (a pan's entering content). Optional,
off by default: weights that also follow visibility (`SynthParams.occlusion`); they fit the
synthetic set but lose ~0.5 dB on real footage, where hard visibility switches tear.

Geometry (trajectories, projection, weights) is solved at the working resolution of the motion
fields; only the colour sampling runs at full resolution, in row strips so that a 4K frame
never needs full-size float buffers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from studio.interpolation.fields import inside, magnitude, pixel_grid, sample
from studio.interpolation.motion import MotionParams, PairMotion, visibility

_EPS = np.float32(1e-3)


@dataclass(frozen=True)
class SynthParams:
    quadratic: bool = True      # constant-acceleration trajectories from the neighbouring pairs
    proj_iters: int = 2         # fixed-point iterations after the closed-form start
    converge_px: float = 0.5    # (working px) a larger last step means "no consistent source here"
    # visibility-aware weights; off by default: on real footage plain (1-t, t) weights are
    # better (averaging both warps hides flow errors; hard visibility switches tear, docs/vfi.md)
    occlusion: bool = False
    # a sample up to edge_px outside its frame (edge pixels repeated) keeps its full weight, and
    # fades to none at 2*edge_px: just outside, the repeated edge is a fair guess (and averaging
    # both frames hides flow errors); further out, only the frame that sees the point counts
    edge_px: float = 8.0
    cubic: bool = True          # bicubic colour sampling: the frames are sharp, bilinear blurs them
    strip_rows: int = 256       # full-resolution rows composed at a time
    float_max_pixels: int = 2_000_000  # up to this size colour is sampled in float32 (faster bicubic)


@dataclass(frozen=True)
class Resolution:
    """Full frame size and the working size of the motion fields (same image, pixel centres aligned)."""

    h: int
    w: int
    work_h: int
    work_w: int
    _maps: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def same(self) -> bool:
        return (self.h, self.w) == (self.work_h, self.work_w)

    @property
    def ratio(self) -> np.ndarray:
        """Full-resolution pixels per working pixel along x and y."""
        return np.float32([self.w / self.work_w, self.h / self.work_h])

    def upsample(self, fld: np.ndarray, y0: int, y1: int) -> np.ndarray:
        """Rows y0..y1 of the working field bilinearly resampled to full resolution (no unit change)."""
        if self.same:
            return fld[y0:y1]
        if y0 == 0 and y1 == self.h:
            return cv2.resize(fld, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        key = (y0, y1)
        if key not in self._maps:  # same pixel-centre convention as cv2.resize
            xs = (np.arange(self.w, dtype=np.float32) + 0.5) * (self.work_w / self.w) - 0.5
            ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) * (self.work_h / self.h) - 0.5
            self._maps[key] = np.dstack(np.meshgrid(xs, ys)).astype(np.float32)
        return cv2.remap(fld, self._maps[key], None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class Trajectory:
    """Displacement of the pixels of one frame at normalised time s: s*vel + s^2*acc."""

    vel: np.ndarray
    acc: np.ndarray | None

    def at(self, s: float) -> np.ndarray:
        if self.acc is None:
            return self.vel * np.float32(s)
        return cv2.addWeighted(self.vel, s, self.acc, s * s, 0.0)


def trajectories(fwd: np.ndarray, bwd: np.ndarray, before: np.ndarray | None, after: np.ndarray | None,
                 quadratic: bool) -> tuple[Trajectory, Trajectory]:
    """Trajectories of frame a's pixels (s = t) and frame b's pixels (s = t - 1).

    `before`: flow from a to the frame before it; `after`: from b to the frame after it. With
    them, position(s) is the parabola through the three observed positions at s = -1, 0, 1;
    at the clip ends motion falls back to linear.
    """
    if quadratic and before is not None:
        traj_a = Trajectory(cv2.addWeighted(fwd, 0.5, before, -0.5, 0.0), cv2.addWeighted(fwd, 0.5, before, 0.5, 0.0))
    else:
        traj_a = Trajectory(fwd, None)
    if quadratic and after is not None:
        traj_b = Trajectory(cv2.addWeighted(after, 0.5, bwd, -0.5, 0.0), cv2.addWeighted(after, 0.5, bwd, 0.5, 0.0))
    else:
        traj_b = Trajectory(-bwd, None)
    return traj_a, traj_b


def project(disp: np.ndarray, start: np.ndarray, iters: int, converge_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve p + disp(p) = x for every pixel x, starting from p = x + start.

    Returns the source coordinates p (HxWx2) and a bool mask of pixels where the iteration
    settled (it does not where no point of the frame arrives, e.g. in occlusions).
    """
    h, w = disp.shape[:2]
    grid = pixel_grid(h, w)
    pos = grid + start
    step = np.zeros_like(pos)
    for _ in range(max(1, iters)):
        new = grid - sample(disp, pos)
        step = new - pos
        pos = new
    return pos, magnitude(step) < converge_px


def synthesize(a: np.ndarray, b: np.ndarray, cur: PairMotion, prev: PairMotion | None,
               nxt: PairMotion | None, ts: list[float], res: Resolution,
               params: SynthParams | None = None) -> list[np.ndarray]:
    """Frames at times `ts` (0 < t < 1) between full-resolution RGB frames a and b.

    The motion fields are on the working grid (possibly padded: only the top-left
    res.work_h x res.work_w part is used)."""
    p = params or SynthParams()
    hh, ww = res.work_h, res.work_w
    crop = (slice(0, hh), slice(0, ww))
    fwd, bwd = np.ascontiguousarray(cur.fwd[crop]), np.ascontiguousarray(cur.bwd[crop])
    before = np.ascontiguousarray(prev.bwd[crop]) if prev is not None else None
    after = np.ascontiguousarray(nxt.fwd[crop]) if nxt is not None else None
    traj_a, traj_b = trajectories(fwd, bwd, before, after, p.quadratic)
    hidden_a = hidden_b = None
    if p.occlusion:
        vis_a, vis_b = visibility(cur, MotionParams())
        hidden_a = np.ascontiguousarray(~vis_a[crop]).view(np.uint8)  # a's pixel that b does not see
        hidden_b = np.ascontiguousarray(~vis_b[crop]).view(np.uint8)
    if res.h * res.w <= p.float_max_pixels:  # OpenCV's bicubic remap is faster on float32
        a, b = a.astype(np.float32), b.astype(np.float32)
    out = []
    for t in ts:
        geo = _geometry(t, fwd, bwd, traj_a, traj_b, hidden_a, hidden_b, p)
        out.append(_compose(a, b, geo, res, p))
    return out


def _geometry(t: float, fwd: np.ndarray, bwd: np.ndarray, traj_a: Trajectory, traj_b: Trajectory,
              hidden_a: np.ndarray | None, hidden_b: np.ndarray | None, p: SynthParams) -> tuple[np.ndarray, ...]:
    """Source offsets into a and b, and blend weights, on the working grid."""
    h, w = fwd.shape[:2]
    grid = pixel_grid(h, w)
    # the closed-form linear projection (as in Super SloMo) is a good start for the fixed point
    start_a = cv2.addWeighted(fwd, -t * (1 - t), bwd, t * t, 0.0)
    start_b = cv2.addWeighted(fwd, (1 - t) ** 2, bwd, -t * (1 - t), 0.0)
    pos_a, ok_a = project(traj_a.at(t), start_a, p.proj_iters, p.converge_px)
    pos_b, ok_b = project(traj_b.at(t - 1.0), start_b, p.proj_iters, p.converge_px)
    if p.edge_px > 0 and (not p.occlusion or hidden_a is None or hidden_b is None):
        w_a = (1 - t) * (_in_frame(pos_a, h, w, p.edge_px) + _EPS)
        w_b = t * (_in_frame(pos_b, h, w, p.edge_px) + _EPS)
    elif not p.occlusion or hidden_a is None or hidden_b is None:
        w_a = np.full((h, w), 1 - t, np.float32)
        w_b = np.full((h, w), t, np.float32)
    else:
        has_a = (inside(pos_a, h, w) & ok_a).astype(np.float32)
        has_b = (inside(pos_b, h, w) & ok_b).astype(np.float32)
        gone_a = sample(hidden_a, pos_a, cv2.INTER_NEAREST).astype(np.float32)
        gone_b = sample(hidden_b, pos_b, cv2.INTER_NEAREST).astype(np.float32)
        # a frame without a sample (outside it, or no point of it arrives here) gets no weight;
        # where both frames offer one but one is of a surface the other frame does not see (it is
        # being covered or uncovered), the surface seen in both frames is the one in front
        w_a = (1 - t) * (has_a * (1 - gone_a * has_b * (1 - gone_b)) + _EPS)
        w_b = t * (has_b * (1 - gone_b * has_a * (1 - gone_a)) + _EPS)
    return pos_a - grid, pos_b - grid, w_a.astype(np.float32), w_b.astype(np.float32)


def _in_frame(pos: np.ndarray, h: int, w: int, edge_px: float) -> np.ndarray:
    """Weight of samples at `pos`: 1 inside the frame and up to edge_px outside it, falling
    linearly to 0 at 2*edge_px outside."""
    dx = np.maximum(np.maximum(-pos[..., 0], pos[..., 0] - (w - 1)), 0)
    dy = np.maximum(np.maximum(-pos[..., 1], pos[..., 1] - (h - 1)), 0)
    return np.clip(2 - np.maximum(dx, dy) / np.float32(edge_px), 0, 1).astype(np.float32)


def _compose(a: np.ndarray, b: np.ndarray, geo: tuple[np.ndarray, ...], res: Resolution,
             p: SynthParams) -> np.ndarray:
    """Sample and blend the colours at full resolution, strip by strip."""
    off_a, off_b, w_a, w_b = geo
    ratio = res.ratio
    if not res.same:  # offsets in full-resolution pixels (cheaper before upsampling)
        off_a, off_b = off_a * ratio, off_b * ratio
    # relative maps: OpenCV adds the pixel position itself (no full-size coordinate grid needed)
    interp = (cv2.INTER_CUBIC if p.cubic else cv2.INTER_LINEAR) | cv2.WARP_RELATIVE_MAP
    out = np.empty((res.h, res.w, 3), np.uint8)
    for y0 in range(0, res.h, max(1, p.strip_rows)):
        y1 = min(res.h, y0 + p.strip_rows)
        col_a = _sample_rows(a, res.upsample(off_a, y0, y1), y0, interp)
        col_b = _sample_rows(b, res.upsample(off_b, y0, y1), y0, interp)
        blend = cv2.blendLinear(col_a, col_b, res.upsample(w_a, y0, y1), res.upsample(w_b, y0, y1))
        out[y0:y1] = blend if blend.dtype == np.uint8 else cv2.add(blend, 0.0, dtype=cv2.CV_8U)
    return out


def _sample_rows(img: np.ndarray, offsets: np.ndarray, y0: int, interp: int) -> np.ndarray:
    """img sampled at (x, y0 + row) + offsets for the rows of `offsets` (relative map)."""
    if y0:
        offsets = offsets + np.float32([0, y0])  # relative maps count rows from the strip top
    return cv2.remap(img, offsets, None, interp, borderMode=cv2.BORDER_REPLICATE)
