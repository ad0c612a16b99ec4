"""Bidirectional motion between two frames: dense flow both ways plus affine motion layers.

Pipeline for one pair (a, b), each step only as expensive as it needs to be:

1. Track: OpenCV DIS both ways (in parallel), initialised per pixel from cheap candidates (the
   previous pair's motion under constant velocity, zero). DIS keeps an initial vector only where it matches
   better, so a wrong candidate costs little.
2. Escalate (only when forward-backward consistency is poor, i.e. DIS lost the motion, checked
   again after step 3): global candidates that see any displacement (phase correlation; ORB
   matches + RANSAC similarity), DIS from each of them, and a soft per-pixel fusion by warping
   error (near-ties are blended, not switched).
3. Affine layers (off by default, `MotionParams.layers`): robust affine fits to the flow (dominant motion, then the biggest remaining
   one) compete per pixel with the dense flow; the fit wins unless the dense flow is clearly
   better. Camera motion is near-affine, so this removes most flow noise, fixes periodic-texture
   mismatches, and extrapolates motion for pixels that leave the frame (no photometric evidence).
4. With layers: occluded pixels (covered in the other frame) get the dominant motion instead
   of the occluder's motion their neighbourhood dragged onto them.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from studio.interpolation.fields import (
    affine_flow,
    inside,
    magnitude,
    pixel_grid,
    resize_flow,
    sample,
    scale_affine,
)

MIN_SIDE = 32  # smaller working images are padded (DIS needs a few pyramid levels)


@dataclass(frozen=True)
class MotionParams:
    # DIS: a FAST-like preset; accuracy comes from initialisation and fusion, not brute force.
    # (motion runs at a reduced working resolution already, see flow.work_scale)
    dis_finest_scale: int = 1
    dis_fine_below: int = 80   # working frames smaller than this (min side) get full-resolution DIS
    dis_patch: int = 8
    dis_stride: int = 4
    dis_iters: int = 16
    dis_var_iters: int = 2
    # per-pixel initialisation at 1/init_scale resolution
    init_scale: int = 2
    init_win: int = 5
    init_margin: float = 1.0
    # forward-backward consistency: |fwd + bwd(x + fwd)| <= abs + rel * |fwd|
    fb_abs: float = 1.5
    fb_rel: float = 0.05
    # global search, used when fewer than this fraction of in-frame pixels are consistent
    escalate_below: float = 0.9
    n_features: int = 400
    feature_models: int = 3
    feature_min_inliers: int = 8
    feature_min_share: float = 0.1
    incons_cost: float = 8.0    # added to the warping error of a vector its reverse flow disagrees with
    search_win: int = 15
    search_coarser: int = 1     # the candidates' DIS runs one pyramid level coarser (4x cheaper, same result)
    search_margin: float = 1.0
    # affine layers: off by default. They fit camera motion over still scenes (the synthetic set)
    # but on real footage (non-rigid motion, several movers) they cost ~0.5-1 dB (docs/vfi.md)
    layers: bool = False
    fit_step: int = 4
    fit_thr: float = 1.0
    fit_models: int = 2
    fit_min_frac: float = 0.03
    fit_min_points: int = 30
    param_win: int = 9
    param_margin: float = 3.0
    # warping error charged where a vector leaves the frame (no evidence either way)
    oob_cost: float = 4.0
    fill_occluded: bool = True
    # pixels leaving the frame under the dominant motion, whose own flow the reverse flow does
    # not confirm (no evidence: the other frame does not show them) take the dominant motion
    extrapolate_leaving: bool = True
    fill_err: float = 10.0       # grey levels: a pixel matching better than this is not occluded
    # candidate fusion is soft: weights exp(-(err - best) / fuse_temp) over the candidates' local
    # warping errors, so where candidates explain a pixel about equally well their vectors are
    # blended, not switched per pixel (switching tears thin and non-rigid objects); 0 = hard
    fuse_temp: float = 3.0


@dataclass
class PairMotion:
    """Motion between frames a and b (both directions) and how far each pixel can be trusted."""

    fwd: np.ndarray            # a -> b, on a's grid
    bwd: np.ndarray            # b -> a, on b's grid
    vis_a: np.ndarray | None = None  # bool: pixel of a is seen, consistently, in b (None: not computed)
    vis_b: np.ndarray | None = None  # bool: pixel of b is seen, consistently, in a
    models: list[np.ndarray] = field(default_factory=list)  # forward affine layers, dominant first
    escalated: bool = False


def visibility(m: PairMotion, p: MotionParams) -> tuple[np.ndarray, np.ndarray]:
    """(vis_a, vis_b): pixels seen, consistently, in the other frame; computed on first use
    (only the optional visibility-aware blending needs them)."""
    if m.vis_a is None or m.vis_b is None:
        ok_a, in_a = consistency(m.fwd, m.bwd, p)
        ok_b, in_b = consistency(m.bwd, m.fwd, p)
        m.vis_a, m.vis_b = ok_a & in_a, ok_b & in_b
    return m.vis_a, m.vis_b


class FrameData:
    """A grey frame at the working resolution plus what motion estimation derives from it
    (computed once, used by the two pairs the frame belongs to)."""

    def __init__(self, grey: np.ndarray, params: MotionParams, detail: np.ndarray | None = None) -> None:
        self.grey = grey
        self._detail = grey if detail is None else detail  # finer grey image for feature matching
        h, w = grey.shape
        s = params.init_scale
        self.small = cv2.resize(grey, (max(8, round(w / s)), max(8, round(h / s))),
                                interpolation=cv2.INTER_AREA).astype(np.float32)
        self._n_features = params.n_features
        self._features: tuple[np.ndarray, np.ndarray | None] | None = None
        self._lock = threading.Lock()

    def features(self) -> tuple[np.ndarray, np.ndarray | None]:
        """ORB keypoints (Nx2) and descriptors; lazy because only hard pairs need them."""
        with self._lock:
            if self._features is None:
                orb = cv2.ORB_create(self._n_features, nlevels=4, fastThreshold=7, edgeThreshold=15, patchSize=15)
                kps, desc = orb.detectAndCompute(self._detail, None)
                ratio = np.float32([self.grey.shape[1] / self._detail.shape[1], self.grey.shape[0] / self._detail.shape[0]])
                pts = (np.float32([k.pt for k in kps]).reshape(-1, 2) + 0.5) * ratio - 0.5
                self._features = (pts, desc)
            return self._features


# ---------------------------------------------------------------------------------------------
# building blocks

def consistency(fwd: np.ndarray, bwd: np.ndarray, p: MotionParams) -> tuple[np.ndarray, np.ndarray]:
    """(consistent, lands_inside) bool masks for the pixels of the frame `fwd` starts from."""
    h, w = fwd.shape[:2]
    target = pixel_grid(h, w) + fwd
    loop = fwd + sample(bwd, target)
    ok = magnitude(loop) <= p.fb_abs + p.fb_rel * magnitude(fwd)
    return ok, inside(target, h, w)


def consistent_fraction(ok: np.ndarray, inb: np.ndarray) -> float:
    n = int(np.count_nonzero(inb))
    return np.count_nonzero(ok & inb) / n if n else 0.0


def warp_error(a: np.ndarray, b: np.ndarray, flow: np.ndarray, win: int, oob_cost: float,
               penalty: np.ndarray | None = None) -> np.ndarray:
    """Box-filtered |a - b(x + flow)| (+ penalty); vectors that leave b cost `oob_cost`."""
    h, w = a.shape
    coords = pixel_grid(h, w) + flow
    err = cv2.absdiff(sample(b, coords), a).astype(np.float32)
    err[~inside(coords, h, w)] = oob_cost
    if penalty is not None:
        err += penalty
    return cv2.blur(err, (win, win))


def fuse(a: FrameData, b: FrameData, flows: list[np.ndarray], win: int, margin: float,
         p: MotionParams, penalties: list[np.ndarray] | None = None) -> np.ndarray:
    """Per pixel, the flows among `flows` weighted by their local warping error from a to b
    (`soft_fuse`); with p.fuse_temp = 0 the single best one, where earlier flows win unless a
    later one is better by `margin` grey levels. `penalties` (per flow, per pixel) are added to
    the errors before smoothing.
    """
    if len(flows) == 1:
        return flows[0]
    errs = [warp_error(a.grey, b.grey, f, win, p.oob_cost, None if penalties is None else penalties[i])
            for i, f in enumerate(flows)]
    if p.fuse_temp > 0:
        return soft_fuse(flows, errs, p.fuse_temp)
    best_err = label = None
    for i, err in enumerate(errs):
        if best_err is None:
            best_err, label = err, np.zeros(err.shape, np.uint8)
        else:
            better = err < best_err - margin
            best_err = np.where(better, err, best_err)
            label[better] = i
    out = flows[0].copy()
    for i in range(1, len(flows)):
        sel = label == i
        out[sel] = flows[i][sel]
    return out


def soft_fuse(flows: list[np.ndarray], errs: list[np.ndarray], temp: float) -> np.ndarray:
    """Average of the flows weighted by exp(-(err - lowest err) / temp): a clear winner takes the
    pixel, near-ties are blended, and the result changes smoothly where the winner changes."""
    low = np.minimum.reduce(errs)
    weights = [np.exp((low - e) / np.float32(temp)) for e in errs]  # the best one has weight 1
    total = sum(weights)
    out = np.zeros_like(flows[0])
    for f, wt in zip(flows, weights):
        out += f * (wt / total)[..., None]
    return out


def choose_init(a: np.ndarray, b: np.ndarray, cands: list[np.ndarray], p: MotionParams) -> np.ndarray:
    """Per-pixel initial flow at low resolution from candidate fields (same rule as `fuse`)."""
    sh, sw = a.shape
    grid = pixel_grid(sh, sw)
    best_err = best = None
    for c in cands:
        coords = grid + c
        err = cv2.absdiff(sample(b, coords), a)
        err[~inside(coords, sh, sw)] = 20.0
        err = cv2.blur(err, (p.init_win, p.init_win))
        if best is None:
            best_err, best = err, c.copy()
        else:
            better = err < best_err - p.init_margin
            best_err = np.where(better, err, best_err)
            best[better] = c[better]
    # a median removes isolated wrong picks (DIS would otherwise propagate them)
    return cv2.merge([cv2.medianBlur(best[..., 0].copy(), 5), cv2.medianBlur(best[..., 1].copy(), 5)])


def fill_occluded(a: FrameData, b: FrameData, fwd: np.ndarray, bwd: np.ndarray, dominant: np.ndarray,
                  p: MotionParams) -> tuple[np.ndarray, np.ndarray]:
    """Pixels covered in the other frame have no match, so their flow is whatever the
    neighbourhood suggested, usually the occluder's motion. Such a pixel (inconsistent, badly
    matched) gets the dominant (camera) motion instead when that motion takes it onto a pixel
    that moves differently, i.e. onto the occluder. Pixels that match well keep their flow."""
    h, w = fwd.shape[:2]
    grid = pixel_grid(h, w)
    out = []
    for src, dst, flow, back, model in ((a, b, fwd, bwd, dominant), (b, a, bwd, fwd, inverse_affine(dominant))):
        ok, inb = consistency(flow, back, p)
        suspect = ~(ok & inb)
        if not suspect.any():
            out.append(flow)
            continue
        suspect &= warp_error(src.grey, dst.grey, flow, 3, 255.0) > p.fill_err
        cam = affine_flow(model, h, w)
        target = grid + cam
        claimed = magnitude(cam + sample(back, target)) > p.fb_abs + p.fb_rel * magnitude(cam)
        take = suspect & claimed & inside(target, h, w)
        flow = flow.copy()
        flow[take] = cam[take]
        out.append(flow)
    return out[0], out[1]


def extrapolate_leaving(fwd: np.ndarray, bwd: np.ndarray, valid: np.ndarray,
                       p: MotionParams) -> tuple[np.ndarray, np.ndarray]:
    """Pixels that the dominant motion (an affine fit to the consistent flow) takes out of the
    other frame have no match there, so their dense flow is a guess dragged from neighbours; if
    the reverse flow does not confirm it, they follow the dominant motion instead (a pan keeps
    moving the content that leaves the frame)."""
    models = fit_affines(fwd, valid, replace(p, fit_models=1))
    if not models:
        return fwd, bwd
    h, w = fwd.shape[:2]
    corners = cv2.transform(np.float32([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]]), models[0])[0]
    if not (corners.min() < -0.5 or (corners[:, 0] > w - 0.5).any() or (corners[:, 1] > h - 0.5).any()):
        return fwd, bwd  # nothing leaves the frame (e.g. a still camera): skip the per-pixel work
    out = []
    for flow, back, model in ((fwd, bwd, models[0]), (bwd, fwd, inverse_affine(models[0]))):
        cam = affine_flow(model, h, w)
        ok, _ = consistency(flow, back, p)
        take = ~ok & ~inside(pixel_grid(h, w) + cam, h, w)
        if take.any():
            flow = flow.copy()
            flow[take] = cam[take]
        out.append(flow)
    return out[0], out[1]


def fit_affines(flow: np.ndarray, valid: np.ndarray, p: MotionParams) -> list[np.ndarray]:
    """Robust affine fits (RANSAC + refinement) to the flow: dominant motion first, then the
    largest motion among the remaining outliers (e.g. a foreground object)."""
    h, w = flow.shape[:2]
    st = p.fit_step
    grid = pixel_grid(h, w)[::st, ::st].reshape(-1, 2)
    vec = flow[::st, ::st].reshape(-1, 2)
    keep = valid[::st, ::st].ravel()
    src, dst = grid[keep], grid[keep] + vec[keep]
    min_inliers = max(p.fit_min_points, int(p.fit_min_frac * len(grid)))
    models: list[np.ndarray] = []
    while len(src) >= min_inliers and len(models) < p.fit_models:
        model, inl = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=p.fit_thr,
                                          maxIters=200, confidence=0.99, refineIters=10)
        if model is None:
            break
        inl = inl.ravel().astype(bool)
        if inl.sum() < min_inliers:
            break
        models.append(model)
        src, dst = src[~inl], dst[~inl]
    return models


def feature_models(a: FrameData, b: FrameData, p: MotionParams) -> list[np.ndarray]:
    """Similarity motions (pan, roll, zoom) from ORB matches by sequential RANSAC: they find any
    displacement size. A later model needs real support, else outlier matches make up motions."""
    pa, da = a.features()
    pb, db = b.features()
    if da is None or db is None or len(pa) < 6 or len(pb) < 6:
        return []
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    src = np.float32([pa[m.queryIdx] for m in matches]).reshape(-1, 2)
    dst = np.float32([pb[m.trainIdx] for m in matches]).reshape(-1, 2)
    min_support = max(p.feature_min_inliers, int(p.feature_min_share * len(src)))
    models: list[np.ndarray] = []
    while len(src) >= min_support and len(models) < p.feature_models:
        model, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0,
                                                 maxIters=500)
        if model is None or inl.sum() < min_support or not plausible(model):
            break
        models.append(model)
        keep = inl.ravel() == 0
        src, dst = src[keep], dst[keep]
    return models


def plausible(model: np.ndarray) -> bool:
    """Scale change within 4x between two frames of a video."""
    scale = np.sqrt(abs(np.linalg.det(model[:, :2])))
    return 0.25 <= scale <= 4.0


def phase_shift(a: FrameData, b: FrameData) -> tuple[float, float]:
    """Dominant translation a -> b (phase correlation at low resolution, any displacement)."""
    win = cv2.createHanningWindow(a.small.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a.small, b.small, win)
    s = a.grey.shape[1] / a.small.shape[1]
    return dx * s, dy * s


def inverse_affine(model: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(model)


# ---------------------------------------------------------------------------------------------

class MotionEstimator:
    """Estimates `PairMotion` for consecutive pairs; safe to call from several threads."""

    def __init__(self, params: MotionParams | None = None) -> None:
        self.p = params or MotionParams()
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _helper(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="vfi-dis")
            return self._pool

    def close(self) -> None:
        """Stop the helper thread (the estimator can still be used: it restarts on demand)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def frame(self, grey: np.ndarray, detail: np.ndarray | None = None) -> FrameData:
        return FrameData(grey, self.p, detail)

    def _dis(self) -> cv2.DISOpticalFlow:
        dis = getattr(self._local, "dis", None)
        if dis is None:  # one instance per thread: DIS keeps buffers between calls
            p = self.p
            dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
            dis.setFinestScale(p.dis_finest_scale)
            dis.setPatchSize(p.dis_patch)
            dis.setPatchStride(p.dis_stride)
            dis.setGradientDescentIterations(p.dis_iters)
            dis.setVariationalRefinementIterations(p.dis_var_iters)
            self._local.dis = dis
        return dis

    def _flow(self, a: FrameData, b: FrameData, init: np.ndarray | None, coarser: int = 0) -> np.ndarray:
        h, w = a.grey.shape
        guess = None if init is None else np.ascontiguousarray(resize_flow(init, w, h))
        dis = self._dis()
        # small frames: flow at every pixel, or small objects vanish in the coarse flow
        dis.setFinestScale(coarser + (self.p.dis_finest_scale if min(h, w) >= self.p.dis_fine_below else 0))
        return dis.calc(a.grey, b.grey, guess)

    def estimate(self, a: FrameData, b: FrameData, prev: PairMotion | None = None) -> PairMotion:
        p = self.p
        fwd, bwd = self._track(a, b, prev)
        ok, inb = consistency(fwd, bwd, p)
        escalate = consistent_fraction(ok, inb) < p.escalate_below
        if not escalate and not p.layers:  # nothing to refine (visibility: see `visibility`)
            if p.extrapolate_leaving:
                fwd, bwd = extrapolate_leaving(fwd, bwd, ok & inb, p)
            return PairMotion(fwd, bwd)
        motion = self._refine(a, b, fwd, bwd, ok & inb, escalate)
        if not escalate and consistent_fraction(*consistency(motion.fwd, motion.bwd, p)) < p.escalate_below:
            # DIS can settle on a wrong motion that is consistent both ways (repetitive texture);
            # the layers then fit it badly, which the check after them reveals
            motion = self._refine(a, b, fwd, bwd, ok & inb, True)
        return motion

    def _refine(self, a: FrameData, b: FrameData, fwd: np.ndarray, bwd: np.ndarray, valid: np.ndarray,
                escalate: bool) -> PairMotion:
        """Global search (if asked), affine layers and occlusion fill on top of the tracked flow."""
        p = self.p
        found: list[np.ndarray] = []
        if escalate:
            fwd, bwd, found = self._search(a, b, fwd, bwd)
            ok, inb = consistency(fwd, bwd, p)
            valid = ok & inb
        models: list[np.ndarray] = []
        if p.layers:
            fwd, bwd, models = self._layers(a, b, fwd, bwd, valid, found, refit=escalate)
        if models and p.fill_occluded:
            fwd, bwd = fill_occluded(a, b, fwd, bwd, models[0], p)
        elif p.extrapolate_leaving:
            fwd, bwd = extrapolate_leaving(fwd, bwd, valid, p)
        return PairMotion(fwd, bwd, None, None, models, escalate)

    def _track(self, a: FrameData, b: FrameData, prev: PairMotion | None) -> tuple[np.ndarray, np.ndarray]:
        """DIS both ways from per-pixel candidate initialisations (constant velocity, zero)."""
        sh, sw = a.small.shape
        zero = np.zeros((sh, sw, 2), np.float32)
        fc: list[np.ndarray] = []
        bc: list[np.ndarray] = []
        if prev is not None:
            s = sw / a.grey.shape[1]
            back = resize_flow(prev.bwd, sw, sh)  # previous frame's motion, reversed = constant velocity
            fc.append(-back)
            bc.append(back)
            for model in prev.models:  # each layer keeps its velocity
                m = scale_affine(model, s)
                fc.append(affine_flow(m, sh, sw))
                bc.append(affine_flow(inverse_affine(m), sh, sw))
        fc.append(zero)
        bc.append(zero)
        init_f = choose_init(a.small, b.small, fc, self.p)
        init_b = choose_init(b.small, a.small, bc, self.p)
        # the two directions are independent: the backward one runs on a helper thread (DIS
        # releases the GIL), which halves the motion latency that bounds speed at small factors
        backward = self._helper().submit(self._flow, b, a, init_b)
        fwd = self._flow(a, b, init_f)
        return fwd, backward.result()

    def _search(self, a: FrameData, b: FrameData, fwd: np.ndarray,
                bwd: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Global candidates (any displacement), each refined by DIS, fused per pixel."""
        p = self.p
        h, w = fwd.shape[:2]
        dx, dy = phase_shift(a, b)
        shift = np.float64([[1, 0, dx], [0, 1, dy]])
        found = feature_models(a, b, p)
        fwds, bwds = [fwd], [bwd]
        c = p.search_coarser
        for m in [shift] + found:  # the two directions of a candidate run in parallel
            back = self._helper().submit(self._flow, b, a, affine_flow(inverse_affine(m), h, w), c)
            fwds.append(self._flow(a, b, affine_flow(m, h, w), c))
            bwds.append(back.result())
        # a wrong initialisation can match in flat areas; its two directions rarely agree
        pen_f = [np.where(consistency(f, r, p)[0], 0, p.incons_cost).astype(np.float32) for f, r in zip(fwds, bwds)]
        pen_b = [np.where(consistency(r, f, p)[0], 0, p.incons_cost).astype(np.float32) for f, r in zip(fwds, bwds)]
        fwd = fuse(a, b, fwds, p.search_win, p.search_margin, p, pen_f)
        bwd = fuse(b, a, bwds, p.search_win, p.search_margin, p, pen_b)
        return fwd, bwd, found

    def _layers(self, a: FrameData, b: FrameData, fwd: np.ndarray, bwd: np.ndarray, valid: np.ndarray,
                found: list[np.ndarray], refit: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Affine layers fitted to the flow replace the dense flow wherever they explain the pixels
        about as well. After a global search the flow was poor, so the layers are refitted once
        to the fused result."""
        p = self.p
        h, w = fwd.shape[:2]
        models = fit_affines(fwd, valid, p) + found
        for again in (False, True) if refit else (False,):
            if again:
                ok, inb = consistency(fwd, bwd, p)
                models = fit_affines(fwd, ok & inb, p) or models
            if not models:
                break
            fwd = fuse(a, b, [affine_flow(m, h, w) for m in models] + [fwd], p.param_win, p.param_margin, p)
            bwd = fuse(b, a, [affine_flow(inverse_affine(m), h, w) for m in models] + [bwd],
                       p.param_win, p.param_margin, p)
        return fwd, bwd, models
