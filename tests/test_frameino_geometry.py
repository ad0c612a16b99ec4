"""FrameINO geometry: the canvas (sides of 32, where the image sits, presets, %, the model's size,
crop back), trajectories (checks, arc-length resampling, FrameINO's rendering) and the editor's
drawing. Every expectation is computed from the numbers in the test, not read from the code."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from models.frameino import geometry as g

RED, YELLOW, GREEN, CYAN = (255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255)


# ------------------------------------------------------------------------------------------ canvas

def test_frameino_example_canvas_is_kept_as_given() -> None:
    # FrameINO's horse example: 736x480 image, top 128, bottom 96, left 224, right 320 -> 1280x704.
    layout = g.canvas_layout(736, 480, g.Expansion(128, 96, 224, 320))
    assert (layout.width, layout.height) == (1280, 704)
    assert layout.box == (224, 128, 960, 608)


@pytest.mark.parametrize("w, h, exp, size, box", [
    # right not asked: all 10 extra px go left, the image stays flush right; 500 -> 512 split 6/6
    (700, 500, g.Expansion(left=90), (800, 512), (100, 6, 800, 506)),
    # 740 -> 768: the 28 extra split 3:1 like the asked 30:10 -> left 30 + 21
    (700, 500, g.Expansion(left=30, right=10), (768, 512), (51, 6, 751, 506)),
    # nothing asked: 100 -> 128, image centred
    (100, 64, g.Expansion(), (128, 64), (14, 0, 114, 64)),
])
def test_canvas_sides_round_up_to_32_keeping_the_image_where_asked(w, h, exp, size, box) -> None:
    layout = g.canvas_layout(w, h, exp)
    assert (layout.width, layout.height) == size
    assert layout.width % 32 == 0 and layout.height % 32 == 0
    assert layout.box == box
    assert layout.box_size == (w, h)


def test_percent_units_are_of_the_matching_side() -> None:
    # 25% of width 400 = 100 each side -> 600 -> 608 (4 + 4); 10% of height 200 = 20 -> 240 -> 256 (8 + 8)
    layout = g.canvas_layout(400, 200, g.Expansion(top=10, bottom=10, left=25, right=25, unit="%"))
    assert (layout.width, layout.height) == (608, 256)
    assert layout.box == (104, 28, 504, 228)


def test_presets() -> None:
    assert set(g.EXPANSION_PRESETS) >= {"expand left", "expand right", "all round"}
    w, h = 736, 480
    left = g.canvas_layout(w, h, g.EXPANSION_PRESETS["expand left"])
    right = g.canvas_layout(w, h, g.EXPANSION_PRESETS["expand right"])
    around = g.canvas_layout(w, h, g.EXPANSION_PRESETS["all round"])
    for layout in (left, right, around):
        assert layout.width % 32 == 0 and layout.height % 32 == 0
    assert left.box[2] == left.width and left.box[0] >= w // 3      # room on the left only
    assert right.box[0] == 0 and right.width - right.box[2] >= w // 3
    x0, y0, x1, y1 = around.box
    assert min(x0, y0, around.width - x1, around.height - y1) >= 0.15 * h


@pytest.mark.parametrize("exp, field", [
    (g.Expansion(top=-1), "expand_top"),
    (g.Expansion(right=float("nan")), "expand_right"),
    (g.Expansion(unit="cm"), "expand_unit"),
])
def test_bad_expansion_names_the_field(exp, field) -> None:
    with pytest.raises(InputError) as err:
        g.canvas_layout(100, 100, exp)
    assert err.value.field == field and err.value.fix


def test_fit_to_model_16_9_is_exactly_the_training_size_and_points_follow() -> None:
    layout = g.canvas_layout(1472, 960, g.Expansion(256, 192, 448, 640))  # the horse example at 2x
    fitted, scale = g.fit_to_model(layout, (1280, 704))
    assert (fitted.width, fitted.height) == (1280, 704)
    assert scale == (0.5, 0.5)
    assert fitted.box == (224, 128, 960, 608)
    assert g.scale_trajectories([[[[100, 50], [-20, 900]]]], scale) == [[[[50, 25], [-10, 450]]]]


def test_fit_to_model_other_aspects_keep_area_and_multiples() -> None:
    layout = g.canvas_layout(500, 500, g.Expansion())  # 512x512
    fitted, (sx, sy) = g.fit_to_model(layout, (1280, 704))
    assert fitted.width % 32 == 0 and fitted.height % 32 == 0
    assert abs(fitted.width * fitted.height / (1280 * 704) - 1) < 0.1
    assert abs(fitted.width / fitted.height - 1) < 0.05
    assert (sx, sy) == (fitted.width / 512, fitted.height / 512)
    x0, y0, x1, _ = fitted.box
    assert abs(x0 - 6 * sx) <= 0.5 and abs(x1 - 506 * sx) <= 0.5 and abs(y0 - 6 * sy) <= 0.5


def test_make_canvas_and_crop_back_are_exact() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    layout = g.canvas_layout(70, 50, g.Expansion(top=5, left=20, right=3))
    canvas, region = g.make_canvas(image, layout)
    x0, y0, x1, y1 = layout.box
    assert canvas.shape == (layout.height, layout.width, 3) and region.shape == canvas.shape[:2]
    assert np.array_equal(canvas[y0:y1, x0:x1], image)
    assert region.sum() == 50 * 70 and region[y0:y1, x0:x1].all()
    assert not canvas[~region].any()  # pasted on black
    assert np.array_equal(g.crop_back(canvas[None], layout)[0], image)
    video = rng.integers(0, 256, (3, layout.height, layout.width, 3), dtype=np.uint8)
    assert np.array_equal(g.crop_back(video, layout), video[:, y0:y1, x0:x1])
    assert g.crop_back(video, layout, size=(35, 25)).shape == (3, 25, 35, 3)
    with pytest.raises(ValueError):
        g.crop_back(video[:, :-1], layout)


def test_make_canvas_resizes_an_image_to_its_box() -> None:
    layout = g.CanvasLayout(64, 64, (16, 16, 48, 48))
    canvas, region = g.make_canvas(np.full((64, 64, 3), 200, np.uint8), layout)
    assert (canvas[16:48, 16:48] == 200).all() and not canvas[:16].any() and region.sum() == 32 * 32


def test_editing_view_marks_the_border_not_the_image() -> None:
    image = np.zeros((32, 32, 3), np.uint8)  # a black image: the border must still look different
    canvas, region = g.make_canvas(image, g.CanvasLayout(96, 64, (32, 16, 64, 48)))
    view = g.editing_view(canvas, region)
    assert not view[region].any()
    border = view[~region]
    assert {tuple(c) for c in np.unique(border.reshape(-1, 3), axis=0)} == set(g.CHECKER_COLOURS)


# ------------------------------------------------------------------------------------ trajectories

@pytest.mark.parametrize("bad", [
    "not a list", [], [[[[1]]]], [[[[1, "a"]]]], [[[[1, 2, 3]]]], [[[[1, float("inf")]]]], [[[]]], [[5]],
    [[[[True, 2]]]],
])
def test_validation_errors_name_the_field_and_the_fix(bad) -> None:
    with pytest.raises(InputError) as err:
        g.validate_trajectories(bad, field="paths")
    assert err.value.field == "paths"
    assert "[object][line][point][x, y]" in err.value.fix or "object" in err.value.fix


def test_validation_drops_empty_lines_and_keeps_object_indices() -> None:
    data = [[[[1, 2], [3, 4]], []], [[[-50, 9000.5]]]]
    assert g.validate_trajectories(data) == [[[[1.0, 2.0], [3.0, 4.0]]], [[[-50.0, 9000.5]]]]


def test_resample_by_arc_length_equal_spacing_and_endpoints() -> None:
    # An L: 30 px right then 40 px down (length 70); 8 frames -> every 10 px along the path.
    pts = [(0, 0), (30, 0), (30, 0), (30, 40)]  # a repeated click adds no length
    out = g.resample_line(pts, 8)
    assert out.shape == (8, 2)
    assert np.allclose(out[0], (0, 0)) and np.allclose(out[-1], (30, 40))
    along = np.where(out[:, 1] == 0, out[:, 0], 30 + out[:, 1])  # arc position of each sample
    assert np.allclose(along, np.arange(0, 71, 10))


def test_resample_static_point() -> None:
    assert np.array_equal(g.resample_line([(5, 7)], 4), np.array([[5, 7]] * 4, float))
    assert np.array_equal(g.resample_line([(5, 7), (5, 7)], 3), np.array([[5, 7]] * 3, float))


def test_all_lines_of_an_object_run_at_once() -> None:
    tracks = g.object_tracks([[[[0, 0], [90, 0]], [[0, 50], [0, 140]]]], 10)
    assert len(tracks) == 1 and len(tracks[0]) == 2
    assert np.allclose(tracks[0][0][9], (90, 0)) and np.allclose(tracks[0][1][9], (0, 140))


def test_blur_kernel_is_frameinos_gaussian() -> None:
    k = g.blur_kernel()
    assert k.shape == (45, 45) and abs(k.sum() - 1) < 1e-12
    one_d = np.exp(-np.arange(-22, 23) ** 2 / 18.0)
    assert np.allclose(k, np.outer(one_d, one_d) / np.outer(one_d, one_d).sum())


def _row_crossings(channel_row: np.ndarray) -> tuple[int, int]:
    dark = np.flatnonzero(channel_row < 127.5)
    return int(dark[0]), int(dark[-1])


@pytest.mark.parametrize("height, half", [(384, 7), (704, 12), (768, 14)])
def test_square_half_side_follows_int_7_h_over_384(height: int, half: int) -> None:
    assert g.dot_half_side(height) == int(7 * height / 384) == half
    x, y = 200, height // 2
    frame = g.render_trajectories([[[[x, y]]]], 400, height, 1)[0]
    # A blurred step is half-way at its edge: the square covers columns x-half .. x+half-1.
    assert _row_crossings(frame[y, :, 1].astype(float)) == (x - half, x + half - 1)
    assert _row_crossings(frame[:, x, 2].astype(float)) == (y - half, y + half - 1)


def test_one_colour_per_object_in_frameinos_order() -> None:
    trajs = [[[[40, 40]]], [[[120, 40]]], [[[200, 40]]], [[[280, 40]]]]
    frame = g.render_trajectories(trajs, 320, 384, 1)[0]
    for (x, _), colour in zip([(40, 0), (120, 0), (200, 0), (280, 0)], (RED, YELLOW, GREEN, CYAN)):
        centre = frame[40, x].astype(int)
        assert np.all(np.abs(centre - colour) <= 30), (x, centre, colour)


def test_blur_softens_edges_and_background_stays_white() -> None:
    frame = g.render_trajectories([[[[100, 100]]]], 320, 384, 1)[0]
    green = frame[100, :, 1].astype(int)
    soft = green[80:93]  # the ramp left of the square's edge (x = 93)
    assert np.all(np.diff(soft) <= 0) and np.sum((soft > 5) & (soft < 250)) >= 5
    assert abs(int(green[92]) - int(green[93])) < 80  # no hard step
    far = np.ones(frame.shape[:2], bool)
    far[100 - 40:100 + 40, 100 - 40:100 + 40] = False
    assert (frame[far] == 255).all()


def test_points_off_the_canvas_are_skipped() -> None:
    w, h = 160, 384
    off = [[[[-5, 50]], [[w, 50]], [[50, -1]], [[50, h + 3]]]]
    assert (g.render_trajectories(off, w, h, 2) == 255).all()
    inside = g.render_trajectories([[[[w - 1, 50]]]], w, h, 1)[0]
    assert inside[50, w - 1, 1] < 60
    # FrameINO truncates with int(): -0.5 becomes 0, so it is drawn at the left edge.
    assert g.render_trajectories([[[[-0.5, 50]]]], w, h, 1)[0][50, 0, 1] < 60


def test_a_moving_point_is_at_its_resampled_position() -> None:
    video = g.render_trajectories([[[[50, 100], [350, 100]]]], 400, 384, 31)
    assert video.shape == (31, 384, 400, 3) and video.dtype == np.uint8
    for t, x in ((0, 50), (10, 150), (30, 350)):
        assert video[t, 100, x, 1] < 60 and video[t, 100, x, 0] > 250
        assert video[t, 100, 250 if x < 200 else 100, 1] == 255


def test_to_model_range() -> None:
    out = g.to_model_range(np.array([0, 255, 51], np.uint8))
    assert out.dtype == np.float32 and np.allclose(out, [-1, 1, -0.6])


# ------------------------------------------------------------------------------------- the editor

def _is(image: np.ndarray, x: int, y: int, colour: tuple[int, int, int]) -> bool:
    return tuple(int(v) for v in image[y, x]) == colour


def test_editor_draws_lines_in_object_colours_with_start_and_end_marks() -> None:
    view = np.full((240, 320, 3), 128, np.uint8)
    trajs = [[[[40, 40], [200, 40]]], [[[40, 100], [200, 100]]], [[[260, 180]]]]
    out = g.draw_editor(view, trajs)
    assert out.shape == view.shape and not np.shares_memory(out, view)
    assert _is(out, 120, 40, RED) and _is(out, 120, 100, YELLOW)
    # start: a ring of radius 8 (width 2 on a 240 px view) around the first click
    assert _is(out, 40, 92, YELLOW) and _is(out, 40, 108, YELLOW) and _is(out, 32, 100, YELLOW)
    assert not _is(out, 200, 92, YELLOW)  # no ring at the end
    # end: an arrowhead pointing along the last segment, filled beside the line near the tip
    assert _is(out, 190, 96, YELLOW) and _is(out, 190, 104, YELLOW)
    assert not _is(out, 50, 96, YELLOW)  # nothing like it at the start
    # a one-point (still) line: a square around it
    assert _is(out, 260 + 8, 180, GREEN) and _is(out, 260 - 8, 180 - 8, GREEN)
    assert _is(out, 120, 70, (128, 128, 128))  # untouched between lines


def test_editor_highlights_the_current_line_and_tolerates_empty_ones() -> None:
    view = np.full((240, 320, 3), 128, np.uint8)
    trajs = [[[[40, 40], [200, 40]], []], [[[40, 100], [200, 100]]], []]
    plain = g.draw_editor(view, trajs)
    current = g.draw_editor(view, trajs, current=(1, 0))
    assert _is(current, 120, 96, (255, 255, 255)) and not _is(plain, 120, 96, (255, 255, 255))
    assert not _is(current, 120, 36, (255, 255, 255))
