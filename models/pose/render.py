"""Skeleton frames in the format each target model was trained on, and Wan-Animate's face crops.

One renderer, three styles. The styles are data (`SkeletonStyle`), read from each project's own
drawing code:

* ``vace`` -- VACE's `PoseBodyFaceVideoAnnotator`: OpenPose-18 body (17 ellipse limbs at 60 % of
  the ControlNet palette, 18 full-colour circles) plus 68 white face dots, no hands. VACE feeds
  the detector a BGR copy of the RGB frame, draws into it and flips the result back, so in the
  RGB video the palette appears with its channels reversed (the neck->right-shoulder limb is blue).
  It draws on a canvas whose short side is 1024 (sides rounded to 64) and resizes to the frame.
* ``animate`` -- Wan2.2-Animate's `draw_aapose_by_meta_new`: 20 body points (OpenPose-18 + left
  toe 18 + right toe 19, the same order as `keypoints.py`), 19 limbs (OpenPose's 17 + ankle->toe),
  both hands with HSV-rainbow edges and blue points, no face; widths follow the frame's short side.
* ``frameprompt`` -- "OpenPose format" (the paper's Blender data): ControlNet 1.1's Openpose_Full
  look -- body, hands and face -- in the palette's RGB order, drawn at a 512 short side.
"""
from __future__ import annotations

import colorsys
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from models.pose.keypoints import BODY, COCO18, Person, PoseFrame, PoseSequence

RGB = tuple[int, int, int]

# The OpenPose/ControlNet body palette, one colour per COCO-18 point (and per limb, in order).
OPENPOSE_PALETTE: tuple[RGB, ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
# Wan2.2-Animate's two extra point colours (left toe, right toe).
WAN_TOE_COLOURS: tuple[RGB, ...] = ((200, 200, 0), (100, 100, 0))

# OpenPose's 17 drawn limbs (0-based point pairs); the palette colour i belongs to limb i.
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# Wan adds ankle->toe for both feet; its limb colours run on into the toe colours.
WAN_FOOT_LIMBS: tuple[tuple[int, int], ...] = ((BODY["left_ankle"], BODY["left_toe"]),
                                               (BODY["right_ankle"], BODY["right_toe"]))

# The 20 hand edges of the 21-point OpenPose hand: wrist to each finger base, then along the finger.
HAND_EDGES: tuple[tuple[int, int], ...] = tuple(
    pair for finger in range(5)
    for pair in [(0, 4 * finger + 1)] + [(4 * finger + k, 4 * finger + k + 1) for k in range(1, 4)]
)


def _hand_edge_colours() -> tuple[RGB, ...]:
    # Edge i has hue i/20 at full saturation and value; cv2 rounds the float colour half-to-even.
    colours = []
    for i in range(len(HAND_EDGES)):
        r, g, b = colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0)
        colours.append(tuple(int(v) for v in np.rint(np.array([r, g, b]) * 255)))
    return tuple(colours)


HAND_EDGE_COLOURS: tuple[RGB, ...] = _hand_edge_colours()
HAND_POINT_COLOUR: RGB = (0, 0, 255)
FACE_DOT_COLOUR: RGB = (255, 255, 255)
LIMB_DIM = 0.6   # every project draws limbs at 60 % of the palette colour, points at 100 %


def _bgr_order(colours: Iterable[RGB]) -> tuple[RGB, ...]:
    return tuple((c[2], c[1], c[0]) for c in colours)


@dataclass(frozen=True)
class SkeletonStyle:
    """How one target model expects its skeleton frames to look."""
    name: str
    body_points: int                              # 18 (OpenPose) or 20 (with toes)
    limbs: tuple[tuple[int, int], ...]
    limb_colours: tuple[RGB, ...]                 # full palette colour; drawn at LIMB_DIM
    point_colours: tuple[RGB, ...]
    draw_hands: bool
    draw_face: bool
    threshold: float                              # points below this confidence are missing
    # Widths in pixels of the drawing canvas. `work_short_side` set: draw on a canvas of that short
    # side (sides rounded to 64, as the annotators resize) with the fixed widths, then resize.
    # Unset: draw at the output size with Wan's rule (stick = max(short // 200 - 1, 1)).
    work_short_side: int | None = None
    stick_half_width: int = 4
    body_radius: int = 4
    hand_line: int = 2
    hand_radius: int = 4
    face_radius: int = 3


STYLES: dict[str, SkeletonStyle] = {
    "vace": SkeletonStyle(
        name="vace", body_points=COCO18, limbs=OPENPOSE_LIMBS,
        limb_colours=_bgr_order(OPENPOSE_PALETTE[:17]), point_colours=_bgr_order(OPENPOSE_PALETTE),
        draw_hands=False, draw_face=True, threshold=0.3, work_short_side=1024,
    ),
    "animate": SkeletonStyle(
        name="animate", body_points=COCO18 + 2, limbs=OPENPOSE_LIMBS + WAN_FOOT_LIMBS,
        limb_colours=(OPENPOSE_PALETTE + WAN_TOE_COLOURS)[:19],
        point_colours=OPENPOSE_PALETTE + WAN_TOE_COLOURS,
        draw_hands=True, draw_face=False, threshold=0.5, work_short_side=None,
    ),
    "frameprompt": SkeletonStyle(
        name="frameprompt", body_points=COCO18, limbs=OPENPOSE_LIMBS,
        limb_colours=OPENPOSE_PALETTE[:17], point_colours=OPENPOSE_PALETTE,
        draw_hands=True, draw_face=True, threshold=0.3, work_short_side=512,
    ),
}


def style_for(target: str) -> SkeletonStyle:
    try:
        return STYLES[target]
    except KeyError:
        raise ValueError(f"unknown skeleton target {target!r}; choose one of {sorted(STYLES)}") from None


@dataclass(frozen=True)
class _Widths:
    stick_half_width: int
    body_radius: int
    hand_line: int
    hand_radius: int
    face_radius: int


def _widths(style: SkeletonStyle, canvas_w: int, canvas_h: int) -> _Widths:
    if style.work_short_side is not None:
        return _Widths(style.stick_half_width, style.body_radius, style.hand_line,
                       style.hand_radius, style.face_radius)
    stick = max(min(canvas_w, canvas_h) // 200 - 1, 1)
    hand = max(stick // 2, 1)
    return _Widths(stick, stick, hand, hand, style.face_radius)


def _work_size(style: SkeletonStyle, out_w: int, out_h: int) -> tuple[int, int]:
    if style.work_short_side is None:
        return out_w, out_h
    k = style.work_short_side / min(out_w, out_h)
    return max(64, int(round(out_w * k / 64)) * 64), max(64, int(round(out_h * k / 64)) * 64)


def _visible(points: np.ndarray, threshold: float) -> np.ndarray:
    conf = points[:, 2]
    return (conf > 0) & (conf >= threshold)


def _draw_stick(canvas: np.ndarray, p: np.ndarray, q: np.ndarray, half_width: int, colour: RGB) -> None:
    # A filled ellipse spanning the bone, rasterised the way all three projects do it (integer
    # centre, half-length and angle through ellipse2Poly), so thin/short limbs look the same.
    centre = (int((p[0] + q[0]) / 2), int((p[1] + q[1]) / 2))
    length = math.hypot(q[0] - p[0], q[1] - p[1])
    angle = math.degrees(math.atan2(p[1] - q[1], p[0] - q[0]))
    polygon = cv2.ellipse2Poly(centre, (int(length / 2), half_width), int(angle), 0, 360, 1)
    cv2.fillConvexPoly(canvas, polygon, colour)


def _dim(colour: RGB) -> RGB:
    return tuple(int(c * LIMB_DIM) for c in colour)


def _draw_person(canvas: np.ndarray, person: Person, style: SkeletonStyle, scale: tuple[float, float],
                 threshold: float, widths: _Widths) -> None:
    sx, sy = scale

    def scaled(points: np.ndarray) -> np.ndarray:
        return points[:, :2] * np.array([sx, sy], np.float64)

    body = scaled(person.body[: style.body_points])
    seen = _visible(person.body[: style.body_points], threshold)
    for (a, b), colour in zip(style.limbs, style.limb_colours):
        if seen[a] and seen[b]:
            _draw_stick(canvas, body[a], body[b], widths.stick_half_width, _dim(colour))
    for i, colour in enumerate(style.point_colours[: style.body_points]):
        if seen[i]:
            cv2.circle(canvas, (int(body[i, 0]), int(body[i, 1])), widths.body_radius, colour, -1)

    if style.draw_hands:
        for hand in (person.left_hand, person.right_hand):
            pts, ok = scaled(hand), _visible(hand, threshold)
            for (a, b), colour in zip(HAND_EDGES, HAND_EDGE_COLOURS):
                if ok[a] and ok[b]:
                    cv2.line(canvas, (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1])),
                             colour, widths.hand_line)
            for i in np.flatnonzero(ok):
                cv2.circle(canvas, (int(pts[i, 0]), int(pts[i, 1])), widths.hand_radius, HAND_POINT_COLOUR, -1)

    if style.draw_face:
        pts, ok = scaled(person.face), _visible(person.face, threshold)
        for i in np.flatnonzero(ok):
            cv2.circle(canvas, (int(pts[i, 0]), int(pts[i, 1])), widths.face_radius, FACE_DOT_COLOUR, -1)


def render_pose(frame: PoseFrame, target: str, size: tuple[int, int] | None = None,
                threshold: float | None = None) -> np.ndarray:
    """One skeleton frame, HxWx3 uint8 RGB on black. `size` = (width, height), default the frame's."""
    style = style_for(target)
    out_w, out_h = size if size is not None else (frame.width, frame.height)
    work_w, work_h = _work_size(style, out_w, out_h)
    canvas = np.zeros((work_h, work_w, 3), np.uint8)
    widths = _widths(style, work_w, work_h)
    scale = (work_w / frame.width, work_h / frame.height)
    limit = style.threshold if threshold is None else threshold
    for person in frame.people:
        _draw_person(canvas, person, style, scale, limit, widths)
    if (work_w, work_h) != (out_w, out_h):
        # VACE's rule: area averaging when shrinking, Lanczos when enlarging.
        shrinking = out_w * out_h < work_w * work_h
        canvas = cv2.resize(canvas, (out_w, out_h),
                            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)
    return canvas


def render_sequence(seq: PoseSequence, target: str, size: tuple[int, int] | None = None,
                    threshold: float | None = None) -> Iterator[np.ndarray]:
    """The pose video, one frame at a time (a long clip never sits in memory as images)."""
    for frame in seq.frames:
        yield render_pose(frame, target, size, threshold)


def overlay_pose(image: np.ndarray, frame: PoseFrame, target: str, threshold: float | None = None) -> np.ndarray:
    """`image` with the skeleton drawn on top (the puppet preview); non-skeleton pixels untouched."""
    h, w = image.shape[:2]
    skeleton = render_pose(frame, target, (w, h), threshold)
    drawn = (skeleton[..., 0] | skeleton[..., 1] | skeleton[..., 2]) > 0
    out = image.copy()
    out[drawn] = skeleton[drawn]
    return out


# ---------------------------------------------------------------- Wan-Animate face crops

FACE_AREA_SCALE = 1.3        # Wan grows the 68-point face box's area by 1.3 ...
FACE_BELOW_SHARE = 0.25      # ... with 3/4 of the extra height above the brows (the forehead)
HEAD_POINTS = (BODY["nose"], BODY["right_eye"], BODY["left_eye"], BODY["right_ear"], BODY["left_ear"])


def _box_from_face_points(pts: np.ndarray) -> np.ndarray:
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    grow = math.sqrt(FACE_AREA_SCALE) - 1.0        # same aspect, 1.3x the area
    dw, dh = w * grow / 2, h * grow
    return np.array([x0 - dw, y0 - dh * (1 - FACE_BELOW_SHARE), x1 + dw, y1 + dh * FACE_BELOW_SHARE])


def _box_from_head_points(body: np.ndarray, threshold: float) -> np.ndarray | None:
    # No face landmarks: estimate the 68-point box from nose/eyes/ears. Our own fallback (Wan's
    # detector always returns face points): a face is ~2.5 eye distances or ~1.1 ear distances
    # wide, about as tall as wide, and the nose tip sits a little below the box centre.
    ok = _visible(body, threshold)
    if not ok[list(HEAD_POINTS)].any():
        return None
    nose, r_eye, l_eye, r_ear, l_ear = (body[i, :2].astype(np.float64) for i in HEAD_POINTS)
    has_nose, has_r_eye, has_l_eye, has_r_ear, has_l_ear = (bool(ok[i]) for i in HEAD_POINTS)
    width = 0.0
    if has_r_ear and has_l_ear:
        width = max(width, 1.1 * float(np.linalg.norm(r_ear - l_ear)))
    if has_r_eye and has_l_eye:
        width = max(width, 2.5 * float(np.linalg.norm(r_eye - l_eye)))
    if width == 0.0 and ok[BODY["neck"]] and has_nose:
        width = 0.9 * float(np.linalg.norm(body[BODY["neck"], :2] - nose))
    if width == 0.0:
        return None
    if has_nose:
        centre = nose - np.array([0.0, 0.05 * width])
    else:
        centre = body[[i for i in HEAD_POINTS if ok[i]], :2].mean(axis=0) + np.array([0.0, 0.25 * width])
    half = width / 2
    return _box_from_face_points(np.array([centre - half, centre + half]))


def face_boxes(seq: PoseSequence, threshold: float = 0.3, smooth_radius: int = 2) -> np.ndarray:
    """(T, 4) face crop boxes x0, y0, x1, y1 in the sequence's pixels, smoothed over time.

    Per frame: Wan's box around the 68 face points of the first person, else an estimate from
    nose/eyes/ears, else the previous frame's box (the whole frame until one is found). Then a
    centred moving average over +-`smooth_radius` frames of centre and size, so the crop does not
    jitter with detector noise but does not lag behind the head either.
    """
    boxes: list[np.ndarray | None] = []
    for frame in seq.frames:
        box = None
        if frame.people:
            person = frame.people[0]
            ok = _visible(person.face, threshold)
            if ok.sum() >= 3:
                box = _box_from_face_points(person.face[ok, :2].astype(np.float64))
            else:
                box = _box_from_head_points(person.body, threshold)
        boxes.append(box)
    known = [b for b in boxes if b is not None]
    fallback = known[0] if known else np.array([0.0, 0.0, float(seq.size[0]), float(seq.size[1])])
    filled, last = [], fallback
    for box in boxes:
        last = box if box is not None else last
        filled.append(last)
    raw = np.array(filled, np.float64).reshape(-1, 4)
    # Smooth centre and size rather than corners so the box keeps its size while it moves.
    params = np.concatenate([(raw[:, :2] + raw[:, 2:]) / 2, raw[:, 2:] - raw[:, :2]], axis=1)
    smoothed = np.empty_like(params)
    for t in range(len(params)):
        lo, hi = max(0, t - smooth_radius), min(len(params), t + smooth_radius + 1)
        smoothed[t] = params[lo:hi].mean(axis=0)
    centre, wh = smoothed[:, :2], smoothed[:, 2:]
    return np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)


def face_crops(frames: Iterable[np.ndarray], seq: PoseSequence, size: int = 512,
               threshold: float = 0.3, smooth_radius: int = 2) -> Iterator[np.ndarray]:
    """Wan-Animate's face video: each frame cropped to the (smoothed) face box, resized to size x size.

    Like Wan, the box is clipped to the image and stretched to the square (no aspect padding).
    `frames` may be at another resolution than the keypoints; boxes are scaled to each frame.
    """
    boxes = face_boxes(seq, threshold, smooth_radius)
    seq_w, seq_h = seq.size
    for image, box in zip(frames, boxes):
        h, w = image.shape[:2]
        sx, sy = w / seq_w, h / seq_h
        x0 = int(np.clip(box[0] * sx, 0, w - 1))
        y0 = int(np.clip(box[1] * sy, 0, h - 1))
        x1 = int(np.clip(box[2] * sx, x0 + 1, w))
        y1 = int(np.clip(box[3] * sy, y0 + 1, h))
        yield cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_LINEAR)
