"""Small helpers for dense 2-D vector fields (HxWx2 float32, x then y), shared by the VFI modules.

Everything here is a thin layer over OpenCV calls: OpenCV releases the GIL, so these run in
parallel on a thread pool, and they avoid numpy reductions over the tiny last axis (slow).
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

_GRIDS: dict[tuple[int, int], np.ndarray] = {}
_GRIDS_LOCK = threading.Lock()


def pixel_grid(h: int, w: int) -> np.ndarray:
    """Read-only HxWx2 float32 array of pixel coordinates (x, y); cached per size."""
    key = (h, w)
    grid = _GRIDS.get(key)
    if grid is None:
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        grid = np.dstack([gx, gy])
        grid.setflags(write=False)
        with _GRIDS_LOCK:
            if len(_GRIDS) > 16:  # many sizes in one process: keep memory bounded
                _GRIDS.clear()
            _GRIDS[key] = grid
    return grid


def resize_flow(flow: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resample a flow field to w x h and rescale its vectors to the new pixel units."""
    fh, fw = flow.shape[:2]
    if (fw, fh) == (w, h):
        return flow
    interp = cv2.INTER_AREA if w < fw else cv2.INTER_LINEAR
    out = cv2.resize(flow, (w, h), interpolation=interp)
    return np.ascontiguousarray(out * np.float32([w / fw, h / fh]))


def affine_flow(model: np.ndarray, h: int, w: int) -> np.ndarray:
    """Flow of the 2x3 affine map x -> A x + b on an h x w grid (one OpenCV pass)."""
    m = model.astype(np.float32) - np.float32([[1, 0, 0], [0, 1, 0]])
    return cv2.transform(pixel_grid(h, w), m)


def scale_affine(model: np.ndarray, s: float) -> np.ndarray:
    """The same motion in coordinates scaled by s (x' = s x): only the translation changes."""
    out = model.astype(np.float64).copy()
    out[:, 2] *= s
    return out


def sample(img: np.ndarray, coords: np.ndarray, interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """img sampled at absolute coordinates `coords` (HxWx2), edge pixels replicated outside."""
    return cv2.remap(img, coords, None, interp, borderMode=cv2.BORDER_REPLICATE)


def inside(coords: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bool mask: the coordinate lies inside an h x w image (where bilinear sampling is exact)."""
    return cv2.inRange(coords, (0.0, 0.0), (w - 1.0, h - 1.0)) > 0


def magnitude(field: np.ndarray) -> np.ndarray:
    """Per-pixel vector length of an HxWx2 field (strided slices: faster than split or sum(-1))."""
    return np.sqrt(field[..., 0] ** 2 + field[..., 1] ** 2)


