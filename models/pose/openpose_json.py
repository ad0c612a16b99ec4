"""OpenPose JSON in and out, in the variants the ecosystem passes around.

Written: one dict per frame, `{"version": 1.3, "people": [{"pose_keypoints_2d": 18*3,
"face_keypoints_2d": 70*3, "hand_left_keypoints_2d": 21*3, "hand_right_keypoints_2d": 21*3}],
"canvas_width", "canvas_height"}`; a sequence is a plain list of those (ComfyUI's POSE_KEYPOINT).
Coordinates are pixels by default (CMU OpenPose's own default); `normalized=True` writes them
divided by the canvas size, as controlnet_aux / ComfyUI's OpenPose and DWPose nodes do.
The 70 face points are our 68 plus the two pupils OpenPose adds (68 right, 69 left), written as
the centre of each eye's six contour points (missing if any of them is).
Extra keys, which other readers ignore, make our own round trip exact: per person
`"toe_keypoints_2d"` (left toe, right toe), per frame `"fps"` and `"coordinates"`.

Read: a frame dict or a list of them; pixels or normalised coordinates (our `"coordinates"` key
if present, else normalised when every seen point lies within [0, 2]); COCO-18 or BODY_25 body
arrays; 68- or 70-point faces. Bad input raises InputError naming the field and the fix.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from core.errors import InputError
from models.pose.keypoints import (
    BODY,
    BODY_NAMES,
    COCO18,
    FACE_POINTS,
    HAND_POINTS,
    Person,
    PoseFrame,
    PoseSequence,
)

VERSION = 1.3
OPENPOSE_FACE_POINTS = 70     # 68 + right pupil (68) + left pupil (69)
TOE_KEY = "toe_keypoints_2d"
_TOES = [BODY["left_toe"], BODY["right_toe"]]
_RIGHT_EYE, _LEFT_EYE = slice(36, 42), slice(42, 48)

# BODY_25 (CMU OpenPose's default model) -> our 20 points: the same first 8, then MidHip (8) is
# skipped, and of the feet only the big toes are kept (LBigToe 19, RBigToe 22).
BODY25_POINTS = 25
OURS_FROM_BODY25 = {
    "nose": 0, "neck": 1, "right_shoulder": 2, "right_elbow": 3, "right_wrist": 4, "left_shoulder": 5,
    "left_elbow": 6, "left_wrist": 7, "right_hip": 9, "right_knee": 10, "right_ankle": 11,
    "left_hip": 12, "left_knee": 13, "left_ankle": 14, "right_eye": 15, "left_eye": 16,
    "right_ear": 17, "left_ear": 18, "left_toe": 19, "right_toe": 22,
}
assert set(OURS_FROM_BODY25) == set(BODY_NAMES)
_NORMALISED_LIMIT = 2.0   # pixel poses never fit in a 2x2-pixel square; normalised ones always do

FIX_FORMAT = "export OpenPose JSON (x, y, confidence triplets per point) with canvas_width/canvas_height"


# ---- writing -------------------------------------------------------------------------------------

def _flat(points: np.ndarray, scale: tuple[float, float]) -> list[float]:
    # float() of a float32 is exact, and so is float32(x / w * w) back: the round trip is lossless.
    return [value for x, y, c in points.tolist() for value in (x / scale[0], y / scale[1], c)]


def _pupils(face: np.ndarray) -> np.ndarray:
    pupils = np.zeros((2, 3), np.float32)
    for row, eye in enumerate((face[_RIGHT_EYE], face[_LEFT_EYE])):
        if (eye[:, 2] > 0).all():
            pupils[row, :2] = eye[:, :2].astype(np.float64).mean(axis=0)
            pupils[row, 2] = eye[:, 2].min()
    return pupils


def person_to_openpose(person: Person, scale: tuple[float, float] = (1.0, 1.0)) -> dict[str, list[float]]:
    return {
        "pose_keypoints_2d": _flat(person.body[:COCO18], scale),
        "face_keypoints_2d": _flat(np.concatenate([person.face, _pupils(person.face)]), scale),
        "hand_left_keypoints_2d": _flat(person.left_hand, scale),
        "hand_right_keypoints_2d": _flat(person.right_hand, scale),
        TOE_KEY: _flat(person.body[_TOES], scale),
    }


def frame_to_openpose(frame: PoseFrame, fps: float | None = None, *, normalized: bool = False) -> dict[str, Any]:
    scale = (float(frame.width), float(frame.height)) if normalized else (1.0, 1.0)
    data: dict[str, Any] = {
        "version": VERSION,
        "people": [person_to_openpose(p, scale) for p in frame.people],
        "canvas_width": frame.width,
        "canvas_height": frame.height,
        "coordinates": "normalized" if normalized else "pixels",
    }
    if fps is not None:
        data["fps"] = float(fps)
    return data


def sequence_to_openpose(sequence: PoseSequence, *, normalized: bool = False) -> list[dict[str, Any]]:
    """One frame dict per frame, each carrying the sequence's fps (a plain list stays ComfyUI's
    POSE_KEYPOINT shape, and any single frame still says its rate)."""
    return [frame_to_openpose(f, sequence.fps, normalized=normalized) for f in sequence.frames]


def dumps_openpose(sequence: PoseSequence, *, normalized: bool = False) -> str:
    return json.dumps(sequence_to_openpose(sequence, normalized=normalized))


# ---- reading -------------------------------------------------------------------------------------

def _triplets(values: Any, field: str, allowed: tuple[int, ...]) -> np.ndarray | None:
    """A flat x, y, c list -> (n, 3) float32; None when absent or empty (= not detected)."""
    if values is None or (isinstance(values, list) and not values):
        return None
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise InputError(field, "must be a flat list of numbers (x1, y1, c1, x2, y2, c2, ...)", FIX_FORMAT)
    counts = " or ".join(f"{n * 3} ({n} points)" for n in allowed)
    if len(values) % 3 or len(values) // 3 not in allowed:
        raise InputError(field, f"has {len(values)} numbers, expected {counts}", FIX_FORMAT)
    points = np.asarray(values, np.float64).reshape(-1, 3)
    if not np.isfinite(points).all():
        raise InputError(field, "contains NaN or infinity", "write missing points as 0, 0, 0")
    return points


def _person_arrays(raw: Any, field: str) -> dict[str, np.ndarray | None]:
    if not isinstance(raw, dict):
        raise InputError(field, "must be an object with pose_keypoints_2d etc.", FIX_FORMAT)
    return {
        "body": _triplets(raw.get("pose_keypoints_2d"), f"{field}.pose_keypoints_2d", (COCO18, BODY25_POINTS)),
        "face": _triplets(raw.get("face_keypoints_2d"), f"{field}.face_keypoints_2d", (FACE_POINTS, OPENPOSE_FACE_POINTS)),
        "left_hand": _triplets(raw.get("hand_left_keypoints_2d"), f"{field}.hand_left_keypoints_2d", (HAND_POINTS,)),
        "right_hand": _triplets(raw.get("hand_right_keypoints_2d"), f"{field}.hand_right_keypoints_2d", (HAND_POINTS,)),
        "toes": _triplets(raw.get(TOE_KEY), f"{field}.{TOE_KEY}", (2,)),
    }


def _looks_normalised(people: list[dict[str, np.ndarray | None]]) -> bool:
    seen = [a[a[:, 2] > 0, :2] for person in people for a in person.values() if a is not None]
    seen = [s for s in seen if len(s)]
    return bool(seen) and max(float(np.abs(s).max()) for s in seen) <= _NORMALISED_LIMIT


def _body_from(points: np.ndarray | None, toes: np.ndarray | None) -> np.ndarray:
    body = np.zeros((len(BODY_NAMES), 3), np.float64)
    if points is not None:
        if len(points) == BODY25_POINTS:
            for name, index in OURS_FROM_BODY25.items():
                body[BODY[name]] = points[index]
        else:
            body[:COCO18] = points
    if toes is not None:   # our own key wins: it is what we wrote
        body[_TOES] = toes
    return body


def _canvas(data: dict[str, Any], key: str, field: str, given: int | None) -> int:
    value = data.get(key, given)
    if value is None:
        raise InputError(f"{field}.{key}", "is missing (plain OpenPose JSON does not record the image size)",
                         "add canvas_width and canvas_height, or pass the video's size")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise InputError(f"{field}.{key}", f"must be a positive whole number of pixels, got {value!r}",
                         "set it to the width/height of the frames the pose was measured on")
    return int(value)


def frame_from_openpose(data: Any, *, field: str = "pose_json", size: tuple[int, int] | None = None) -> PoseFrame:
    """One OpenPose frame dict -> PoseFrame in pixels. `size` (width, height) stands in for a
    missing canvas size."""
    if not isinstance(data, dict):
        raise InputError(field, f"must be an object with \"people\", got {type(data).__name__}", FIX_FORMAT)
    people_raw = data.get("people", [])
    if not isinstance(people_raw, list):
        raise InputError(f"{field}.people", "must be a list of people", FIX_FORMAT)
    width = _canvas(data, "canvas_width", field, size[0] if size else None)
    height = _canvas(data, "canvas_height", field, size[1] if size else None)
    people = [_person_arrays(p, f"{field}.people[{i}]") for i, p in enumerate(people_raw)]
    marker = data.get("coordinates")
    if marker not in (None, "pixels", "normalized"):
        raise InputError(f"{field}.coordinates", f"must be \"pixels\" or \"normalized\", got {marker!r}",
                         "remove the key to let the reader decide")
    normalised = marker == "normalized" if marker is not None else _looks_normalised(people)
    scale = np.array([width, height, 1.0]) if normalised else np.ones(3)
    frame = PoseFrame(width, height, [])
    for arrays in people:
        arrays = {k: (a * scale if a is not None else None) for k, a in arrays.items()}
        person = Person()
        person.body = _body_from(arrays["body"], arrays["toes"]).astype(np.float32)
        if arrays["face"] is not None:
            person.face = arrays["face"][:FACE_POINTS].astype(np.float32)   # pupils are derived, not kept
        for hand in ("left_hand", "right_hand"):
            if arrays[hand] is not None:
                setattr(person, hand, arrays[hand].astype(np.float32))
        frame.people.append(person)
    return frame


def sequence_from_openpose(data: Any, *, fps: float | None = None, field: str = "pose_json",
                           size: tuple[int, int] | None = None) -> PoseSequence:
    """A list of frame dicts (or one frame dict) -> PoseSequence. `fps` overrides the recorded rate
    and is needed when none is recorded."""
    frames_raw = [data] if isinstance(data, dict) else data
    if not isinstance(frames_raw, list) or not frames_raw:
        raise InputError(field, "must be a frame object or a non-empty list of frame objects", FIX_FORMAT)
    frames = [frame_from_openpose(f, field=f"{field}[{i}]", size=size) for i, f in enumerate(frames_raw)]
    if fps is None:
        fps = frames_raw[0].get("fps")
        if fps is None:
            raise InputError(f"{field}[0].fps", "is missing (OpenPose JSON does not record a frame rate)",
                             "pass the frame rate of the driving video")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise InputError(f"{field}[0].fps", f"must be a positive number, got {fps!r}", "pass the video's frame rate")
    return PoseSequence(frames, float(fps))


def loads_openpose(text: str, *, fps: float | None = None, field: str = "pose_json",
                   size: tuple[int, int] | None = None) -> PoseSequence:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(field, f"is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})",
                         "upload the .json file OpenPose, ControlNet or ComfyUI wrote") from err
    return sequence_from_openpose(data, fps=fps, field=field, size=size)
