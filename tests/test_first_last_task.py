"""The first–last frame task on tiny random weights (the model's frames are noise): every method,
bridging two clips, the flow preview, stop, bad input, CLI."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError, JobStopped
from studio.env import StudioEnv
from studio.events import PartialVideo, Progress, Result
from studio.runner import drain, rerun_request, run_job
from studio.tasks import all_tasks
from studio.tasks.first_last import FirstLastRequest, retime
from studio.video_io import (
    count_frames,
    is_playable_mp4,
    iter_frames,
    probe_video,
    write_mp4,
)
from tests.conftest import ROOT, moving_square_frames

SPEC = all_tasks()["first_last"]
pytestmark = pytest.mark.usefixtures("one_thread")


def _image(seed: int, h: int = 72, w: int = 96) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


@pytest.fixture
def env(tmp_path: Path) -> StudioEnv:
    return StudioEnv(outputs=tmp_path / "outputs", tiny=True)


def _run(env: StudioEnv, **kw) -> tuple[Result, list]:
    events: list = []
    result = None
    for event in run_job(SPEC, FirstLastRequest(**{"prompt": "a paper boat", "steps": 2, "seed": 1, **kw}), env):
        events.append(event)
        if isinstance(event, Result):
            result = event
    assert result is not None
    return result, events


@pytest.mark.parametrize("method,frames", [("wan-flf2v", 9), ("flashi2v", 9), ("framepack-end", None)])
def test_every_method_makes_a_video_of_the_declared_length(env: StudioEnv, method, frames) -> None:
    last = None if method == "flashi2v" else _image(2)
    result, events = _run(env, method=method, first_image=_image(1), last_image=last, frames=frames)
    settings = json.loads((result.video.parent / "settings.json").read_text())
    info = settings["first_last"]
    assert count_frames(result.video) == result.metadata["frames"] == info["frames"]
    assert probe_video(result.video).fps == pytest.approx(info["fps"])
    assert settings["preset"] == {"wan-flf2v": "wan-flf2v-14b", "flashi2v": "flashi2v-1.3b",
                                  "framepack-end": "framepack"}[method] + "-tiny"
    if method == "framepack-end":
        assert info["fps"] == 30.0 and (info["frames"] - 1) % 4 == 0
    else:
        assert info["frames"] == 9 and info["fps"] == 16.0
    if method != "framepack-end":
        assert (info["width"], info["height"]) == (64, 48)  # the tiny twin's size, the image's orientation
    morphs = [e for e in events if isinstance(e, PartialVideo) and e.path.name == "preview.mp4"]
    assert (len(morphs) == 1) == (last is not None)  # the weight-free preview needs both ends
    assert any(isinstance(e, Progress) and "step" in e.desc for e in events)


def test_flow_preview_comes_before_the_model_and_ends_on_the_two_frames(env: StudioEnv) -> None:
    y, x = np.mgrid[0:48, 0:64]
    first = np.stack([x * 4, y * 5, np.full_like(x, 60)], -1).astype(np.uint8)   # smooth: the mp4 keeps it
    last = np.stack([255 - x * 4, y * 3, np.full_like(x, 200)], -1).astype(np.uint8)
    _, events = _run(env, method="wan-flf2v", first_image=first, last_image=last, frames=9)
    kinds = [type(e).__name__ for e in events]
    preview = next(i for i, e in enumerate(events) if isinstance(e, PartialVideo))
    first_step = next(i for i, e in enumerate(events) if isinstance(e, Progress) and "step" in e.desc)
    assert preview < first_step, kinds
    frames = list(iter_frames(events[preview].path))
    assert len(frames) == 9
    assert np.abs(frames[0].astype(int) - first).mean() < 8 and np.abs(frames[-1].astype(int) - last).mean() < 8
    assert "preview" in events[preview].desc.lower() and "not the model" in events[preview].desc


def _clips(tmp_path: Path, fps_a: float = 24, fps_b: float = 24) -> tuple[Path, Path, list, list]:
    a_frames, b_frames = moving_square_frames(6), moving_square_frames(5, seed=3)
    a = write_mp4(a_frames, tmp_path / "a.mp4", fps=fps_a, crf=0)
    b = write_mp4(b_frames, tmp_path / "b.mp4", fps=fps_b, crf=0)
    return a, b, a_frames, b_frames


@pytest.mark.parametrize("method", ["wan-flf2v", "framepack-end"])
def test_bridge_is_a_then_transition_then_b_at_one_rate(env: StudioEnv, tmp_path: Path, method) -> None:
    """Output = A + transition at A's rate without its two ends (they repeat A's last and B's first
    frame) + B; A's and B's frames come through unchanged (lossless mp4 here)."""
    a, b, a_frames, b_frames = _clips(tmp_path)
    result, _ = _run(env, method=method, clip_a=str(a), clip_b=str(b), mp4_crf=0,
                     frames=9 if method == "wan-flf2v" else None)
    job = result.video.parent
    transition = job / "transition.mp4"
    t_info = probe_video(transition)
    t_count = count_frames(transition)
    at_a_rate = round((t_count - 1) / t_info.fps * 24) + 1
    out = list(iter_frames(result.video))
    assert len(out) == len(a_frames) + at_a_rate - 2 + len(b_frames) == result.metadata["frames"]
    assert probe_video(result.video).fps == 24.0 and result.metadata["fps"] == 24.0
    for got, want in zip(out[:len(a_frames)], a_frames):
        assert np.array_equal(got, want)
    for got, want in zip(out[-len(b_frames):], b_frames):
        assert np.array_equal(got, want)
    settings = json.loads((job / "settings.json").read_text())
    assert settings["request"]["clip_a"] == "clip_a.mp4" and (job / "clip_a.mp4").exists()


def test_bridge_converts_clip_b_to_clip_a_rate(env: StudioEnv, tmp_path: Path) -> None:
    a, b, a_frames, b_frames = _clips(tmp_path, fps_a=24, fps_b=12)
    result, _ = _run(env, method="wan-flf2v", clip_a=str(a), clip_b=str(b), mp4_crf=0, frames=9)
    assert probe_video(result.video).fps == 24.0
    # B's 5 frames at 12 fps span 1/3 s: 9 frames at 24 fps, its first and last kept exactly
    out = list(iter_frames(result.video))
    assert np.array_equal(out[-1], b_frames[-1]) and np.array_equal(out[-9], b_frames[0])


def test_retime_keeps_the_span_and_both_ends() -> None:
    frames = moving_square_frames(5)
    out = retime(frames, 16.0, 24.0)
    assert len(out) == round(4 / 16 * 24) + 1 == 7
    assert np.array_equal(out[0], frames[0]) and np.array_equal(out[-1], frames[-1])
    assert retime(frames, 24.0, 24.0) == frames


def test_stop_keeps_the_preview_and_the_next_job_runs(env: StudioEnv) -> None:
    stop = threading.Event()
    seen: list = []
    with pytest.raises(JobStopped):
        for event in run_job(SPEC, FirstLastRequest(method="wan-flf2v", first_image=_image(1), last_image=_image(2),
                                                    steps=4, frames=9), env, stop=stop):
            seen.append(event)
            if isinstance(event, Progress) and "step 1/" in event.desc:
                stop.set()
    preview = next(e.path for e in seen if isinstance(e, PartialVideo))
    assert is_playable_mp4(preview)
    settings = json.loads((preview.parent / "settings.json").read_text())
    assert settings["status"] == "stopped" and "preview.mp4" in settings["partials"]
    result, _ = _run(env, method="flashi2v", first_image=_image(1), frames=9)
    assert count_frames(result.video) == 9


def test_rerun_reproduces_the_frames(env: StudioEnv) -> None:
    result, _ = _run(env, method="flashi2v", first_image=_image(4), frames=9, mp4_crf=0)
    spec, again = rerun_request(all_tasks(), result.video.parent / "settings.json")
    rerun = drain(run_job(spec, again, env))
    a, b = list(iter_frames(result.video)), list(iter_frames(rerun.video))
    assert len(a) == 9 and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kw,field", [
    ({"method": "flashi2v", "last_image": "LAST"}, "last_image"),
    ({"method": "wan-flf2v", "last_image": None}, "last_image"),
    ({"first_image": None}, "first_image"),
    ({"frames": 10}, "frames"),
    ({"clip_a": "A"}, "clip_b"),
    ({"method": "flashi2v", "clip_a": "A", "clip_b": "B"}, "method"),
    ({"method": "magic"}, "method"),
    ({"end_influence": 0.0}, "end_influence"),
])
def test_bad_requests_name_the_field(tmp_path: Path, kw, field) -> None:
    a, b, _, _ = _clips(tmp_path)
    first = tmp_path / "first.png"
    last = tmp_path / "last.png"
    from PIL import Image

    Image.fromarray(_image(1)).save(first)
    Image.fromarray(_image(2)).save(last)
    subst = {"LAST": str(last), "A": str(a), "B": str(b)}
    values = {"first_image": str(first), "last_image": str(last), **kw}
    values = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
    with pytest.raises(InputError) as err:
        FirstLastRequest(**values)
    assert err.value.field == field and err.value.fix


def test_cli_first_last_and_bridge(tmp_path: Path) -> None:
    from PIL import Image

    a, b, a_frames, b_frames = _clips(tmp_path)
    Image.fromarray(_image(1)).save(tmp_path / "A.png")
    Image.fromarray(_image(2)).save(tmp_path / "B.png")
    base = [sys.executable, "-m", "studio", "first-last", "--tiny", "--offline", "--outputs", str(tmp_path / "o"),
            "--steps", "1", "--frames", "5"]
    out = tmp_path / "fl.mp4"
    done = subprocess.run(base + ["--first", str(tmp_path / "A.png"), "--last", str(tmp_path / "B.png"),
                                  "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert count_frames(out) == 5 and "noise" in done.stdout
    bridged = tmp_path / "bridge.mp4"
    done = subprocess.run(base + ["--bridge", str(a), str(b), "--mp4-crf", "0", "--out", str(bridged)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert count_frames(bridged) == len(a_frames) + round(4 / 16 * 24) + 1 - 2 + len(b_frames)
    bad = subprocess.run(base + ["--method", "flashi2v", "--first", str(tmp_path / "A.png"), "--last",
                                 str(tmp_path / "B.png")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "last_image" in bad.stderr
