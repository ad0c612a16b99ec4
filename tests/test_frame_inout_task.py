"""The Frame In/Out task on tiny random weights (the model's frames are noise; the canvas,
trajectories, cut-out and preview are real): both outputs, settings, stop, bad input, rerun, CLI."""
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
from studio.tasks.frame_inout import FrameInOutRequest
from studio.video_io import count_frames, is_playable_mp4, iter_frames, probe_video
from tests.conftest import ROOT

SPEC = all_tasks()["frame_inout"]
pytestmark = pytest.mark.usefixtures("one_thread")
# One object entering from the left border, one leaving through the top (canvas pixels).
TRAJECTORIES = [[[[-40 + 64, 60], [40 + 64, 60], [120 + 64, 70], [150 + 64, 80]]], [[[230, 100], [240, 10]]]]


def _image(h: int = 120, w: int = 160) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], axis=2).astype(np.uint8)


def _identity() -> np.ndarray:
    img = np.full((80, 80, 3), 200, np.uint8)
    yy, xx = np.mgrid[0:80, 0:80]
    img[(yy - 40) ** 2 + (xx - 40) ** 2 < 600] = (220, 30, 30)
    return img


@pytest.fixture
def env(tmp_path: Path) -> StudioEnv:
    return StudioEnv(outputs=tmp_path / "outputs", tiny=True)


def _request(**kw) -> FrameInOutRequest:
    values = {"image": _image(), "expand_left": 64, "trajectories": json.dumps(TRAJECTORIES),
              "identity_image": _identity(), "segmentation": "grabcut", "steps": 2, "frames": 9, "seed": 1, **kw}
    return FrameInOutRequest(**values)


def test_job_writes_the_cropped_and_the_full_canvas_video(env: StudioEnv) -> None:
    events = list(run_job(SPEC, _request(), env))
    result = events[-1]
    assert isinstance(result, Result)
    job = result.video.parent
    settings = json.loads((job / "settings.json").read_text())
    info = settings["frame_inout"]
    assert settings["preset"] == "frameino-5b-tiny"
    assert info["canvas"] == [224, 128] and info["box"] == [64, 4, 224, 124]  # 160+64 -> 224; 120 -> 128
    mw, mh = info["model_canvas"]
    assert mw % 32 == 0 and mh % 32 == 0
    full = Path(result.metadata["canvas_video"])
    assert count_frames(full) == count_frames(result.video) == 9
    assert probe_video(full).width == mw and probe_video(full).height == mh
    x0, y0, x1, y1 = info["model_box"]
    even = lambda n: -(-n // 2) * 2  # noqa: E731  (yuv420p mp4s pad an odd side by one black line)
    assert (probe_video(result.video).width, probe_video(result.video).height) == (even(x1 - x0), even(y1 - y0))
    assert probe_video(result.video).fps == pytest.approx(info["fps"])
    assert settings["request"]["trajectories"] == TRAJECTORIES  # as checked, in canvas pixels
    names = [e.path.name for e in events if isinstance(e, PartialVideo)]
    assert names == ["preview.mp4", "canvas.mp4"]
    assert (job / "identity_cutout.png").is_file()
    assert any(isinstance(e, Progress) and "step" in e.desc for e in events)


def test_preview_moves_the_cutout_along_the_path(env: StudioEnv) -> None:
    result = drain(run_job(SPEC, _request(steps=1), env))
    frames = list(iter_frames(result.video.parent / "preview.mp4"))
    assert len(frames) == 9

    def red_x(frame: np.ndarray) -> float:
        red = (frame[..., 0] > 170) & (frame[..., 1] < 90) & (frame[..., 2] < 90)
        return float(np.nonzero(red)[1].mean())

    assert red_x(frames[-1]) > red_x(frames[0]) + 20  # the identity (a red disk) travels right


def test_stop_keeps_the_preview_and_the_next_job_runs(env: StudioEnv) -> None:
    stop = threading.Event()
    seen: list = []
    with pytest.raises(JobStopped):
        for event in run_job(SPEC, _request(steps=4), env, stop=stop):
            seen.append(event)
            if isinstance(event, Progress) and "step 1/" in event.desc:
                stop.set()
    preview = next(e.path for e in seen if isinstance(e, PartialVideo))
    assert is_playable_mp4(preview)
    settings = json.loads((preview.parent / "settings.json").read_text())
    assert settings["status"] == "stopped" and "preview.mp4" in settings["partials"]
    assert count_frames(drain(run_job(SPEC, _request(steps=1, identity_image=None), env)).video) == 9


def test_rerun_reproduces_the_frames(env: StudioEnv) -> None:
    result = drain(run_job(SPEC, _request(mp4_crf=0), env))
    spec, again = rerun_request(all_tasks(), result.video.parent / "settings.json")
    rerun = drain(run_job(spec, again, env))
    a, b = list(iter_frames(result.video)), list(iter_frames(rerun.video))
    assert len(a) == 9 and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kw,field", [
    ({"trajectories": ""}, "trajectories"),
    ({"trajectories": "[[[[1, 2"}, "trajectories"),
    ({"trajectories": "[[[[1]]]]"}, "trajectories"),
    ({"frames": 10}, "frames"),
    ({"image": None}, "image"),
    ({"expand_left": -5}, "expand_left"),
    ({"segmentation": "mask", "identity_mask": None}, "identity_mask"),
    ({"identity_box": "1,2,3"}, "identity_box"),
])
def test_bad_requests_name_the_field(kw, field) -> None:
    with pytest.raises(InputError) as err:
        _request(**kw)
    assert err.value.field == field and err.value.fix


def test_cli_frame_inout(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(_image()).save(tmp_path / "img.png")
    (tmp_path / "t.json").write_text(json.dumps(TRAJECTORIES))
    out = tmp_path / "fio.mp4"
    done = subprocess.run([sys.executable, "-m", "studio", "frame-inout", str(tmp_path / "img.png"), "--trajectories",
                           str(tmp_path / "t.json"), "--expand-left", "64", "--steps", "1", "--frames", "5", "--tiny",
                           "--offline", "--outputs", str(tmp_path / "o"), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert count_frames(out) == 5 and "noise" in done.stdout
