"""The instant Frame In/Out preview, without weights: each object's cut-out slides along its
resampled trajectory over the expanded canvas, frame for frame as the model's output is timed
(same frame count; the caller writes it at the same fps), so the user can check paths, speed and
entry/exit before spending minutes on the model."""
from __future__ import annotations

from collections.abc import Iterator, Mapping

import cv2
import numpy as np

from models.frameino.geometry import (
    MODEL_FRAMES,
    Trajectories,
    dot_half_side,
    editing_view,
    object_colour,
    object_tracks,
)

SPRITE_HEIGHT = 0.4     # we draw a cut-out at 40% of the original image's height (the model picks its own size)
TRAIL_OPACITY = 0.35


def _region_height(region: np.ndarray) -> int:
    rows = np.flatnonzero(region.any(axis=1))
    return int(rows[-1] - rows[0] + 1) if len(rows) else region.shape[0]


def _sprite(cutout: np.ndarray, height: int, max_width: int) -> np.ndarray:
    """The RGBA cut-out resized to `height` (keeping its aspect), no wider than `max_width`."""
    cutout = np.asarray(cutout)
    if cutout.shape[-1] != 4:  # an RGB cut-out on black: black is see-through
        cutout = np.dstack([cutout[:, :, :3], np.where(cutout[:, :, :3].any(axis=2), 255, 0).astype(np.uint8)])
    h, w = cutout.shape[:2]
    s = min(height / h, max_width / w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(cutout, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def _paste(frame: np.ndarray, sprite: np.ndarray, cx: float, cy: float) -> None:
    """Alpha-composite `sprite` centred on (cx, cy), clipped to the frame (objects may be half off)."""
    sh, sw = sprite.shape[:2]
    fh, fw = frame.shape[:2]
    x0, y0 = round(cx - sw / 2), round(cy - sh / 2)
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(fw, x0 + sw), min(fh, y0 + sh)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    part = sprite[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0].astype(np.float32)
    alpha = part[:, :, 3:4] / 255.0
    under = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = np.round(part[:, :, :3] * alpha + under * (1 - alpha)).astype(np.uint8)


def _with_trails(view: np.ndarray, trajectories: Trajectories, opacity: float) -> np.ndarray:
    drawn = view.copy()
    width = max(2, round(min(view.shape[:2]) / 240))
    for o, obj in enumerate(trajectories):
        for line in obj:
            pts = np.round(np.asarray(line, np.float64)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(drawn, [pts], False, object_colour(o), width, cv2.LINE_AA)
    return cv2.addWeighted(drawn, opacity, view, 1 - opacity, 0)


def preview_frames(canvas_image: np.ndarray, region: np.ndarray, trajectories: Trajectories,
                   cutouts: Mapping[int, np.ndarray], frames: int = MODEL_FRAMES, *,
                   sprite_height: float = SPRITE_HEIGHT, trail_opacity: float = TRAIL_OPACITY
                   ) -> Iterator[np.ndarray]:
    """Yields `frames` HxWx3 uint8 frames, one at a time (so a writer can stream them).

    Background: the canvas with the added border as a checkerboard and every path drawn faintly.
    An object with a cut-out (keyed by its index) is centred on the mean of its lines' positions at
    each frame; one without is a dot in its colour at each of its lines' positions."""
    region = np.asarray(region, bool)
    background = _with_trails(editing_view(canvas_image, region), trajectories, trail_opacity)
    h, w = background.shape[:2]
    tracks = object_tracks(trajectories, frames)
    sprite_px = max(8, round(sprite_height * _region_height(region)))
    sprites = {o: _sprite(cutouts[o], sprite_px, w) for o in range(len(tracks)) if cutouts.get(o) is not None}
    radius = max(4, dot_half_side(h))
    for t in range(frames):
        frame = background.copy()
        for o, lines in enumerate(tracks):
            positions = np.stack([track[t] for track in lines])
            if o in sprites:
                cx, cy = positions.mean(axis=0)
                _paste(frame, sprites[o], cx, cy)
                continue
            for x, y in np.round(positions).astype(int):
                cv2.circle(frame, (int(x), int(y)), radius + 2, (0, 0, 0), -1, cv2.LINE_AA)
                cv2.circle(frame, (int(x), int(y)), radius, object_colour(o), -1, cv2.LINE_AA)
        yield frame
