"""Canvas, trajectories and their drawings for FrameINO (Frame In-N-Out), as pure numpy functions.

Facts from UVA-Computer-Vision-Lab/FrameINO (app.py, data_loader/video_dataset_motion.py,
utils/optical_flow_utils.py, config/train_wan_motion_FrameINO.yaml):
- the canvas is the image pasted on black with four expansion offsets; both sides must divide by
  32; the model trains at 1280x704 (width x height);
- clicks are stored `[object][line][point][x, y]`; every line of an object is resampled by arc
  length to the full frame count and all of an object's lines run at the same time (at frame t the
  object has one square per line);
- a trajectory frame is white; each point is a filled square of half-side
  `int(dot_radius * H / 384)` (dot_radius 7 for Wan) in its object's colour, points outside the
  canvas are skipped, then the frame is convolved with a 45x45 isotropic Gaussian (sigma 3) and
  truncated to uint8; the VAE takes `x / 255 * 2 - 1`.

Our own choices are marked "we" below.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from core.errors import InputError

MULTIPLE = 32                 # both canvas sides (FrameINO's sanity check in build_canvas)
MODEL_SIZE = (1280, 704)      # (width, height) FrameINO's Wan2.2-5B training resolution
MODEL_FRAMES = 81
OUTPUT_FPS = 8                # what FrameINO's app writes
DOT_RADIUS_WAN = 7            # 6 for CogVideoX
DOT_REFERENCE_HEIGHT = 384
BLUR_SIZE, BLUR_SIGMA = 45, 3.0

# FrameINO's fixed palette, in its order. Beyond these it draws random colours at import time; we
# use a fixed seeded set (the same count, 100) so a job renders the same twice.
_FRAMEINO_COLOURS = ((255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (255, 0, 255), (0, 0, 255),
                     (128, 128, 128), (64, 224, 208), (233, 150, 122))
OBJECT_COLOURS: tuple[tuple[int, int, int], ...] = _FRAMEINO_COLOURS + tuple(
    tuple(int(c) for c in rgb) for rgb in np.random.default_rng(0).integers(0, 256, (100, 3)))
MAX_OBJECTS = len(OBJECT_COLOURS)
MAX_POINTS_PER_LINE = 10_000

Trajectories = list[list[list[list[float]]]]  # [object][line][point][x, y], canvas pixels


def object_colour(index: int) -> tuple[int, int, int]:
    return OBJECT_COLOURS[index % MAX_OBJECTS]


# ------------------------------------------------------------------------------------------ canvas

SIDES = ("top", "bottom", "left", "right")
UNITS = ("px", "%")


@dataclass(frozen=True)
class Expansion:
    """Canvas added around the image; in pixels of the image, or percent of the image's height
    (top, bottom) and width (left, right)."""
    top: float = 0.0
    bottom: float = 0.0
    left: float = 0.0
    right: float = 0.0
    unit: str = "px"

    def in_pixels(self, image_w: int, image_h: int) -> dict[str, int]:
        if self.unit not in UNITS:
            raise InputError("expand_unit", f"unknown unit {self.unit!r}", "use 'px' or '%'")
        amounts = {}
        for side in SIDES:
            value = getattr(self, side)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InputError(f"expand_{side}", f"{value!r} is not a size",
                                 "give a number of pixels (or percent) of zero or more")
            if self.unit == "%":
                value = value / 100.0 * (image_h if side in ("top", "bottom") else image_w)
            amounts[side] = round(value)
        return amounts


# Presets as data: Frame In/Out from a side needs room on that side; 50% of the width gives an
# object entering from the left or right about half the image's width to walk in from.
EXPANSION_PRESETS: dict[str, Expansion] = {
    "expand left": Expansion(left=50, unit="%"),
    "expand right": Expansion(right=50, unit="%"),
    "all round": Expansion(top=20, bottom=20, left=20, right=20, unit="%"),
}


@dataclass(frozen=True)
class CanvasLayout:
    """A canvas of width x height with the original image occupying box = (x0, y0, x1, y1),
    end-exclusive, in canvas pixels."""
    width: int
    height: int
    box: tuple[int, int, int, int]

    @property
    def box_size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box
        return x1 - x0, y1 - y0


def _round_side(length: int, before: int, after: int) -> tuple[int, int]:
    """(canvas side, offset of the image). We round the side *up* to a multiple of 32 (never crop
    the image or the asked-for border) and split the extra in proportion to what was asked on each
    side, so "expand left" stays flush right; with nothing asked the extra is split evenly."""
    wanted = length + before + after
    side = max(MULTIPLE, -(-wanted // MULTIPLE) * MULTIPLE)
    extra = side - wanted
    extra_before = round(extra * before / (before + after)) if before + after else extra // 2
    return side, before + extra_before


def canvas_layout(image_w: int, image_h: int, expansion: Expansion) -> CanvasLayout:
    if image_w < 1 or image_h < 1:
        raise InputError("image", f"is {image_w}x{image_h}", "upload an image with pixels")
    px = expansion.in_pixels(image_w, image_h)
    width, x0 = _round_side(image_w, px["left"], px["right"])
    height, y0 = _round_side(image_h, px["top"], px["bottom"])
    return CanvasLayout(width, height, (x0, y0, x0 + image_w, y0 + image_h))


def fit_to_model(layout: CanvasLayout, target: tuple[int, int] = MODEL_SIZE
                 ) -> tuple[CanvasLayout, tuple[float, float]]:
    """The canvas at the model's size class, and the (x, y) factors points scale by.

    We keep the canvas's aspect and match the target's pixel area (both directions: a small canvas
    is enlarged too), each side rounded to the nearest multiple of 32; a 16:9 canvas becomes exactly
    1280x704. The box scales with the canvas (rounded to whole pixels)."""
    target_w, target_h = target
    s = math.sqrt(target_w * target_h / (layout.width * layout.height))
    width = max(MULTIPLE, round(layout.width * s / MULTIPLE) * MULTIPLE)
    height = max(MULTIPLE, round(layout.height * s / MULTIPLE) * MULTIPLE)
    sx, sy = width / layout.width, height / layout.height
    x0, y0, x1, y1 = layout.box
    bx0, by0 = min(round(x0 * sx), width - 1), min(round(y0 * sy), height - 1)
    bx1, by1 = max(bx0 + 1, min(round(x1 * sx), width)), max(by0 + 1, min(round(y1 * sy), height))
    return CanvasLayout(width, height, (bx0, by0, bx1, by1)), (sx, sy)


def scale_trajectories(trajectories: Trajectories, scale: tuple[float, float]) -> Trajectories:
    """Points in one canvas's pixels -> another's (FrameINO scales its clicks the same way; the
    truncation to whole pixels happens when rendering)."""
    sx, sy = scale
    return [[[[x * sx, y * sy] for x, y in line] for line in obj] for obj in trajectories]


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8, copy=False)


def make_canvas(image: np.ndarray, layout: CanvasLayout) -> tuple[np.ndarray, np.ndarray]:
    """(canvas HxWx3 uint8 with the image pasted on black, region HxW bool where the image is).
    An image not already at the box's size is resized to it."""
    image = _rgb(image)
    box_w, box_h = layout.box_size
    if image.shape[:2] != (box_h, box_w):
        shrinking = box_w * box_h < image.shape[0] * image.shape[1]
        image = cv2.resize(image, (box_w, box_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    x0, y0, x1, y1 = layout.box
    canvas = np.zeros((layout.height, layout.width, 3), np.uint8)
    canvas[y0:y1, x0:x1] = image
    region = np.zeros((layout.height, layout.width), bool)
    region[y0:y1, x0:x1] = True
    return canvas, region


CHECKER_COLOURS = ((92, 92, 92), (124, 124, 124))  # mid greys: every object colour stays visible


def checkerboard(height: int, width: int, cell: int | None = None) -> np.ndarray:
    cell = cell or max(8, round(min(height, width) / 40))
    ys, xs = np.indices((height, width))
    odd = ((ys // cell + xs // cell) % 2).astype(bool)
    board = np.empty((height, width, 3), np.uint8)
    board[~odd], board[odd] = CHECKER_COLOURS
    return board


def editing_view(canvas_image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The canvas with the added border as a grey checkerboard (the image itself may be dark, so
    black would not tell the user where the original ends)."""
    canvas_image = _rgb(canvas_image)
    view = checkerboard(*canvas_image.shape[:2])
    view[region] = canvas_image[region]
    return view


def crop_back(frames: np.ndarray | Sequence[np.ndarray], layout: CanvasLayout,
              size: tuple[int, int] | None = None) -> np.ndarray:
    """Full-canvas frames (T, H, W, C) -> the original framing; with `size` (w, h) also resized to it."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1:3] != (layout.height, layout.width):
        raise ValueError(f"frames of shape {frames.shape} are not (T, {layout.height}, {layout.width}, C)")
    x0, y0, x1, y1 = layout.box
    cropped = frames[:, y0:y1, x0:x1]
    if size is None or tuple(size) == layout.box_size:
        return np.ascontiguousarray(cropped)
    return np.stack([cv2.resize(f, tuple(size), interpolation=cv2.INTER_AREA) for f in cropped])


# ------------------------------------------------------------------------------------ trajectories

_SHAPE_FIX = ("give JSON [object][line][point][x, y] in canvas pixels, e.g. "
              "[[[[100, 200], [400, 220]]]] (one object, one line, two points)")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


def validate_trajectories(data: Any, field: str = "trajectories") -> Trajectories:
    """Checked trajectories as float lists; empty lines are dropped (the editor leaves one after
    "new line"), but every object keeps its index (its colour and identity hang on it)."""
    if isinstance(data, np.ndarray):
        data = data.tolist()
    if not isinstance(data, (list, tuple)) or not data:
        raise InputError(field, "no objects", _SHAPE_FIX)
    if len(data) > MAX_OBJECTS:
        raise InputError(field, f"{len(data)} objects", f"use at most {MAX_OBJECTS} objects")
    checked: Trajectories = []
    for o, obj in enumerate(data, 1):
        if not isinstance(obj, (list, tuple)):
            raise InputError(field, f"object {o} is {type(obj).__name__}, not a list of lines", _SHAPE_FIX)
        lines = []
        for li, line in enumerate(obj, 1):
            if not isinstance(line, (list, tuple)):
                raise InputError(field, f"object {o}, line {li} is not a list of points", _SHAPE_FIX)
            if len(line) > MAX_POINTS_PER_LINE:
                raise InputError(field, f"object {o}, line {li} has {len(line)} points",
                                 f"use at most {MAX_POINTS_PER_LINE} points per line")
            points = []
            for p, point in enumerate(line, 1):
                if not (isinstance(point, (list, tuple)) and len(point) == 2 and all(map(_is_number, point))):
                    raise InputError(field, f"object {o}, line {li}, point {p} is {point!r}, not [x, y]",
                                     _SHAPE_FIX)
                points.append([float(point[0]), float(point[1])])
            if points:
                lines.append(points)
        if not lines:
            raise InputError(field, f"object {o} has no points",
                             f"click at least one point for object {o}, or remove it")
        checked.append(lines)
    return checked


def resample_line(points: Sequence[Sequence[float]], frames: int) -> np.ndarray:
    """(frames, 2) positions equally spaced along the polyline's length, first and last clicks kept
    (FrameINO's sample_traj_by_length). One point (or all clicks on one spot) stays still."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0 or frames < 1:
        raise ValueError(f"need at least one point and one frame, got {len(pts)} points, {frames} frames")
    step = np.hypot(*np.diff(pts, axis=0).T)
    keep = np.concatenate([[True], step > 0])  # repeated clicks add no length and would stall interp
    pts, step = pts[keep], step[step > 0]
    if len(pts) == 1:
        return np.repeat(pts, frames, axis=0)
    along = np.concatenate([[0.0], np.cumsum(step)])
    targets = np.linspace(0.0, along[-1], frames)
    return np.stack([np.interp(targets, along, pts[:, 0]), np.interp(targets, along, pts[:, 1])], axis=1)


def object_tracks(trajectories: Trajectories, frames: int) -> list[list[np.ndarray]]:
    """[object][line] -> (frames, 2). All lines of an object span the whole clip at once (FrameINO
    app.py: each line is resampled to num_frames and frame t gets one point from every line)."""
    return [[resample_line(line, frames) for line in obj] for obj in trajectories]


def dot_half_side(height: int, dot_radius: int = DOT_RADIUS_WAN) -> int:
    return int(dot_radius * height / DOT_REFERENCE_HEIGHT)


def blur_kernel(size: int = BLUR_SIZE, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """FrameINO's bivariate_Gaussian(45, 3, 3, 0, isotropic=True): a normalised 2-D Gaussian on the
    grid -22..22 (an odd size, so centred)."""
    axis = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    xx, yy = np.meshgrid(axis, axis)
    kernel = np.exp(-0.5 * (xx ** 2 + yy ** 2) / sigma ** 2)
    return kernel / kernel.sum()


def render_trajectories(trajectories: Trajectories, width: int, height: int, frames: int,
                        dot_radius: int = DOT_RADIUS_WAN) -> np.ndarray:
    """(frames, height, width, 3) uint8 trajectory video, drawn as FrameINO draws its training and
    inference conditions: white frames, squares per point in the object's colour (later objects on
    top), positions truncated with int(), points off the canvas skipped, Gaussian blur, truncated
    to uint8."""
    tracks = object_tracks(trajectories, frames)
    half = dot_half_side(height, dot_radius)
    kernel = blur_kernel()
    video = np.empty((frames, height, width, 3), np.uint8)
    done: dict[tuple, np.ndarray] = {}  # a still object gives identical frames: blur them once
    for t in range(frames):
        squares = []
        for o, lines in enumerate(tracks):
            for track in lines:
                x, y = int(track[t, 0]), int(track[t, 1])  # int() truncates toward zero, as FrameINO's
                if 0 <= x < width and 0 <= y < height:
                    squares.append((o, x, y))
        key = tuple(squares)
        if key not in done:
            base = np.full((height, width, 3), 255, np.float32)
            for o, x, y in squares:
                base[max(0, y - half):min(height, y + half), max(0, x - half):min(width, x + half)] = object_colour(o)
            done[key] = cv2.filter2D(base, -1, kernel).astype(np.uint8)
        video[t] = done[key]
    return video


def to_model_range(frames: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1]: FrameINO's train_transforms (x / 255 * 2 - 1), used for the
    trajectory video and the identity frame alike; nothing else is applied before the VAE."""
    return (np.asarray(frames, np.float32) / 255.0 * 2.0 - 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------- the editor

OUTLINE = (0, 0, 0)
HIGHLIGHT = (255, 255, 255)


def _editor_lines(trajectories: Any) -> list[list[np.ndarray]]:
    """Lenient read of the editor's state: empty lines and objects stay (indices are colours),
    anything that is not a number pair is skipped."""
    objects = []
    for obj in trajectories or []:
        lines = []
        for line in obj or []:
            pts = [(float(p[0]), float(p[1])) for p in line or []
                   if isinstance(p, (list, tuple)) and len(p) == 2 and all(map(_is_number, p))]
            lines.append(np.asarray(pts, np.float64).reshape(-1, 2))
        objects.append(lines)
    return objects


def _arrow_head(image: np.ndarray, tip: np.ndarray, tail: np.ndarray, size: float,
                colour: tuple[int, int, int]) -> None:
    direction = tip - tail
    direction = direction / np.hypot(*direction)
    normal = np.array([-direction[1], direction[0]])
    corners = np.array([tip, tip - size * direction + 0.6 * size * normal,
                        tip - size * direction - 0.6 * size * normal])
    cv2.fillConvexPoly(image, np.round(corners).astype(np.int32), OUTLINE, cv2.LINE_AA)
    inner = corners.mean(axis=0) + 0.7 * (corners - corners.mean(axis=0))
    cv2.fillConvexPoly(image, np.round(inner).astype(np.int32), colour, cv2.LINE_AA)


def draw_editor(view: np.ndarray, trajectories: Any, current: tuple[int, int] | None = None) -> np.ndarray:
    """The editor's picture after each click: each object's lines in its colour over a dark outline,
    every click as a dot, the start as a ring, the end as an arrowhead (a square for a one-point,
    still line); the line being drawn (`current` = (object, line)) gets a white halo."""
    image = _rgb(view).copy()
    h, w = image.shape[:2]
    width = max(2, round(min(h, w) / 240))
    dot, ring = width + 1, 3 * width + 2
    for o, lines in enumerate(_editor_lines(trajectories)):
        colour = object_colour(o)
        for li, pts in enumerate(lines):
            if len(pts) == 0:
                continue
            ipts = np.round(pts).astype(np.int32)
            if current is not None and tuple(current) == (o, li) and len(ipts) > 1:
                cv2.polylines(image, [ipts], False, HIGHLIGHT, width + 6, cv2.LINE_AA)
            if len(ipts) > 1:
                cv2.polylines(image, [ipts], False, OUTLINE, width + 2, cv2.LINE_AA)
                cv2.polylines(image, [ipts], False, colour, width, cv2.LINE_AA)
            for x, y in ipts:
                cv2.circle(image, (int(x), int(y)), dot + 1, OUTLINE, -1, cv2.LINE_AA)
                cv2.circle(image, (int(x), int(y)), dot, colour, -1, cv2.LINE_AA)
            start = (int(ipts[0, 0]), int(ipts[0, 1]))
            cv2.circle(image, start, ring, OUTLINE, width + 2, cv2.LINE_AA)
            cv2.circle(image, start, ring, colour, width, cv2.LINE_AA)
            moves = np.flatnonzero(np.any(pts != pts[-1], axis=1))
            if len(moves):  # arrowhead along the last segment that has a length
                _arrow_head(image, pts[-1], pts[moves[-1]], 5 * width + 4, colour)
            else:  # a still line: a square marks where it ends (where it starts)
                x, y = start
                cv2.rectangle(image, (x - ring, y - ring), (x + ring, y + ring), OUTLINE, width + 2)
                cv2.rectangle(image, (x - ring, y - ring), (x + ring, y + ring), colour, width)
    return image
