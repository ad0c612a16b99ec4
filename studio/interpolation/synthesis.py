"""Frames at intermediate times from two frames and their motion.

For a pixel x at time t we look for the point p of frame a that arrives at x, i.e. solve
p + D_a(p, t) = x by fixed-point iteration (backward warping with exact flow projection, not
the "flow at x" approximation, which breaks under rotation and zoom). D_a is the displacement
along the motion trajectory: quadratic (constant acceleration) when the neighbouring pairs are
known, else linear. The same is done from frame b, and the two samples are blended with
weights that follow time, visibility (forward-backward consistency) and whether the sample
exists at all (points entering or leaving the frame are taken from the frame that sees them).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from studio.interpolation.fields import downsample2, inside, magnitude, pixel_grid, sample
from studio.interpolation.motion import PairMotion

_EPS = np.float32(1e-3)


@dataclass(frozen=True)
class SynthParams:
    quadratic: bool = True   # constant-acceleration trajectories from the neighbouring pairs
    proj_iters: int = 2      # fixed-point iterations after the closed-form start
    proj_scale: int = 1      # 2: solve the projection at half resolution (faster, softer edges)
    converge_px: float = 1.0  # larger last steps mean "no consistent source here"
    cubic: bool = True       # bicubic colour sampling: the frames are sharp, bilinear blurs them


@dataclass
class Trajectory:
    """Displacement of the pixels of one frame at normalised time s: s*vel + s^2*acc."""

    vel: np.ndarray
    acc: np.ndarray | None

    def at(self, s: float) -> np.ndarray:
        if self.acc is None:
            return self.vel * np.float32(s)
        return cv2.addWeighted(self.vel, s, self.acc, s * s, 0.0)


def trajectories(cur: PairMotion, prev: PairMotion | None, nxt: PairMotion | None,
                 quadratic: bool) -> tuple[Trajectory, Trajectory]:
    """Trajectories of frame a's pixels (s = t) and frame b's pixels (s = t - 1).

    With the flows to the previous / next frame, position(s) is the parabola through the three
    observed positions at s = -1, 0, 1; at the clip ends motion falls back to linear.
    """
    if quadratic and prev is not None:
        back = prev.bwd  # frame a -> the frame before it
        traj_a = Trajectory(cv2.addWeighted(cur.fwd, 0.5, back, -0.5, 0.0), cv2.addWeighted(cur.fwd, 0.5, back, 0.5, 0.0))
    else:
        traj_a = Trajectory(cur.fwd, None)
    if quadratic and nxt is not None:
        ahead = nxt.fwd  # frame b -> the frame after it
        traj_b = Trajectory(cv2.addWeighted(ahead, 0.5, cur.bwd, -0.5, 0.0), cv2.addWeighted(ahead, 0.5, cur.bwd, 0.5, 0.0))
    else:
        traj_b = Trajectory(-cur.bwd, None)
    return traj_a, traj_b


def project(disp: np.ndarray, start: np.ndarray, iters: int, scale: int,
            converge_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve p + disp(p) = x for every pixel x, starting from p = x + start.

    Returns the source coordinates p (HxWx2) and a bool mask of pixels where the iteration
    settled (it does not where no point of the frame arrives, e.g. in occlusions).
    """
    h, w = disp.shape[:2]
    if scale == 2:
        disp, start = downsample2(disp), downsample2(start)
    sh, sw = disp.shape[:2]
    grid = pixel_grid(sh, sw)
    pos = grid + start
    step = None
    for _ in range(max(1, iters)):
        new = grid - sample(disp, pos)
        step = new - pos
        pos = new
    settled = magnitude(step) < converge_px / scale
    if scale == 2:
        offset = cv2.resize(pos - grid, (sw * 2, sh * 2), interpolation=cv2.INTER_LINEAR)[:h, :w] * np.float32(2)
        pos = pixel_grid(h, w) + offset
        settled = cv2.resize(settled.view(np.uint8), (sw * 2, sh * 2), interpolation=cv2.INTER_NEAREST)[:h, :w] > 0
    return pos, settled


def synthesize(a: np.ndarray, b: np.ndarray, cur: PairMotion, prev: PairMotion | None,
               nxt: PairMotion | None, ts: list[float], params: SynthParams | None = None) -> list[np.ndarray]:
    """Frames at times `ts` (0 < t < 1) between RGB frames a and b."""
    p = params or SynthParams()
    traj_a, traj_b = trajectories(cur, prev, nxt, p.quadratic)
    hidden_a = (~cur.vis_a).view(np.uint8)  # pixel of a that b does not see (covered / leaving)
    hidden_b = (~cur.vis_b).view(np.uint8)
    return [_frame_at(t, a, b, cur, traj_a, traj_b, hidden_a, hidden_b, p) for t in ts]


def _frame_at(t: float, a: np.ndarray, b: np.ndarray, cur: PairMotion, traj_a: Trajectory, traj_b: Trajectory,
              hidden_a: np.ndarray, hidden_b: np.ndarray, p: SynthParams) -> np.ndarray:
    h, w = a.shape[:2]
    # closed-form linear projection (as in Super SloMo) is a good start for the fixed point
    start_a = cv2.addWeighted(cur.fwd, -t * (1 - t), cur.bwd, t * t, 0.0)
    start_b = cv2.addWeighted(cur.fwd, (1 - t) ** 2, cur.bwd, -t * (1 - t), 0.0)
    pos_a, ok_a = project(traj_a.at(t), start_a, p.proj_iters, p.proj_scale, p.converge_px)
    pos_b, ok_b = project(traj_b.at(t - 1.0), start_b, p.proj_iters, p.proj_scale, p.converge_px)
    interp = cv2.INTER_CUBIC if p.cubic else cv2.INTER_LINEAR
    col_a = sample(a, pos_a, interp)
    col_b = sample(b, pos_b, interp)
    has_a = (inside(pos_a, h, w) & ok_a).astype(np.float32)
    has_b = (inside(pos_b, h, w) & ok_b).astype(np.float32)
    gone_a = sample(hidden_a, pos_a, cv2.INTER_NEAREST).astype(np.float32)
    gone_b = sample(hidden_b, pos_b, cv2.INTER_NEAREST).astype(np.float32)
    # a sample is trusted unless the other frame's sample is one that only that frame sees
    w_a = (1 - t) * (has_a * (1 - gone_b * has_b) + _EPS)
    w_b = t * (has_b * (1 - gone_a * has_a) + _EPS)
    return cv2.blendLinear(col_a, col_b, w_a.astype(np.float32), w_b.astype(np.float32))
