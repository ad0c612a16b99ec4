"""Scene cuts (issue 15 item 3) and "to N fps" (item 5), through the real task path.

Cut clips rc01/rc02 and the main clips rd01..rd11 come from ../shared/bench/vfi_real_dev (FFV1,
read bit-exactly as its PROTOCOL.md says).
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from conftest import SHARED, moving_square_frames, require_shared

from core.errors import InputError
from studio.env import StudioEnv
from studio.interpolation.flow import interpolate_frames_flow
from studio.interpolation.scene_cuts import (
    cut_score,
    fill_cut,
    find_cuts,
    interpolate_shots,
    pick,
    plan_timing,
)
from studio.runner import drain, run_job
from studio.tasks import all_tasks
from studio.tasks.interpolate import InterpolateRequest, interpolate_frames
from studio.video_io import iter_frames, probe_video, write_mp4

DEV = SHARED / "bench" / "vfi_real_dev"
MAIN = [f"rd{i:02d}" for i in range(1, 12)]
SPEC = all_tasks()["interpolate"]


def load_clip(clip_id: str) -> tuple[np.ndarray, dict]:
    meta_path = require_shared(next(DEV.glob(f"{clip_id}_*.json"), DEV / f"{clip_id}.json"))
    meta = json.loads(meta_path.read_text())
    gen = imageio_ffmpeg.read_frames(str(meta_path.with_suffix(".mkv")), pix_fmt="rgb24")
    next(gen)  # metadata first
    frames = np.stack([np.frombuffer(b, np.uint8).reshape(meta["height"], meta["width"], 3) for b in gen])
    return frames, meta


def cut_interval(out: list[np.ndarray], kept: list[np.ndarray], k: int, cut: int) -> tuple[int, list[np.ndarray]]:
    """(a, the dropped frames of the kept interval [a, a+1] that holds the cut) in kept-frame units."""
    a = cut // k
    return a, out[a * k + 1:(a + 1) * k]


def is_repeat_or_crossfade(frame: np.ndarray, a: np.ndarray, b: np.ndarray, tol: int) -> bool:
    """frame == a, == b, or == round((1-w) a + w b) for some w, within tol levels."""
    if np.array_equal(frame, a) or np.array_equal(frame, b):
        return True
    fa, fb, f = (x.astype(np.float64) for x in (a, b, frame))
    d = fb - fa
    w = float(((f - fa) * d).sum() / max((d * d).sum(), 1e-9))  # best-fitting weight
    blend = np.clip(np.floor(fa + w * d + 0.5), 0, 255)
    return 0.0 <= w <= 1.0 and np.abs(blend - f).max() <= tol


# ---------------------------------------------------------------------------------------------
# detection (item 3)

@pytest.mark.parametrize("clip_id", ["rc01", "rc02"])
def test_cut_found_at_its_place_at_every_factor(clip_id: str) -> None:
    frames, meta = load_clip(clip_id)
    cut = meta["scene_cut_after"]
    for k in (1, 2, 4, 8):
        assert find_cuts(list(frames[::k])) == [cut // k], k


def test_no_cut_in_the_main_clips_at_any_factor() -> None:
    for clip_id in MAIN:
        frames, _ = load_clip(clip_id)
        for k in (1, 2, 4, 8):
            assert find_cuts(list(frames[::k])) == [], (clip_id, k)


def test_synthetic_hard_cut_fast_pan_and_fade() -> None:
    a, _ = load_clip("rd06")
    b, _ = load_clip("rd09")
    assert cut_score(a[0], b[0]).is_cut  # two unrelated images
    big = cv2.resize(a[0], (1792, 1024), interpolation=cv2.INTER_CUBIC)
    pan = [np.ascontiguousarray(big[300:556, i * 48:i * 48 + 448]) for i in range(20)]  # 11% of the width/frame
    assert find_cuts(pan) == []
    out = [np.clip(b[i] * (1 - i / 12), 0, 255).astype(np.uint8) for i in range(13)]  # to black ...
    into = [np.clip(a[i] * (i / 12), 0, 255).astype(np.uint8) for i in range(1, 13)]  # ... and up again
    assert find_cuts(out + into) == []
    white = [np.clip(b[i] + (255 - b[i].astype(np.float32)) * i / 12, 0, 255).astype(np.uint8) for i in range(13)]
    assert find_cuts(white) == []


# ---------------------------------------------------------------------------------------------
# the cut interval through the task (item 3)

@pytest.mark.parametrize("clip_id", ["rc01", "rc02"])
@pytest.mark.parametrize("k", [2, 4, 8])
def test_frames_across_the_cut_are_repeats(clip_id: str, k: int) -> None:
    frames, meta = load_clip(clip_id)
    kept = list(frames[::k])
    out = interpolate_frames(kept, k, cut_fill="repeat")
    assert len(out) == (len(kept) - 1) * k + 1
    assert all(np.array_equal(out[i * k], f) for i, f in enumerate(kept))
    a, between = cut_interval(out, kept, k, meta["scene_cut_after"])
    expected = [kept[a] if j / k <= 0.5 else kept[a + 1] for j in range(1, k)]  # nearest, ties earlier
    assert all(np.array_equal(f, e) for f, e in zip(between, expected))


@pytest.mark.parametrize("clip_id", ["rc01", "rc02"])
@pytest.mark.parametrize("k", [2, 4, 8])
def test_frames_across_the_cut_are_a_crossfade(clip_id: str, k: int) -> None:
    frames, meta = load_clip(clip_id)
    kept = list(frames[::k])
    out = interpolate_frames(kept, k, cut_fill="crossfade")
    a, between = cut_interval(out, kept, k, meta["scene_cut_after"])
    for j, frame in enumerate(between, 1):
        t = j / k
        exact = (1 - t) * kept[a].astype(np.float64) + t * kept[a + 1].astype(np.float64)
        assert np.abs(frame - exact).max() <= 1.0, j
        assert is_repeat_or_crossfade(frame, kept[a], kept[a + 1], tol=1)


def test_no_motion_context_crosses_the_cut() -> None:
    """Each shot comes out exactly as the method makes it from that shot alone."""
    frames, meta = load_clip("rc02")
    k = 4
    kept = list(frames[::k])
    a = meta["scene_cut_after"] // k
    out = interpolate_frames(kept, k)
    alone_a, alone_b = interpolate_frames_flow(kept[:a + 1], k), interpolate_frames_flow(kept[a + 1:], k)
    assert all(np.array_equal(x, y) for x, y in zip(out[:a * k + 1], alone_a))
    assert all(np.array_equal(x, y) for x, y in zip(out[(a + 1) * k:], alone_b))


def test_detection_off_is_todays_behaviour_which_warps_across_the_cut() -> None:
    frames, meta = load_clip("rc02")
    k = 8
    kept = list(frames[::k])
    off = interpolate_frames(kept, k, detect_cuts=False)
    assert all(np.array_equal(x, y) for x, y in zip(off, interpolate_frames_flow(kept, k)))
    a, between = cut_interval(off, kept, k, meta["scene_cut_after"])
    assert not all(is_repeat_or_crossfade(f, kept[a], kept[a + 1], tol=1) for f in between)


def unrelated_shots() -> list[np.ndarray]:
    """3 frames of a sliding square, then 3 of a different textured scene (a hard cut after 2)."""
    first = moving_square_frames(n=3, h=32, w=48)
    rng = np.random.default_rng(7)
    other = cv2.resize((rng.random((8, 12, 3)) * 255).astype(np.uint8), (48, 32), interpolation=cv2.INTER_CUBIC)
    return first + [np.roll(other, i, axis=1) for i in range(3)]


def test_every_method_runs_per_shot() -> None:
    """A stand-in method sees one shot per call, never a frame of the other shot."""
    frames = unrelated_shots()
    calls: list[int] = []

    def method(shot, factor, should_stop, on_progress):
        shot = list(shot)
        calls.append(len(shot))
        return iter(interpolate_frames_flow(shot, factor))

    cuts: list[int] = []
    out = list(interpolate_shots(frames, plan_timing(6, 2, 10, None, 16), method, lambda: False, lambda *a: None,
                                 cuts=cuts))
    assert calls == [3, 3] and cuts == [2] and len(out) == 11
    assert np.array_equal(out[5], frames[2])  # t = 1/2: the earlier frame


def test_ldf_vfi_tiny_repeats_across_the_cut(tmp_path: Path) -> None:
    frames = unrelated_shots()
    out = interpolate_frames(frames, 4, method="ldf-vfi", env=StudioEnv(outputs=tmp_path, tiny=True))
    assert len(out) == 21
    assert [np.array_equal(out[8 + j], frames[2] if j <= 2 else frames[3]) for j in range(1, 4)] == [True] * 3


def test_cut_settings_through_the_job(tmp_path: Path) -> None:
    env = StudioEnv(outputs=tmp_path / "outputs", tiny=True)
    src = write_mp4(unrelated_shots(), tmp_path / "cut.mp4", fps=10, crf=0)
    result = drain(run_job(SPEC, InterpolateRequest(video=str(src), factor=2, cut_fill="crossfade", mp4_crf=0), env))
    settings = json.loads((result.video.parent / "settings.json").read_text())
    assert settings["request"]["cut_fill"] == "crossfade" and settings["interpolation"]["cuts_after"] == [2]
    out, kept = list(iter_frames(result.video)), list(iter_frames(src))
    assert is_repeat_or_crossfade(out[5], kept[2], kept[3], tol=1) and not np.array_equal(out[5], kept[2])
    with pytest.raises(InputError) as err:
        InterpolateRequest(video=str(src), cut_fill="blend")
    assert err.value.field == "cut_fill"


# ---------------------------------------------------------------------------------------------
# "to N fps" (item 5)

def rgb_clip_24fps(tmp_path: Path, n: int = 16) -> tuple[Path, list[np.ndarray]]:
    frames, _ = load_clip("rd09")  # 24 fps originals
    small = [np.ascontiguousarray(f[64:192, 112:336]) for f in frames[:n]]
    return write_mp4(small, tmp_path / "in24.mp4", fps=24, crf=0), small


@pytest.mark.parametrize("keep", [True, False])
def test_to_60_fps_from_24(tmp_path: Path, keep: bool) -> None:
    env = StudioEnv(outputs=tmp_path / "outputs", tiny=True)
    src, frames = rgb_clip_24fps(tmp_path)
    result = drain(run_job(SPEC, InterpolateRequest(video=str(src), target_fps=60, keep_duration=keep, mp4_crf=0),
                           env))
    out = list(iter_frames(result.video))
    assert len(out) == round(16 / 24 * 60) == 40
    info = probe_video(result.video)
    if keep:  # same duration at 60 fps
        assert info.fps == pytest.approx(60) and info.duration == pytest.approx(16 / 24, abs=1 / 60)
    else:  # slow motion x2.5 at the input's rate
        assert info.fps == pytest.approx(24) and info.duration == pytest.approx(40 / 24, abs=1 / 24)
    # output i is at input time i * 24/60: every 5th is original 2j, the others the flow at t = 0.4, 0.8, ...;
    # the last frames (past the last original, t = 15.2, 15.6) hold it
    grid = interpolate_frames(frames, 5)
    assert all(np.array_equal(out[i], grid[min(2 * i, 75)]) for i in range(len(out)))
    assert all(np.array_equal(out[5 * j], frames[2 * j]) for j in range(8))


def test_non_integer_grid_takes_the_nearest_instant() -> None:
    timing = plan_timing(10, 2, 24000 / 1001, 60, 16)  # ratio 1001/400: no whole grid within x16
    assert (timing.grid_factor, timing.exact, timing.count) == (3, False, 25)
    frames = moving_square_frames(n=10)
    out = interpolate_frames(frames, target_fps=60, fps=24000 / 1001)
    grid = interpolate_frames(frames, 3)
    for i, frame in enumerate(out):
        g = min(round(i * Fraction(400, 1001) * 3), 27)
        assert np.array_equal(frame, grid[g]), i
    assert plan_timing(10, 2, 30, 60, 16).grid_factor == 2 and plan_timing(10, 2, 24, 60, 16).grid_factor == 5
    assert plan_timing(10, 2, 25, 60, 16).grid_factor == 3  # x12 would hold every instant: too costly


def crossfade_method() -> object:
    """A stand-in method with arbitrary timesteps (`at_times`): the cross-fade at each asked time."""
    def grid(frames, factor, should_stop, on_progress):
        raise AssertionError("a method with at_times is asked for exact times")

    def at_times(frames, pair_times, should_stop, on_progress):
        frames = list(frames)
        yield frames[0]
        for i, (a, b) in enumerate(zip(frames, frames[1:])):
            yield from fill_cut(a, b, pair_times(i), "crossfade")
            yield b

    grid.at_times = at_times
    return grid


def test_a_method_with_arbitrary_timesteps_gets_the_exact_instants() -> None:
    frames = unrelated_shots()  # a cut after frame 2
    timing = plan_timing(len(frames), 2, 24, 60, 16, arbitrary_t=True)
    assert timing.grid_factor is None and timing.count == 15
    made = interpolate_shots(frames, timing, crossfade_method(), lambda: False, lambda *a: None)
    out = list(pick(made, timing))
    assert [p.time for p in out] == [min(Fraction(2 * i, 5), Fraction(5)) for i in range(15)]
    for p in out:
        i, t = min(int(p.time), 4), float(p.time - min(int(p.time), 4))
        expected = fill_cut(frames[i], frames[i + 1], [t], "repeat" if i == 2 else "crossfade")[0]
        assert np.array_equal(p.frame, expected), p.time


@pytest.mark.parametrize("target", [5, 10, 161])
def test_target_fps_out_of_range_for_the_video_is_refused(square_video: Path, target: float) -> None:
    with pytest.raises(InputError) as err:  # square_video is 10 fps: above 10 and up to 160 allowed
        InterpolateRequest(video=str(square_video), target_fps=target)
    assert err.value.field == "target_fps"
