"""Temporal clean-up of extracted poses: fill short gaps, then take the jitter out.

Both work as streams over PoseFrames (small arrays, never images), so a long video is cleaned
with a bounded buffer: the gap filler holds at most `max_gap` frames back, the smoother only its
last state. Only the first person of a frame is cleaned (extraction tracks one person).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from models.pose.keypoints import Person, PoseFrame

PARTS = ("body", "left_hand", "right_hand", "face")
GapAction = Literal["interpolated", "held", "dropped"]


@dataclass(frozen=True)
class GapEvent:
    """What happened to a run of frames in which one part of the person was not found."""
    part: str
    first: int      # frame indices, inclusive
    last: int
    action: GapAction

    @property
    def frames(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        where = f"frame {self.first}" if self.first == self.last else f"frames {self.first}-{self.last}"
        what = {"interpolated": "filled from both neighbours", "held": "copied from the nearest frame",
                "dropped": "left empty (gap too long)"}[self.action]
        return f"{self.part.replace('_', ' ')} missing in {where}: {what}"


def _present(points: np.ndarray | None) -> bool:
    return points is not None and bool((points[:, 2] > 0).any())


def _interpolate(before: np.ndarray, after: np.ndarray, t: float) -> np.ndarray:
    """Linear blend of two keypoint arrays; a point survives only where both ends saw it, and it
    keeps the lower of the two confidences (a filled point is never surer than its evidence)."""
    both = (before[:, 2] > 0) & (after[:, 2] > 0)
    out = np.zeros_like(before)
    out[both, :2] = (1 - t) * before[both, :2] + t * after[both, :2]
    out[both, 2] = np.minimum(before[both, 2], after[both, 2])
    return out


class _Slot:
    """One frame waiting in the gap filler: its size and the parts found (None = not found)."""

    def __init__(self, index: int, frame: PoseFrame) -> None:
        self.index, self.width, self.height = index, frame.width, frame.height
        person = frame.people[0] if frame.people else None
        self.parts: dict[str, np.ndarray | None] = {
            name: (getattr(person, name).copy() if person is not None and _present(getattr(person, name)) else None)
            for name in PARTS}

    def to_frame(self) -> PoseFrame:
        if all(points is None for points in self.parts.values()):
            return PoseFrame(self.width, self.height, [])
        person = Person()
        for name, points in self.parts.items():
            if points is not None:
                setattr(person, name, points)
        return PoseFrame(self.width, self.height, [person])


class GapFiller:
    """Streaming gap filling per part (body, each hand, face).

    A gap of at most `max_gap` frames between two sightings is linearly interpolated; at the
    start or end of the video (one neighbour only) it is held from the nearest sighting; a longer
    gap is left empty. Every decision is appended to `events`. Output lags input by `max_gap`
    frames; `flush()` releases the rest at the end.
    """

    def __init__(self, max_gap: int, parts: tuple[str, ...] = PARTS) -> None:
        if max_gap < 0:
            raise ValueError("max_gap must be >= 0")
        self.max_gap, self.parts = max_gap, parts   # parts not searched for are never reported
        self.events: list[GapEvent] = []
        self._pending: deque[_Slot] = deque()
        self._next_index = 0
        # Per part: the index and points of its latest sighting (None before the first one).
        self._last_seen: dict[str, tuple[int, np.ndarray] | None] = {name: None for name in parts}

    def push(self, frame: PoseFrame) -> list[PoseFrame]:
        slot = _Slot(self._next_index, frame)
        self._next_index += 1
        self._pending.append(slot)
        for name in self.parts:
            if slot.parts[name] is not None:
                self._close_gap(name, slot)
        ready = []
        # A frame max_gap behind the newest is decided: any sighting that could still fill it is in.
        while self._pending and self._pending[0].index <= slot.index - self.max_gap:
            ready.append(self._release())
        return ready

    def flush(self) -> list[PoseFrame]:
        """End of the video: decide the trailing gaps and release every waiting frame."""
        end = self._next_index - 1
        for name in self.parts:
            seen = self._last_seen[name]
            first = seen[0] + 1 if seen is not None else 0
            if first > end:
                continue
            if seen is not None and end - first + 1 <= self.max_gap:
                for slot in self._pending:
                    if slot.index >= first:
                        slot.parts[name] = seen[1].copy()
                self.events.append(GapEvent(name, first, end, "held"))
            else:
                self.events.append(GapEvent(name, first, end, "dropped"))
            self._last_seen[name] = (end, seen[1]) if seen is not None else None
        ready = [self._release() for _ in range(len(self._pending))]
        return ready

    def _close_gap(self, name: str, slot: _Slot) -> None:
        seen = self._last_seen[name]
        first = seen[0] + 1 if seen is not None else 0
        gap = slot.index - first
        if gap > 0:
            if gap > self.max_gap:
                self.events.append(GapEvent(name, first, slot.index - 1, "dropped"))
            else:
                for waiting in self._pending:
                    if first <= waiting.index < slot.index:
                        if seen is None:   # the video starts without this part: hold the first sighting
                            waiting.parts[name] = slot.parts[name].copy()
                        else:
                            t = (waiting.index - seen[0]) / (slot.index - seen[0])
                            waiting.parts[name] = _interpolate(seen[1], slot.parts[name], t)
                self.events.append(GapEvent(name, first, slot.index - 1, "held" if seen is None else "interpolated"))
        self._last_seen[name] = (slot.index, slot.parts[name])

    def _release(self) -> PoseFrame:
        return self._pending.popleft().to_frame()


class OneEuroSmoother:
    """One-Euro filter (Casiez et al., CHI 2012) on every keypoint of the first person.

    A low-pass whose cutoff rises with speed: still points lose their jitter, fast ones keep up
    without lag. Positions are measured in frame sizes (divided by max(width, height)) so the
    defaults work at any resolution; `min_cutoff` is in Hz, `beta` in Hz per (frame size/second).
    A point that goes missing restarts its filter when it comes back, so it never glides in from
    a stale place. Confidences pass through unchanged.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 10.0, d_cutoff: float = 1.0) -> None:
        if not fps > 0:
            raise ValueError("fps must be > 0")
        self.fps, self.min_cutoff, self.beta, self.d_cutoff = fps, min_cutoff, beta, d_cutoff
        self._state: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # value, speed, valid

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.fps)

    def __call__(self, frame: PoseFrame) -> PoseFrame:
        if not frame.people:
            self._state.clear()
            return frame
        scale = float(max(frame.width, frame.height, 1))
        person = frame.people[0].copy()
        for name in PARTS:
            points = getattr(person, name)
            setattr(person, name, self._smooth_part(name, points, scale))
        return PoseFrame(frame.width, frame.height, [person, *frame.people[1:]])

    def _smooth_part(self, name: str, points: np.ndarray, scale: float) -> np.ndarray:
        seen = points[:, 2] > 0
        xy = points[:, :2].astype(np.float64) / scale
        value, speed, valid = self._state.get(name, (xy.copy(), np.zeros_like(xy), np.zeros(len(xy), bool)))
        fresh = seen & ~valid            # (re)appearing points start from where they are
        value = np.where(fresh[:, None], xy, value)
        speed = np.where(fresh[:, None], 0.0, speed)
        raw_speed = (xy - value) * self.fps
        speed = speed + self._alpha(self.d_cutoff) * (raw_speed - speed)
        cutoff = self.min_cutoff + self.beta * np.linalg.norm(speed, axis=1)
        smoothed = value + self._alpha(cutoff)[:, None] * (xy - value)
        value = np.where(seen[:, None], smoothed, value)
        self._state[name] = (value, np.where(seen[:, None], speed, 0.0), seen)
        out = points.copy()
        out[seen, :2] = (value[seen] * scale).astype(points.dtype)
        return out
