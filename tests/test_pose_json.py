"""OpenPose JSON: exact round trips, the variants other tools write, and errors that say the fix."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import InputError
from models.pose.keypoints import BODY, Person, PoseFrame, PoseSequence
from models.pose.openpose_json import (
    dumps_openpose,
    frame_from_openpose,
    frame_to_openpose,
    loads_openpose,
    sequence_from_openpose,
    sequence_to_openpose,
)


def _random_person(rng: np.random.Generator, width: int, height: int) -> Person:
    person = Person()
    for points in person.parts().values():
        points[:, 0] = rng.uniform(0, width, len(points))
        points[:, 1] = rng.uniform(0, height, len(points))
        points[:, 2] = rng.uniform(0.05, 1.0, len(points))
        points[rng.random(len(points)) < 0.2] = 0.0      # some missing points, written as 0, 0, 0
    person.right_hand[:] = 0.0                           # a hand that was not found at all
    return person


def _sequence(seed: int = 0, frames: int = 4) -> PoseSequence:
    rng = np.random.default_rng(seed)
    return PoseSequence([PoseFrame(640, 360, [_random_person(rng, 640, 360) for _ in range(i % 3)])
                         for i in range(frames)], fps=12.5)


def _assert_same(a: PoseSequence, b: PoseSequence) -> None:
    assert a.fps == b.fps and len(a) == len(b)
    for fa, fb in zip(a.frames, b.frames):
        assert (fa.width, fa.height, len(fa.people)) == (fb.width, fb.height, len(fb.people))
        for pa, pb in zip(fa.people, fb.people):
            for name, points in pa.parts().items():
                assert pb.parts()[name].dtype == np.float32
                np.testing.assert_array_equal(points, pb.parts()[name], err_msg=name)


@pytest.mark.parametrize("normalized", [False, True])
def test_sequence_to_json_and_back_is_exact(normalized: bool) -> None:
    sequence = _sequence()
    text = dumps_openpose(sequence, normalized=normalized)
    _assert_same(sequence, loads_openpose(text))


@pytest.mark.parametrize("normalized", [False, True])
def test_json_to_sequence_and_back_is_identical(normalized: bool) -> None:
    written = json.loads(dumps_openpose(_sequence(seed=3), normalized=normalized))
    again = sequence_to_openpose(sequence_from_openpose(written), normalized=normalized)
    assert json.dumps(again) == json.dumps(written)


def test_written_frames_have_the_openpose_shape() -> None:
    frame = json.loads(dumps_openpose(_sequence(frames=2)))[1]
    assert frame["version"] == 1.3 and frame["canvas_width"] == 640 and frame["canvas_height"] == 360
    person = frame["people"][0]
    assert len(person["pose_keypoints_2d"]) == 18 * 3
    assert len(person["face_keypoints_2d"]) == 70 * 3
    assert len(person["hand_left_keypoints_2d"]) == len(person["hand_right_keypoints_2d"]) == 21 * 3
    assert len(person["toe_keypoints_2d"]) == 2 * 3


def test_pupils_are_eye_centres_or_missing() -> None:
    person = Person()
    person.face[36:42] = [[10, 20, 0.9], [12, 18, 0.8], [14, 18, 0.9], [16, 20, 1], [14, 22, 1], [12, 22, 1]]
    person.face[42:48] = [[30, 20, 1]] * 6
    person.face[45, 2] = 0.0                                    # one left-eye point missing
    face = frame_to_openpose(PoseFrame(100, 100, [person]))["people"][0]["face_keypoints_2d"]
    np.testing.assert_allclose(face[68 * 3:69 * 3], [13.0, 20.0, 0.8], rtol=1e-6)
    assert face[69 * 3:] == [0.0, 0.0, 0.0]


def test_controlnet_style_normalised_input_is_scaled_to_pixels() -> None:
    # controlnet_aux / ComfyUI: coordinates divided by the canvas size, 68-point face, no extras.
    body = [0.0] * 54
    body[0:3] = [0.5, 0.25, 1.0]                 # nose
    body[5 * 3:5 * 3 + 3] = [0.75, 0.5, 1.0]     # left shoulder
    data = {"people": [{"pose_keypoints_2d": body, "face_keypoints_2d": [0.5, 0.3, 1.0] * 68,
                        "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None}],
            "canvas_width": 800, "canvas_height": 400}
    frame = frame_from_openpose(data)
    person = frame.people[0]
    np.testing.assert_allclose(person.body[BODY["nose"]], [400, 100, 1])
    np.testing.assert_allclose(person.body[BODY["left_shoulder"]], [600, 200, 1])
    np.testing.assert_allclose(person.face[0], [400, 120, 1])
    assert not person.left_hand[:, 2].any() and not person.body[BODY["left_toe"], 2]


def test_pixel_input_without_marker_stays_in_pixels() -> None:
    body = [0.0] * 54
    body[0:3] = [320.5, 100.25, 0.7]
    frame = frame_from_openpose({"people": [{"pose_keypoints_2d": body}], "canvas_width": 640, "canvas_height": 360})
    np.testing.assert_allclose(frame.people[0].body[0], [320.5, 100.25, 0.7], rtol=1e-6)


def test_body25_maps_hips_and_big_toes_and_skips_midhip() -> None:
    points = np.zeros((25, 3))
    points[:, 0] = np.arange(25) * 10 + 5          # x encodes the BODY_25 index
    points[:, 1], points[:, 2] = 50, 0.9
    frame = frame_from_openpose({"people": [{"pose_keypoints_2d": points.ravel().tolist()}]}, size=(400, 300))
    x = frame.people[0].body[:, 0]
    index = lambda name: (x[BODY[name]] - 5) / 10  # noqa: E731
    assert [index(n) for n in ("nose", "neck", "right_wrist", "left_wrist")] == [0, 1, 4, 7]
    assert [index(n) for n in ("right_hip", "right_ankle", "left_hip", "left_ankle")] == [9, 11, 12, 14]
    assert [index(n) for n in ("right_eye", "left_ear")] == [15, 18]
    assert index("left_toe") == 19 and index("right_toe") == 22   # LBigToe, RBigToe
    assert (frame.width, frame.height) == (400, 300)


def test_a_single_frame_dict_reads_as_a_one_frame_sequence() -> None:
    frame = frame_to_openpose(_sequence(frames=2).frames[1], fps=24)
    sequence = sequence_from_openpose(frame)
    assert len(sequence) == 1 and sequence.fps == 24.0


@pytest.mark.parametrize("data,field,words", [
    ({"people": [{"pose_keypoints_2d": [1.0] * 50}], "canvas_width": 10, "canvas_height": 10},
     "pose_json[0].people[0].pose_keypoints_2d", "expected 54"),
    ({"people": [{"pose_keypoints_2d": ["a"] * 54}], "canvas_width": 10, "canvas_height": 10},
     "pose_json[0].people[0].pose_keypoints_2d", "flat list of numbers"),
    ({"people": [{"face_keypoints_2d": [1.0] * 9}], "canvas_width": 10, "canvas_height": 10},
     "pose_json[0].people[0].face_keypoints_2d", "204 (68 points) or 210 (70 points)"),
    ({"people": [], "canvas_height": 10}, "pose_json[0].canvas_width", "is missing"),
    ({"people": [], "canvas_width": -3, "canvas_height": 10}, "pose_json[0].canvas_width", "positive"),
    ({"people": {}, "canvas_width": 10, "canvas_height": 10}, "pose_json[0].people", "list of people"),
    ({"people": [], "canvas_width": 10, "canvas_height": 10}, "pose_json[0].fps", "frame rate"),
    ([], "pose_json", "non-empty list"),
])
def test_bad_input_names_the_field_and_the_fix(data, field: str, words: str) -> None:
    with pytest.raises(InputError) as err:
        sequence_from_openpose(data)
    assert err.value.field == field and words in str(err.value) and err.value.fix


def test_bad_json_text_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        loads_openpose("{\"people\": [", fps=10)


def test_nan_is_rejected() -> None:
    with pytest.raises(InputError, match="NaN"):
        frame_from_openpose({"people": [{"hand_left_keypoints_2d": [float("nan")] * 63}], "canvas_width": 5,
                             "canvas_height": 5})
