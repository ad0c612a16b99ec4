"""The one pose data structure: people per frame, keypoints in pixels with a confidence each.

Body points follow OpenPose COCO-18 order (what ControlNet, VACE and FramePrompt's skeletons use),
with the two toes Wan2.2-Animate draws appended as points 18 and 19. A point with confidence 0
is missing (not seen, or dropped); renderers skip it and retargeting leaves it alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BODY_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear", "left_toe", "right_toe",
)
BODY = {name: i for i, name in enumerate(BODY_NAMES)}
COCO18 = 18              # the first 18 body points are OpenPose COCO-18
HAND_POINTS = 21         # OpenPose / mediapipe hand order (wrist, 4 per finger)
FACE_POINTS = 68         # the 68-point (iBUG 300-W) face layout OpenPose uses


def _missing(n: int) -> np.ndarray:
    return np.zeros((n, 3), np.float32)


@dataclass
class Person:
    """One person in one frame. Arrays are (points, 3): x, y in pixels of the frame, confidence."""
    body: np.ndarray = field(default_factory=lambda: _missing(len(BODY_NAMES)))
    left_hand: np.ndarray = field(default_factory=lambda: _missing(HAND_POINTS))
    right_hand: np.ndarray = field(default_factory=lambda: _missing(HAND_POINTS))
    face: np.ndarray = field(default_factory=lambda: _missing(FACE_POINTS))

    def copy(self) -> "Person":
        return Person(self.body.copy(), self.left_hand.copy(), self.right_hand.copy(), self.face.copy())

    def parts(self) -> dict[str, np.ndarray]:
        return {"body": self.body, "left_hand": self.left_hand, "right_hand": self.right_hand, "face": self.face}


@dataclass
class PoseFrame:
    width: int
    height: int
    people: list[Person] = field(default_factory=list)


@dataclass
class PoseSequence:
    """A driving motion: one PoseFrame per video frame, at `fps`."""
    frames: list[PoseFrame]
    fps: float

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames the points are measured in."""
        return (self.frames[0].width, self.frames[0].height) if self.frames else (0, 0)
