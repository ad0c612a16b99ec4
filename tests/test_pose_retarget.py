"""Retargeting: lengths from the reference, directions from the driver, neck and ground placement,
root motion, the identity case, and missing bones. Skeletons are built bone by bone from numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models.pose.keypoints import BODY, Person, PoseFrame, PoseSequence
from models.pose.retarget import BONES, retarget

# Directions (degrees, image coordinates: 90 = down) of a person standing with arms slightly out.
STAND_ANGLES = {
    "nose": -90, "right_shoulder": 180, "left_shoulder": 0, "right_hip": 100, "left_hip": 80,
    "right_eye": -120, "left_eye": -60, "right_elbow": 100, "left_elbow": 80, "right_knee": 90,
    "left_knee": 90, "right_ear": 180, "left_ear": 0, "right_wrist": 95, "left_wrist": 85,
    "right_ankle": 90, "left_ankle": 90, "right_toe": 170, "left_toe": 10,
}
DRIVER_LENGTHS = {
    "nose": 50, "right_shoulder": 40, "left_shoulder": 40, "right_hip": 130, "left_hip": 130,
    "right_eye": 12, "left_eye": 12, "right_elbow": 60, "left_elbow": 60, "right_knee": 90,
    "left_knee": 90, "right_ear": 10, "left_ear": 10, "right_wrist": 55, "left_wrist": 55,
    "right_ankle": 90, "left_ankle": 90, "right_toe": 20, "left_toe": 20,
}
CHILD_NAME = {b: name for name, b in BODY.items()}


def build(neck: tuple[float, float], lengths: dict[str, float], angles: dict[str, float]) -> Person:
    p = Person()
    p.body[BODY["neck"]] = (*neck, 1.0)
    for a, b in BONES:
        name = CHILD_NAME[b]
        rad = math.radians(angles[name])
        p.body[b] = (p.body[a, 0] + lengths[name] * math.cos(rad), p.body[a, 1] + lengths[name] * math.sin(rad), 1.0)
    # Hands: 21 points around each wrist; face: 68 points around the nose.
    for hand, wrist in ((p.left_hand, BODY["left_wrist"]), (p.right_hand, BODY["right_wrist"])):
        k = np.arange(21)
        hand[:, 0] = p.body[wrist, 0] + (k % 5) * 3.0 - 6
        hand[:, 1] = p.body[wrist, 1] + (k // 5) * 4.0 + 2
        hand[:, 2] = 1.0
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    p.face[:, 0] = p.body[BODY["nose"], 0] + 15 * np.cos(t)
    p.face[:, 1] = p.body[BODY["nose"], 1] + 18 * np.sin(t)
    p.face[:, 2] = 1.0
    return p


def driver_sequence(frames: int = 6, step: float = 10.0) -> PoseSequence:
    """Walks right by `step` px a frame while the right arm swings and the left knee bends."""
    seq = []
    for t in range(frames):
        angles = dict(STAND_ANGLES, right_elbow=100 + 15 * t, right_wrist=95 + 20 * t, left_ankle=90 + 8 * t)
        seq.append(PoseFrame(640, 480, [build((200 + step * t, 100), DRIVER_LENGTHS, angles)]))
    return PoseSequence(seq, 16)


# The reference: bigger, with long legs and short arms, standing straighter, elsewhere in its image.
REF_LENGTHS = {k: v * 1.5 for k, v in DRIVER_LENGTHS.items()}
REF_LENGTHS.update(right_knee=170, left_knee=170, right_ankle=160, left_ankle=160, right_elbow=70, left_elbow=70)
REF_ANGLES = dict(STAND_ANGLES, right_hip=95, left_hip=85, right_elbow=92, left_elbow=88)
REF_SIZE = (720, 960)


def reference() -> Person:
    return build((360, 200), REF_LENGTHS, REF_ANGLES)


def bone_vectors(p: Person) -> np.ndarray:
    return np.array([p.body[b, :2] - p.body[a, :2] for a, b in BONES], np.float64)


def lowest_foot(p: Person) -> float:
    return float(p.body[[BODY["right_ankle"], BODY["left_ankle"], BODY["right_toe"], BODY["left_toe"]], 1].max())


def test_bone_lengths_come_from_the_reference() -> None:
    out = retarget(driver_sequence(), reference(), REF_SIZE)
    want = np.array([REF_LENGTHS[CHILD_NAME[b]] for _, b in BONES])
    for frame in out.frames:
        got = np.linalg.norm(bone_vectors(frame.people[0]), axis=1)
        np.testing.assert_allclose(got, want, atol=1e-3)


def test_bone_directions_come_from_the_driver() -> None:
    seq = driver_sequence()
    out = retarget(seq, reference(), REF_SIZE)
    for src, dst in zip(seq.frames, out.frames):
        a, b = bone_vectors(src.people[0]), bone_vectors(dst.people[0])
        np.testing.assert_allclose(a / np.linalg.norm(a, axis=1, keepdims=True),
                                   b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-5)


def test_neck_placement_ground_line_and_root_motion() -> None:
    ref = reference()
    seq = driver_sequence(step=10.0)
    out = retarget(seq, ref, REF_SIZE)
    assert (out.frames[0].width, out.frames[0].height) == REF_SIZE
    first = out.frames[0].people[0]
    # The legs point differently from the reference's, so only the shift keeps the feet down.
    assert abs(lowest_foot(first) - lowest_foot(ref)) < 1e-3
    assert abs(first.body[BODY["neck"], 0] - ref.body[BODY["neck"], 0]) < 1e-3
    # Root motion scaled by the body-size ratio (summed bone lengths, reference / driver).
    ratio = sum(REF_LENGTHS.values()) / sum(DRIVER_LENGTHS.values())
    necks = np.array([f.people[0].body[BODY["neck"], :2] for f in out.frames])
    np.testing.assert_allclose(np.diff(necks[:, 0]), 10.0 * ratio, atol=1e-3)
    np.testing.assert_allclose(np.diff(necks[:, 1]), 0.0, atol=1e-3)


def test_retarget_onto_the_drivers_own_first_frame_is_the_identity() -> None:
    seq = driver_sequence()
    out = retarget(seq, seq.frames[0].people[0].copy(), seq.size)
    for src, dst in zip(seq.frames, out.frames):
        for name, part in src.people[0].parts().items():
            np.testing.assert_allclose(dst.people[0].parts()[name], part, atol=1e-3)


def test_hands_and_face_follow_their_anchor_scaled() -> None:
    seq = driver_sequence()
    ref = reference()
    out = retarget(seq, ref, REF_SIZE)
    ratio = sum(REF_LENGTHS.values()) / sum(DRIVER_LENGTHS.values())
    for src, dst in zip(seq.frames, out.frames):
        s, d = src.people[0], dst.people[0]
        for hand, wrist in (("right_hand", BODY["right_wrist"]), ("left_hand", BODY["left_wrist"])):
            want = d.body[wrist, :2] + ratio * (s.parts()[hand][:, :2] - s.body[wrist, :2])
            np.testing.assert_allclose(d.parts()[hand][:, :2], want, atol=1e-3)
        nose = BODY["nose"]
        want = d.body[nose, :2] + ratio * (s.face[:, :2] - s.body[nose, :2])
        np.testing.assert_allclose(d.face[:, :2], want, atol=1e-3)


def test_missing_reference_bones_use_the_drivers_length_times_the_size_ratio() -> None:
    ref = reference()
    ref.body[BODY["left_wrist"], 2] = 0.0            # the reference's left forearm is not visible
    seq = driver_sequence()
    out = retarget(seq, ref, REF_SIZE)
    common = [k for k, (a, b) in enumerate(BONES) if CHILD_NAME[b] != "left_wrist"]
    ratio = (sum(REF_LENGTHS[CHILD_NAME[BONES[k][1]]] for k in common)
             / sum(DRIVER_LENGTHS[CHILD_NAME[BONES[k][1]]] for k in common))
    forearm = [k for k, (a, b) in enumerate(BONES) if b == BODY["left_wrist"]][0]
    for frame in out.frames:
        got = np.linalg.norm(bone_vectors(frame.people[0])[forearm])
        assert got == pytest.approx(DRIVER_LENGTHS["left_wrist"] * ratio, abs=1e-3)


def test_points_missing_in_the_driver_stay_missing() -> None:
    seq = driver_sequence()
    seq.frames[2].people[0].body[BODY["right_elbow"], 2] = 0.0
    out = retarget(seq, reference(), REF_SIZE)
    body = out.frames[2].people[0].body
    assert body[BODY["right_elbow"], 2] == 0.0
    # The wrist's parent is gone, so it is placed globally -- still present, not on the tree.
    assert body[BODY["right_wrist"], 2] == 1.0
    assert out.frames[3].people[0].body[BODY["right_elbow"], 2] == 1.0


def test_empty_frames_pass_through() -> None:
    seq = driver_sequence(3)
    seq.frames[1] = PoseFrame(640, 480, [])
    out = retarget(seq, reference(), REF_SIZE)
    assert len(out) == 3 and out.frames[1].people == [] and out.fps == 16
