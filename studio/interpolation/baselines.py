"""Reference interpolators for the VFI benchmark (see /work/shared/bench/vfi_dev/BASELINES.md).

They use the protocol's clip interface: `f(frames, k) -> (len(frames)-1)*k + 1 frames`, kept
frames included unchanged. None of them is meant for users; they are the yardsticks.
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np

PairFn = Callable[[np.ndarray, np.ndarray, list[float]], list[np.ndarray]]


def clip_from_pairs(pair_fn: PairFn) -> Callable[[Sequence[np.ndarray], int], list[np.ndarray]]:
    """Turn a pair function f(a, b, ts) into a clip function f(frames, k)."""

    def clip(frames: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
        ts = [j / k for j in range(1, k)]
        out = [frames[0]]
        for a, b in zip(frames[:-1], frames[1:]):
            out += pair_fn(a, b, ts)
            out.append(b)
        return out

    return clip


def repeat_pair(a: np.ndarray, b: np.ndarray, ts: list[float]) -> list[np.ndarray]:
    """Nearest kept frame; the tie at t = 0.5 goes to the earlier frame."""
    return [a.copy() if t <= 0.5 else b.copy() for t in ts]


def crossfade_pair(a: np.ndarray, b: np.ndarray, ts: list[float]) -> list[np.ndarray]:
    """Linear cross-fade (1-t) a + t b, rounded."""
    return [cv2.addWeighted(a, 1.0 - t, b, t, 0.0) for t in ts]


class PlainDIS:
    """The floor from BASELINES.md: DIS (MEDIUM) both ways on grey frames, the linear flow
    projection F_t0 = -t(1-t)F01 + t^2 F10, F_t1 = (1-t)^2 F01 - t(1-t)F10, bilinear backward
    warps of both frames, blended with weights (1-t, t); no occlusion handling.
    (Border mode BORDER_REFLECT reproduces the published numbers exactly.)"""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, a: np.ndarray, b: np.ndarray, ts: list[float]) -> list[np.ndarray]:
        ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        f01 = self.dis.calc(ga, gb, None)
        f10 = self.dis.calc(gb, ga, None)
        h, w = ga.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        out = []
        for t in ts:
            ft0 = -t * (1 - t) * f01 + t * t * f10
            ft1 = (1 - t) ** 2 * f01 - t * (1 - t) * f10
            w0 = cv2.remap(a, gx + ft0[..., 0], gy + ft0[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            w1 = cv2.remap(b, gx + ft1[..., 0], gy + ft1[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            blend = (1 - t) * w0.astype(np.float32) + t * w1.astype(np.float32)
            out.append(np.clip(blend + 0.5, 0, 255).astype(np.uint8))
        return out


def frame_repeat(frames: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
    return clip_from_pairs(repeat_pair)(frames, k)


def linear_crossfade(frames: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
    return clip_from_pairs(crossfade_pair)(frames, k)


def plain_dis_warp(frames: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
    return clip_from_pairs(PlainDIS())(frames, k)
