"""Retargeting: the driver's motion on the reference character's body.

Per frame the skeleton is rebuilt from the neck outwards along the kinematic tree: each bone keeps
the driver's direction in that frame, and its length is the driver's length times that bone's
ratio reference / driver (driver measured on the first frame where the bone is seen). So frame 0
has exactly the reference's bone lengths, and later foreshortening of the driver is kept.
Placement: the driver's first-frame neck lands on the reference's neck; root motion is scaled by
the body-size ratio; a constant vertical shift puts the lowest foot of frame 0 on the reference's
ground line (its lowest ankle/toe). Hands and face follow their wrist / nose rigidly, scaled by the
size ratio. Points the tree cannot reach (the neck is missing) get the global placement.

Turning retargeting off is simply not calling `retarget`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.pose.keypoints import BODY, Person, PoseFrame, PoseSequence

ROOT = BODY["neck"]

# (parent, child) in breadth-first order from the neck, so a parent is placed before its child.
BONES: tuple[tuple[int, int], ...] = (
    (BODY["neck"], BODY["nose"]),
    (BODY["neck"], BODY["right_shoulder"]),
    (BODY["neck"], BODY["left_shoulder"]),
    (BODY["neck"], BODY["right_hip"]),
    (BODY["neck"], BODY["left_hip"]),
    (BODY["nose"], BODY["right_eye"]),
    (BODY["nose"], BODY["left_eye"]),
    (BODY["right_shoulder"], BODY["right_elbow"]),
    (BODY["left_shoulder"], BODY["left_elbow"]),
    (BODY["right_hip"], BODY["right_knee"]),
    (BODY["left_hip"], BODY["left_knee"]),
    (BODY["right_eye"], BODY["right_ear"]),
    (BODY["left_eye"], BODY["left_ear"]),
    (BODY["right_elbow"], BODY["right_wrist"]),
    (BODY["left_elbow"], BODY["left_wrist"]),
    (BODY["right_knee"], BODY["right_ankle"]),
    (BODY["left_knee"], BODY["left_ankle"]),
    (BODY["right_ankle"], BODY["right_toe"]),
    (BODY["left_ankle"], BODY["left_toe"]),
)
FOOT_POINTS = (BODY["right_ankle"], BODY["left_ankle"], BODY["right_toe"], BODY["left_toe"])
HAND_ANCHORS = {"left_hand": BODY["left_wrist"], "right_hand": BODY["right_wrist"]}
FACE_ANCHOR = BODY["nose"]


def _seen(points: np.ndarray, threshold: float) -> np.ndarray:
    return (points[:, 2] > 0) & (points[:, 2] >= threshold)


def _bone_lengths(body: np.ndarray, threshold: float) -> np.ndarray:
    """Length of every bone in BONES, NaN where an end is missing."""
    ok = _seen(body, threshold)
    lengths = np.full(len(BONES), np.nan)
    for k, (a, b) in enumerate(BONES):
        if ok[a] and ok[b]:
            lengths[k] = float(np.linalg.norm(body[b, :2] - body[a, :2]))
    return lengths


def _lowest_foot(body: np.ndarray, threshold: float) -> float | None:
    ok = _seen(body, threshold)
    ys = [body[i, 1] for i in FOOT_POINTS if ok[i]]
    return float(max(ys)) if ys else None


@dataclass(frozen=True)
class _Plan:
    """Everything fixed over the clip: per-bone length ratios and the global placement."""
    bone_ratio: np.ndarray          # per bone; the size ratio where either side is missing
    size_ratio: float
    driver_root: np.ndarray         # driver's neck on its first frame
    reference_root: np.ndarray      # where it lands, before the ground shift
    ground_shift: float             # added to every y


def _first_person(frame: PoseFrame) -> Person | None:
    return frame.people[0] if frame.people else None


def _size_ratio(ref_len: np.ndarray, drv_len: np.ndarray, reference: Person, driver: Person,
                threshold: float) -> float:
    # Summed over the bones both skeletons show: a body-height ratio that survives missing parts.
    both = ~np.isnan(ref_len) & ~np.isnan(drv_len) & (drv_len > 1e-6)
    if both.any():
        return float(ref_len[both].sum() / drv_len[both].sum())
    # No common bone: compare the heights of the visible points.
    def height(p: Person) -> float:
        ok = _seen(p.body, threshold)
        return float(np.ptp(p.body[ok, 1])) if ok.sum() >= 2 else 0.0
    h_ref, h_drv = height(reference), height(driver)
    return h_ref / h_drv if h_ref > 0 and h_drv > 0 else 1.0


def _driver_bone_lengths(seq: PoseSequence, threshold: float) -> np.ndarray:
    """Each bone's driver length on the first frame that shows it (NaN if never seen)."""
    lengths = np.full(len(BONES), np.nan)
    for frame in seq.frames:
        person = _first_person(frame)
        if person is None:
            continue
        now = _bone_lengths(person.body, threshold)
        fill = np.isnan(lengths) & ~np.isnan(now)
        lengths[fill] = now[fill]
        if not np.isnan(lengths).any():
            break
    return lengths


def _root(body: np.ndarray, threshold: float) -> np.ndarray | None:
    ok = _seen(body, threshold)
    if ok[ROOT]:
        return body[ROOT, :2].astype(np.float64)
    shoulders = [BODY["right_shoulder"], BODY["left_shoulder"]]
    if ok[shoulders].all():                       # the neck is the shoulder midpoint
        return body[shoulders, :2].mean(axis=0).astype(np.float64)
    return None


def _plan(seq: PoseSequence, reference: Person, threshold: float) -> _Plan | None:
    first = next((p for p in map(_first_person, seq.frames) if p is not None
                  and _root(p.body, threshold) is not None), None)
    ref_root = _root(reference.body, threshold)
    if first is None or ref_root is None:
        return None
    ref_len = _bone_lengths(reference.body, threshold)
    drv_len = _driver_bone_lengths(seq, threshold)
    size = _size_ratio(ref_len, _bone_lengths(first.body, threshold), reference, first, threshold)
    ratio = np.where(~np.isnan(ref_len) & ~np.isnan(drv_len) & (drv_len > 1e-6),
                     ref_len / np.where(drv_len > 1e-6, drv_len, 1.0), size)
    plan = _Plan(ratio, size, _root(first.body, threshold), ref_root, 0.0)
    # Ground line: shift so frame 0's lowest foot stands where the reference's lowest foot does.
    ref_ground = _lowest_foot(reference.body, threshold)
    placed = _place_body(first.body, plan, threshold)
    new_ground = _lowest_foot(placed, threshold)
    if ref_ground is not None and new_ground is not None:
        plan = _Plan(ratio, size, plan.driver_root, ref_root, ref_ground - new_ground)
    return plan


def _global(points: np.ndarray, plan: _Plan) -> np.ndarray:
    """The similarity placement: driver root -> reference root, scaled by the size ratio."""
    out = points.copy()
    out[:, :2] = plan.reference_root + plan.size_ratio * (points[:, :2] - plan.driver_root)
    out[:, 1] += plan.ground_shift
    return out


def _place_body(body: np.ndarray, plan: _Plan, threshold: float) -> np.ndarray:
    ok = _seen(body, threshold)
    out = _global(body.astype(np.float64), plan)
    root = _root(body, threshold)
    if root is None:                              # nothing to hang the tree on
        out[~ok] = 0.0
        return out
    source = body[:, :2].astype(np.float64)
    source[ROOT] = root                           # may be the shoulder midpoint
    placed = np.zeros(len(body), bool)
    out[ROOT, :2] = plan.reference_root + plan.size_ratio * (root - plan.driver_root)
    out[ROOT, 1] += plan.ground_shift
    placed[ROOT] = True
    for k, (a, b) in enumerate(BONES):
        if not (placed[a] and ok[b]):
            continue
        bone = source[b] - source[a]
        out[b, :2] = out[a, :2] + bone * plan.bone_ratio[k]   # driver direction, reference length
        placed[b] = True
    out[~ok] = 0.0                                # missing stays missing
    return out


def _follow(points: np.ndarray, anchor_old: np.ndarray | None, anchor_new: np.ndarray | None,
            plan: _Plan, threshold: float) -> np.ndarray:
    """Hands / face: rigid with their anchor and scaled by the size ratio."""
    ok = _seen(points, threshold)
    if anchor_old is None or anchor_new is None:
        out = _global(points.astype(np.float64), plan)
    else:
        out = points.astype(np.float64).copy()
        out[:, :2] = anchor_new + plan.size_ratio * (points[:, :2] - anchor_old)
    out[~ok] = 0.0
    return out


def _retarget_person(person: Person, plan: _Plan, threshold: float) -> Person:
    body = _place_body(person.body, plan, threshold)
    ok_old, ok_new = _seen(person.body, threshold), _seen(body, threshold)

    def anchor(i: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        if ok_old[i] and ok_new[i]:
            return person.body[i, :2].astype(np.float64), body[i, :2]
        return None, None

    hands = {name: _follow(getattr(person, name), *anchor(i), plan, threshold)
             for name, i in HAND_ANCHORS.items()}
    face = _follow(person.face, *anchor(FACE_ANCHOR), plan, threshold)
    as32 = lambda a: a.astype(np.float32)  # noqa: E731 - keep the dataclass's dtype
    return Person(as32(body), as32(hands["left_hand"]), as32(hands["right_hand"]), as32(face))


def retarget(seq: PoseSequence, reference: Person, reference_size: tuple[int, int],
             threshold: float = 0.3) -> PoseSequence:
    """The driving sequence moved onto the reference's body, in the reference image's pixels.

    Only the first person of each driving frame is retargeted (the reference is one character).
    With no usable neck in the driver or the reference, the sequence comes back rescaled only.
    """
    ref_w, ref_h = reference_size
    plan = _plan(seq, reference, threshold)
    frames = []
    for frame in seq.frames:
        person = _first_person(frame)
        if person is None:
            frames.append(PoseFrame(ref_w, ref_h, []))
        elif plan is None:
            frames.append(PoseFrame(ref_w, ref_h, [_rescaled(person, frame, reference_size)]))
        else:
            frames.append(PoseFrame(ref_w, ref_h, [_retarget_person(person, plan, threshold)]))
    return PoseSequence(frames, seq.fps)


def _rescaled(person: Person, frame: PoseFrame, size: tuple[int, int]) -> Person:
    scale = np.array([size[0] / frame.width, size[1] / frame.height, 1.0], np.float32)
    return Person(*(part * scale for part in person.parts().values()))
