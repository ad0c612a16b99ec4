"""The weightless Frame In/Out preview: cut-outs at their resampled positions, markers for objects
without one, the frame count, the border shown as a checkerboard, and frames streamed one by one."""
from __future__ import annotations

import numpy as np

from models.frameino import geometry as g
from models.frameino.preview import preview_frames

MAGENTA = (255, 0, 255)


def _scene() -> tuple[np.ndarray, np.ndarray, g.CanvasLayout]:
    layout = g.CanvasLayout(320, 192, (96, 32, 224, 160))  # a 128x128 image in the middle
    canvas, region = g.make_canvas(np.full((128, 128, 3), 40, np.uint8), layout)
    return canvas, region, layout


def _solid_cutout(colour: tuple[int, int, int], size: int = 10) -> np.ndarray:
    return np.dstack([np.full((size, size, 3), colour, np.uint8), np.full((size, size), 255, np.uint8)])


def test_cutout_follows_the_resampled_trajectory() -> None:
    canvas, region, _ = _scene()
    line = [[10, 96], [160, 96], [160, 20]]  # 150 right then 76 up; points start off the image
    frames = list(preview_frames(canvas, region, [[line]], {0: _solid_cutout(MAGENTA)}, 9))
    assert len(frames) == 9
    assert all(f.shape == (192, 320, 3) and f.dtype == np.uint8 for f in frames)
    positions = g.resample_line(line, 9)
    for t in (0, 4, 8):
        x, y = np.round(positions[t]).astype(int)
        assert tuple(frames[t][y, x]) == MAGENTA, t
        # the sprite is 40% of the 128 px image high (51 px): 30 px away is outside it
        assert tuple(frames[t][y, min(319, x + 30)]) != MAGENTA
    x0, y0 = np.round(positions[0]).astype(int)
    assert tuple(frames[8][y0, x0]) != MAGENTA  # it moved on


def test_object_centre_is_the_mean_of_its_lines() -> None:
    canvas, region, _ = _scene()
    lines = [[[100, 60], [200, 60]], [[100, 120], [200, 120]]]
    frame = next(iter(preview_frames(canvas, region, [lines], {0: _solid_cutout(MAGENTA)}, 5)))
    assert tuple(frame[90, 100]) == MAGENTA and tuple(frame[90, 200]) != MAGENTA


def test_objects_without_a_cutout_are_markers_in_their_colour() -> None:
    canvas, region, _ = _scene()
    trajs = [[[[20, 20], [20, 170]]], [[[300, 170], [300, 20]]]]
    frames = list(preview_frames(canvas, region, trajs, {}, 3))
    assert tuple(frames[0][20, 20]) == g.object_colour(0) and tuple(frames[0][170, 300]) == g.object_colour(1)
    assert tuple(frames[2][170, 20]) == g.object_colour(0) and tuple(frames[2][20, 300]) == g.object_colour(1)
    assert tuple(frames[2][20, 20]) != g.object_colour(0)


def test_border_is_distinct_and_paths_are_faint() -> None:
    canvas, region, _ = _scene()
    trajs = [[[[10, 180], [310, 180]]], [[[160, 10]]]]
    frame = next(iter(preview_frames(canvas, region, trajs, {}, 5)))
    corner = tuple(int(v) for v in frame[5, 5])
    assert corner in g.CHECKER_COLOURS  # not the canvas's black
    assert tuple(frame[96, 160]) == (40, 40, 40)  # the image itself untouched
    on_path = frame[180, 250].astype(int)  # object 0's path, far from where it is at frame 0
    assert 0 < on_path[0] - on_path[1] < 255 - 60  # tinted red, not solid red


def test_frames_are_streamed() -> None:
    canvas, region, _ = _scene()
    stream = preview_frames(canvas, region, [[[[0, 0], [300, 150]]]], {0: _solid_cutout(MAGENTA)}, 81)
    assert iter(stream) is stream  # a generator, not a list
    first = next(stream)
    assert first.shape == (192, 320, 3)
    assert sum(1 for _ in stream) == 80
