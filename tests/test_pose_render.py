"""Skeleton frames per target: palette colours at known pixels, what each target draws and omits,
missing points, scaling, and Wan-Animate's face crops. All poses are built from numbers."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from models.pose.keypoints import BODY, Person, PoseFrame, PoseSequence
from models.pose.render import face_boxes, face_crops, render_pose, render_sequence


def person(points: dict[str, tuple[float, float]], conf: float = 1.0) -> Person:
    p = Person()
    for name, (x, y) in points.items():
        p.body[BODY[name]] = (x, y, conf)
    return p


def frame(p: Person, w: int = 512, h: int = 512) -> PoseFrame:
    return PoseFrame(w, h, [p])


def px(img: np.ndarray, x: float, y: float) -> tuple[int, ...]:
    return tuple(int(v) for v in img[int(y), int(x)])


SHOULDER_LINE = {"neck": (256, 140), "right_shoulder": (196, 140)}


def with_face(p: Person, cx: float = 380, cy: float = 380, r: float = 30) -> Person:
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    p.face[:, 0], p.face[:, 1], p.face[:, 2] = cx + r * np.cos(angles), cy + r * np.sin(angles), 1.0
    return p


def with_hand(p: Person, x0: float = 60, y0: float = 400, step: float = 20) -> Person:
    # Wrist at (x0, y0); thumb edges run right horizontally, index finger runs down vertically.
    hand = p.left_hand
    hand[:, 2] = 1.0
    for k in range(5):
        hand[k] = (x0 + step * k, y0, 1.0)                 # 0 wrist, 1-4 thumb
    for k in range(4):
        hand[5 + k] = (x0, y0 + step * (k + 1), 1.0)       # 5-8 index finger
    for k in range(9, 21):
        hand[k] = (x0 + 200, y0 - 100 + 3 * k, 1.0)        # the rest far away
    return p


# ------------------------------------------------------------------------ VACE

def test_vace_limb_and_point_colours_are_the_palette_channel_reversed() -> None:
    img = render_pose(frame(person(SHOULDER_LINE)), "vace", (1024, 1024))
    # The limb neck->right shoulder is palette[0] = (255, 0, 0) at 60 %, channels reversed by VACE.
    assert px(img, 2 * 226, 2 * 140) == (0, 0, 153)
    assert px(img, 2 * 256, 2 * 140) == (0, 85, 255)      # neck circle: palette[1] reversed
    assert px(img, 2 * 196, 2 * 140) == (0, 170, 255)     # right shoulder: palette[2] reversed


def test_vace_draws_face_dots_and_no_hands() -> None:
    p = with_hand(with_face(person(SHOULDER_LINE)))
    img = render_pose(frame(p), "vace")
    assert px(img, p.face[0, 0], p.face[0, 1]) == (255, 255, 255)
    assert px(img, p.face[17, 0], p.face[17, 1]) == (255, 255, 255)
    hand_region = img[380:500, 40:160]
    assert hand_region.max() == 0


def test_vace_resized_from_its_1024_canvas_keeps_colours() -> None:
    img = render_pose(frame(person(SHOULDER_LINE)), "vace")       # 512 out of a 1024 canvas
    assert img.shape == (512, 512, 3)
    assert px(img, 226, 140) == (0, 0, 153)
    assert px(img, 256, 140) == (0, 85, 255)


# ------------------------------------------------------------------------ Wan-Animate

BIG = 1000   # Wan's widths follow the short side: stick 4, hand line 2 at 1000 px


def test_animate_body_palette_in_rgb_order_and_toes() -> None:
    pts = dict(SHOULDER_LINE, left_ankle=(600, 700), left_toe=(700, 700), right_ankle=(300, 800),
               right_toe=(200, 800))
    img = render_pose(frame(person(pts), BIG, BIG), "animate")
    assert px(img, 226, 140) == (153, 0, 0)
    assert px(img, 256, 140) == (255, 85, 0)
    # Left ankle -> left toe is Wan's 18th limb (palette[17] = (255, 0, 85) at 60 %) ...
    assert px(img, 650, 700) == (153, 0, 51)
    # ... right ankle -> right toe the 19th, in Wan's first toe colour (200, 200, 0) at 60 %.
    assert px(img, 250, 800) == (120, 120, 0)
    assert px(img, 700, 700) == (200, 200, 0)              # left toe = body point 18
    assert px(img, 200, 800) == (100, 100, 0)              # right toe = body point 19
    assert px(img, 600, 700) == (85, 0, 255)               # left ankle (13) = palette[13]


def test_animate_hand_edges_are_the_hsv_rainbow_and_points_blue() -> None:
    p = with_hand(person(SHOULDER_LINE))
    img = render_pose(frame(p, BIG, BIG), "animate")
    assert px(img, 70, 400) == (255, 0, 0)                 # edge 0 (wrist-thumb): hue 0
    assert px(img, 90, 400) == (255, 77, 0)                # edge 1: hue 1/20 (255 * 0.30000000000000004)
    assert px(img, 60, 410) == (204, 255, 0)               # edge 4 (wrist-index): hue 4/20
    assert px(img, 60, 430) == (128, 255, 0)               # edge 5: hue 5/20, 127.5 rounded to even
    assert px(img, 60, 400) == (0, 0, 255)                 # wrist point


def test_animate_draws_no_face() -> None:
    p = with_face(person(SHOULDER_LINE), 700, 300, 40)
    img = render_pose(frame(p, BIG, BIG), "animate")
    assert img[250:350, 650:750].max() == 0


# ------------------------------------------------------------------------ FramePrompt (OpenPose)

def test_frameprompt_is_openpose_full_in_rgb() -> None:
    p = with_hand(with_face(person(SHOULDER_LINE)))
    img = render_pose(frame(p), "frameprompt")
    assert px(img, 226, 140) == (153, 0, 0)                # RGB palette, like ControlNet's output
    assert px(img, 196, 140) == (255, 170, 0)
    assert px(img, p.face[5, 0], p.face[5, 1]) == (255, 255, 255)
    assert px(img, 60, 400) == (0, 0, 255)                 # hand points blue
    assert px(img, 60, 410) == (204, 255, 0)               # hand edges rainbow
    assert px(img, 70, 400) == (255, 0, 0)


# ------------------------------------------------------------------------ shared behaviour

ARM = {"neck": (256, 140), "right_shoulder": (196, 140), "right_elbow": (196, 220),
       "right_wrist": (196, 300)}


@pytest.mark.parametrize("target", ["vace", "animate", "frameprompt"])
def test_missing_points_and_their_limbs_are_not_drawn(target: str) -> None:
    p = person(ARM)
    p.body[BODY["right_elbow"], 2] = 0.0
    img = render_pose(frame(p), target)
    assert img[170:290, 186:207].max() == 0                # upper arm, elbow and forearm all absent
    assert img[135:146, 200:250].max() > 0                 # the shoulder line still drawn


@pytest.mark.parametrize("target", ["vace", "animate", "frameprompt"])
def test_confidence_threshold_parameter(target: str) -> None:
    p = person(ARM)
    p.body[BODY["right_elbow"], 2] = 0.2
    assert render_pose(frame(p), target)[215:226, 190:203].max() == 0
    assert render_pose(frame(p), target, threshold=0.1)[215:226, 190:203].max() > 0


def test_points_scale_with_the_output_size() -> None:
    img = render_pose(frame(person(SHOULDER_LINE), 512, 512), "animate", (1024, 768))
    assert img.shape == (768, 1024, 3)
    assert px(img, 256 * 2, 140 * 1.5) == (255, 85, 0)     # neck at (2x, 1.5y)
    assert px(img, 226 * 2, 140 * 1.5) == (153, 0, 0)
    assert img[130:150, 250:262].max() == 0                # nothing left at the unscaled spot


def test_render_sequence_streams() -> None:
    seq = PoseSequence([frame(person(SHOULDER_LINE))] * 3, 16)
    frames = render_sequence(seq, "vace")
    assert inspect.isgenerator(frames)
    assert [f.shape for f in frames] == [(512, 512, 3)] * 3


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError):
        render_pose(frame(person(SHOULDER_LINE)), "controlnet-xl")


# ------------------------------------------------------------------------ face crops

def red_disc_image(cx: int, cy: int, w: int = 640, h: int = 480) -> np.ndarray:
    img = np.full((h, w, 3), 40, np.uint8)
    yy, xx = np.mgrid[:h, :w]
    img[(xx - cx) ** 2 + (yy - cy) ** 2 < 12 ** 2] = (255, 0, 0)
    return img


def red_centroid(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero((img[..., 0] > 200) & (img[..., 1] < 60))
    return float(xs.mean()), float(ys.mean())


def test_face_crops_are_512_and_centred_on_the_face() -> None:
    p = with_face(person(SHOULDER_LINE), 400, 200, 50)
    seq = PoseSequence([frame(p, 640, 480)] * 3, 16)
    crops = list(face_crops([red_disc_image(400, 200)] * 3, seq))
    assert len(crops) == 3 and all(c.shape == (512, 512, 3) for c in crops)
    x, y = red_centroid(crops[1])
    assert abs(x - 256) < 4
    # Wan's box has 3/4 of its extra height above the face, so the centre sits a little low:
    # (0.75 g + 0.5) / (1 + g) of the height, g = sqrt(1.3) - 1 (~270 px, not 256).
    g = np.sqrt(1.3) - 1
    assert abs(y - 512 * (0.75 * g + 0.5) / (1 + g)) < 6


def test_face_crops_follow_the_frame_resolution() -> None:
    p = with_face(person(SHOULDER_LINE), 400, 200, 50)
    seq = PoseSequence([frame(p, 640, 480)], 16)
    crop = next(face_crops([red_disc_image(800, 400, 1280, 960)], seq, size=256))
    assert crop.shape == (256, 256, 3)
    assert abs(red_centroid(crop)[0] - 128) < 3


def test_face_crop_falls_back_to_nose_eyes_ears() -> None:
    head = {"nose": (400, 205), "right_eye": (385, 190), "left_eye": (415, 190), "right_ear": (360, 195),
            "left_ear": (440, 195), "neck": (400, 280)}
    seq = PoseSequence([frame(person(head), 640, 480)], 16)
    box = face_boxes(seq)[0]
    assert box[0] < 360 < 440 < box[2] and box[1] < 190 and box[3] > 205
    crop = next(face_crops([red_disc_image(400, 200)], seq))
    x, y = red_centroid(crop)
    assert abs(x - 256) < 20 and 150 < y < 360


def test_face_box_is_smoothed_over_time() -> None:
    frames = [frame(with_face(person(SHOULDER_LINE), 400 + (8 if t % 2 else -8), 200, 50), 640, 480)
              for t in range(12)]
    seq = PoseSequence(frames, 16)
    raw = face_boxes(seq, smooth_radius=0)
    smooth = face_boxes(seq, smooth_radius=2)
    assert np.std(raw[2:-2, 0]) > 7
    assert np.std(smooth[2:-2, 0]) < 0.3 * np.std(raw[2:-2, 0])
    assert np.allclose(smooth[:, 2] - smooth[:, 0], raw[:, 2] - raw[:, 0])   # size kept
