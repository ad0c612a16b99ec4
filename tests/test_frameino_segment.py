"""Identity cut-outs offline: mediapipe's selfie segmentation on a real photo of a person, GrabCut on
a synthetic object, uploaded alpha and masks, and FrameINO's identity frame (resize + centre pad)."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from models.frameino import segment as s

pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")

# Boxes read off scikit-image's astronaut (512x512) on a 64 px grid: (x0, y0, x1, y1).
FACE = (185, 65, 265, 150)
SUIT_LEFT = (60, 300, 120, 440)        # the orange suit, her right arm
SUIT_CHEST = (150, 300, 230, 340)
FLAG_CORNER = (0, 0, 40, 60)           # the flag, top left
WALL = (315, 30, 360, 130)             # grey wall right of her head
ROCKET = (395, 60, 430, 230)           # the model shuttle


def _cover(mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    return float(mask[y0:y1, x0:x1].mean())


def test_person_mask_covers_the_astronaut_not_the_background() -> None:
    mask = s.person_mask(skimage_data.astronaut())
    assert mask.shape == (512, 512) and mask.dtype == bool
    for box in (FACE, SUIT_LEFT, SUIT_CHEST):
        assert _cover(mask, box) > 0.9, box
    for box in (FLAG_CORNER, WALL, ROCKET):
        assert _cover(mask, box) < 0.1, box


def test_auto_picks_the_person_on_a_photo_of_one() -> None:
    image = skimage_data.astronaut()
    cutout, mask = s.cut_out(image, "auto")
    assert np.array_equal(mask, s.person_mask(image))
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    assert cutout.shape == (rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1, 4)  # cropped to the person
    assert (cutout[:, :, 3] > 0).sum() == mask.sum()


def _disk_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red disk (r 55 at 170, 125) on a textured green-grey background, 320x240."""
    rng = np.random.default_rng(seed)
    ys, xs = np.indices((240, 320))
    image = np.empty((240, 320, 3), np.float32)
    stripes = 30 * np.sin(xs / 6.0) + 20 * np.cos(ys / 9.0)
    image[..., 0] = 90 + stripes
    image[..., 1] = 130 + stripes
    image[..., 2] = 100 - stripes
    image += rng.normal(0, 12, image.shape)
    disk = (xs - 170) ** 2 + (ys - 125) ** 2 <= 55 ** 2
    image[disk] = (210, 40, 50) + rng.normal(0, 12, (disk.sum(), 3))
    return np.clip(image, 0, 255).astype(np.uint8), disk


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("kwargs", [
    {"box": (100, 55, 240, 195)},          # a box around the disk
    {"click": (170, 125)},                 # a click on it
    {},                                    # neither: the centre box
])
def test_grabcut_finds_a_disk(kwargs) -> None:
    image, disk = _disk_scene()
    cutout, mask = s.cut_out(image, "grabcut", **kwargs)
    assert _iou(mask, disk) > 0.8
    assert cutout.shape[2] == 4 and all(abs(n - 111) <= 8 for n in cutout.shape[:2])  # cropped to the disk


def test_auto_without_a_person_falls_back_to_grabcut() -> None:
    image, disk = _disk_scene(1)
    _, mask = s.cut_out(image, "auto")
    assert _iou(mask, disk) > 0.8


def test_uploaded_alpha_is_the_mask() -> None:
    image, disk = _disk_scene()
    rgba = np.dstack([image, np.where(disk, 255, 0).astype(np.uint8)])
    for method in ("mask", "auto"):
        cutout, mask = s.cut_out(rgba, method)
        assert np.array_equal(mask, disk)
        assert cutout.shape == (111, 111, 4)
        assert np.array_equal(cutout[:, :, :3][cutout[:, :, 3] > 0], image[disk])


def test_uploaded_mask_image_any_form_and_size() -> None:
    image, disk = _disk_scene()
    white = np.where(disk, 255, 0).astype(np.uint8)
    for given in (np.dstack([white] * 3), disk, white):
        _, mask = s.cut_out(image, "mask", mask=given)
        assert np.array_equal(mask, disk)
    _, half = s.cut_out(image, "mask", mask=white[::2, ::2])  # a mask at half size is scaled up
    assert _iou(half, disk) > 0.95


def test_mask_method_without_a_mask_names_the_field() -> None:
    image, _ = _disk_scene()
    with pytest.raises(InputError) as err:
        s.cut_out(image, "mask")
    assert err.value.field == "identity_mask"
    with pytest.raises(InputError) as err:
        s.cut_out(image, "sam")
    assert err.value.field == "segmentation"
    with pytest.raises(InputError) as err:
        s.cut_out(image, "grabcut", box=(500, 500, 600, 600))
    assert err.value.field == "identity_box"


@pytest.mark.parametrize("ref_hw, canvas_wh, top, left, new_hw", [
    # tall 100x50 into 320x160: m = 100 -> (int(100*160/100), int(50*320/100)) = (160, 160), pad 80 left/right
    ((100, 50), (320, 160), 0, 80, (160, 160)),
    # wide 40x100 into 320x160: (int(40*1.6), 320) = (64, 320), pad 48 top / 48 bottom
    ((40, 100), (320, 160), 48, 0, (64, 320)),
    # an odd remainder goes to the bottom: 161 - 64 = 97 -> 48 above, 49 below
    ((40, 100), (320, 161), 48, 0, (64, 320)),
])
def test_identity_frame_resizes_by_h_and_w_over_max_and_centre_pads(ref_hw, canvas_wh, top, left, new_hw) -> None:
    h, w = ref_hw
    cutout = np.dstack([np.full((h, w, 3), 200, np.uint8), np.full((h, w), 255, np.uint8)])
    frame = s.identity_frame(cutout, *canvas_wh)
    assert frame.shape == (canvas_wh[1], canvas_wh[0], 3) and frame.dtype == np.uint8
    lit = frame.any(axis=2)
    rows, cols = np.flatnonzero(lit.any(1)), np.flatnonzero(lit.any(0))
    assert (rows[0], cols[0]) == (top, left)
    assert (rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == new_hw
    assert (frame[lit] == 200).all()


def test_identity_frame_puts_transparent_pixels_on_black() -> None:
    cutout = np.zeros((10, 10, 4), np.uint8)
    cutout[..., :3] = 255
    cutout[:, 5:, 3] = 255  # right half opaque
    frame = s.identity_frame(cutout, 64, 64)
    assert not frame[:, :28].any() and (frame[:, 36:] == 255).all()


def test_checkerboard_preview_shows_what_was_kept() -> None:
    cutout = np.zeros((24, 24, 4), np.uint8)
    cutout[:12, :, :3] = (10, 20, 30)
    cutout[:12, :, 3] = 255
    preview = s.checkerboard_preview(cutout, cell=12)
    assert (preview[:12] == (10, 20, 30)).all()
    assert {int(v) for v in np.unique(preview[12:])} == {190, 235}
