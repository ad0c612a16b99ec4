"""The puppet preview: the reference's own pose gives back the reference image (plus skeleton), a
moved arm moves the arm's pixels, frames stream. Speed is printed, not asserted."""
from __future__ import annotations

import inspect
import time

import numpy as np

from models.pose.keypoints import BODY, Person, PoseFrame, PoseSequence
from models.pose.puppet import puppet_frames
from models.pose.render import render_pose

SIZE = 320
STANDING = {
    "nose": (160, 60), "neck": (160, 90), "right_shoulder": (130, 90), "right_elbow": (120, 140),
    "right_wrist": (115, 190), "left_shoulder": (190, 90), "left_elbow": (200, 140), "left_wrist": (205, 190),
    "right_hip": (145, 180), "right_knee": (143, 240), "right_ankle": (142, 295), "left_hip": (175, 180),
    "left_knee": (177, 240), "left_ankle": (178, 295), "right_eye": (154, 54), "left_eye": (166, 54),
    "right_ear": (147, 58), "left_ear": (173, 58), "left_toe": (186, 302), "right_toe": (134, 302),
}
GREEN = np.array([0, 220, 0])


def person(points: dict[str, tuple[float, float]], scale: float = 1.0) -> Person:
    p = Person()
    for name, (x, y) in points.items():
        p.body[BODY[name]] = (x * scale, y * scale, 1.0)
    return p


def textured_image(size: int = SIZE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 220, (size // 8, size // 8, 3)).astype(np.uint8)
    return np.kron(coarse, np.ones((8, 8, 1), np.uint8))      # blocks, so bilinear error would show


def green_forearm_image() -> np.ndarray:
    """Grey, with the right forearm (elbow (120,140) -> wrist (115,190)) painted green, 16 px wide."""
    img = np.full((SIZE, SIZE, 3), 100, np.uint8)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    e, w = np.array([120.0, 140.0]), np.array([115.0, 190.0])
    d = (w - e) / np.linalg.norm(w - e)
    rel_x, rel_y = xx - e[0], yy - e[1]
    along = rel_x * d[0] + rel_y * d[1]
    across = np.abs(-rel_x * d[1] + rel_y * d[0])
    img[(along > 8) & (along < np.linalg.norm(w - e) - 8) & (across < 8)] = GREEN
    return img


def is_green(pixel: np.ndarray) -> bool:
    return bool(np.abs(pixel.astype(int) - GREEN).max() < 40)


def test_own_pose_gives_back_the_reference_image_with_the_skeleton() -> None:
    img = textured_image()
    ref = person(STANDING)
    seq = PoseSequence([PoseFrame(SIZE, SIZE, [ref.copy()])] * 2, 16)
    out = list(puppet_frames(img, ref, seq, "vace"))
    assert len(out) == 2 and out[0].shape == img.shape and out[0].dtype == np.uint8
    skeleton = render_pose(PoseFrame(SIZE, SIZE, [ref]), "vace")
    drawn = skeleton.max(axis=2) > 0
    assert drawn.mean() > 0.005                                # the skeleton is really on it
    off = ~drawn
    assert np.abs(out[0][off].astype(int) - img[off]).max() <= 2
    assert np.array_equal(out[0][drawn], skeleton[drawn])


def test_moved_arm_moves_the_arm_pixels() -> None:
    img = green_forearm_image()
    ref = person(STANDING)
    # Frame 1: the right forearm swings out to the side, horizontal, same length.
    length = float(np.hypot(5, 50))
    raised = dict(STANDING, right_wrist=(120 - length, 140))
    seq = PoseSequence([PoseFrame(SIZE, SIZE, [ref.copy()]), PoseFrame(SIZE, SIZE, [person(raised)])], 16)
    still, moved = list(puppet_frames(img, ref, seq, "animate"))
    # Sample a few px beside the bone (the skeleton covers its centre line).
    new_spots = [(int(120 - t * length), 140 + 5) for t in (0.35, 0.5, 0.65)]
    old_spots = [(int(120 - 5 * t + 5), int(140 + 50 * t)) for t in (0.35, 0.5, 0.65)]
    assert all(is_green(still[y, x]) for x, y in old_spots)
    assert not any(is_green(still[y, x]) for x, y in new_spots)
    assert all(is_green(moved[y, x]) for x, y in new_spots)
    assert not any(is_green(moved[y, x]) for x, y in old_spots)
    # The rest of the body did not move: the left forearm region is unchanged.
    np.testing.assert_array_equal(moved[150:180, 210:230], still[150:180, 210:230])


def test_puppet_frames_stream() -> None:
    img = textured_image()
    ref = person(STANDING)
    seq = PoseSequence([PoseFrame(SIZE, SIZE, [ref.copy()]) for _ in range(40)], 16)
    frames = puppet_frames(img, ref, seq)
    assert inspect.isgenerator(frames)
    assert next(frames).shape == (SIZE, SIZE, 3)


def test_switch_off_uses_the_driving_points_as_they_are() -> None:
    img = textured_image()
    ref = person(STANDING)
    # Driver at half the resolution: without retargeting its points are only rescaled, so the
    # reference's own pose at half scale comes back as the reference image.
    half = PoseSequence([PoseFrame(SIZE // 2, SIZE // 2, [person(STANDING, 0.5)])], 16)
    out = next(puppet_frames(img, ref, half, "frameprompt", retarget_first=False))
    drawn = render_pose(PoseFrame(SIZE, SIZE, [ref]), "frameprompt").max(axis=2) > 0
    assert np.abs(out[~drawn].astype(int) - img[~drawn]).max() <= 2


def test_speed_at_512_is_printed() -> None:
    img = textured_image(512, seed=1)
    ref = person(STANDING, 512 / SIZE)
    frames = []
    for t in range(24):
        moved = dict(STANDING, right_wrist=(115 - 2 * t, 190 - 3 * t), left_knee=(177 + t, 240))
        frames.append(PoseFrame(SIZE, SIZE, [person(moved)]))
    seq = PoseSequence(frames, 16)
    start = time.perf_counter()
    count = sum(1 for _ in puppet_frames(img, ref, seq, "vace"))
    per_frame = (time.perf_counter() - start) / count
    print(f"\npuppet preview 512x512 (retarget + warp + vace skeleton): {per_frame * 1000:.1f} ms/frame")
    assert count == 24
