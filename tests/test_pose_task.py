"""The pose animation and pose extraction tasks on tiny random weights (the model's frames are noise;
the poses, skeletons and puppet preview are real): every method, every kind of motion, retargeting,
stop, bad input, rerun and the CLI."""
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
from studio.tasks.pose import ExtractPoseRequest, PoseRequest
from studio.video_io import (
    count_frames,
    is_playable_mp4,
    iter_frames,
    probe_video,
    write_mp4,
)
from tests.conftest import ROOT

SPEC = all_tasks()["pose_animate"]
EXTRACT = all_tasks()["extract_pose"]
pytestmark = pytest.mark.usefixtures("one_thread")


def _reference() -> np.ndarray:
    from skimage import data

    return data.astronaut()[::2, ::2].copy()  # 256x256, a person facing the camera


@pytest.fixture(scope="module")
def driving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A person moving: the astronaut photo sliding right, 12 frames at 16 fps."""
    ref = _reference()
    path = tmp_path_factory.mktemp("drive") / "drive.mp4"
    write_mp4([np.roll(ref, 3 * i, axis=1) for i in range(12)], path, 16)
    return path


@pytest.fixture
def env(tmp_path: Path) -> StudioEnv:
    return StudioEnv(outputs=tmp_path / "outputs", tiny=True)


def _run(env: StudioEnv, **kw) -> tuple[Result, list]:
    events: list = []
    for event in run_job(SPEC, PoseRequest(**{"reference_image": _reference(), "steps": 2, "seed": 1, **kw}), env):
        events.append(event)
    result = events[-1]
    assert isinstance(result, Result)
    return result, events


@pytest.mark.parametrize("method,fps", [("vace", 16.0), ("animate", 30.0)])
def test_driving_video_gives_skeleton_json_puppet_and_video(env: StudioEnv, driving: Path, method, fps) -> None:
    result, events = _run(env, method=method, driving_video=str(driving), frames=9)
    job = result.video.parent
    settings = json.loads((job / "settings.json").read_text())
    info = settings["pose_animate"]
    assert info["fps"] == fps and probe_video(result.video).fps == pytest.approx(fps)
    assert count_frames(result.video) == result.metadata["frames"] == info["frames"] == 9
    assert settings["preset"] == {"vace": "wan-vace-14b", "animate": "wan-animate-14b"}[method] + "-tiny"
    assert info["retargeted"] is True  # the astronaut is found in the reference
    names = [e.path.name for e in events if isinstance(e, PartialVideo)]
    assert names == ["skeleton.mp4", "preview.mp4"]  # both before the model runs
    assert count_frames(job / "skeleton.mp4") == count_frames(job / "preview.mp4") == 9
    poses = json.loads((job / "poses.json").read_text())
    assert len(poses) == 9 and all(len(f["people"]) == 1 for f in poses)
    assert any(isinstance(e, Progress) and "extracting poses" in e.desc for e in events)
    assert any(isinstance(e, Progress) and "step" in e.desc for e in events)


def test_skeleton_is_drawn_on_black_in_the_output_frame(env: StudioEnv, driving: Path) -> None:
    result, _ = _run(env, method="vace", driving_video=str(driving), frames=5, retarget=False)
    frames = list(iter_frames(result.video.parent / "skeleton.mp4"))
    info = json.loads((result.video.parent / "settings.json").read_text())["pose_animate"]
    assert frames[0].shape[:2] == (info["height"], info["width"])
    lit = (frames[0].max(axis=2) > 60).mean()
    assert 0 < lit < 0.3  # thin limbs on black (VACE draws on a 1024 canvas, then shrinks), not an image


def test_pose_json_motion_and_retarget_switch(env: StudioEnv, driving: Path, tmp_path: Path) -> None:
    extracted = drain(run_job(EXTRACT, ExtractPoseRequest(video=str(driving)), env))
    json_path = Path(extracted.metadata["json"])
    on, _ = _run(env, method="vace", pose_json=str(json_path), frames=5)
    off, _ = _run(env, method="vace", pose_json=str(json_path), frames=5, retarget=False)
    a = json.loads((on.video.parent / "poses.json").read_text())
    b = json.loads((off.video.parent / "poses.json").read_text())
    assert json.loads((on.video.parent / "settings.json").read_text())["pose_animate"]["retargeted"] is True
    assert json.loads((off.video.parent / "settings.json").read_text())["pose_animate"]["retargeted"] is False
    assert a[0]["people"][0]["pose_keypoints_2d"] != b[0]["people"][0]["pose_keypoints_2d"]


def test_skeleton_video_is_used_as_is(env: StudioEnv, tmp_path: Path) -> None:
    frames = [np.zeros((48, 64, 3), np.uint8) for _ in range(9)]
    for i, f in enumerate(frames):
        f[10:20, 5 + 4 * i:15 + 4 * i] = 255
    path = tmp_path / "skeleton_in.mp4"
    write_mp4(frames, path, 16, crf=0)
    result, events = _run(env, method="vace", skeleton_video=str(path), frames=9)
    used = list(iter_frames(result.video.parent / "skeleton.mp4"))
    assert len(used) == 9
    assert not any(isinstance(e, PartialVideo) and e.path.name == "preview.mp4" for e in events)  # no poses: no puppet
    assert json.loads((result.video.parent / "settings.json").read_text())["pose_animate"]["retargeted"] is False


def test_frameprompt_with_a_lora_file_reports_unmatched_keys(env: StudioEnv, driving: Path, tmp_path: Path) -> None:
    from models.wan.loading import load_model
    from tests.test_frameprompt import _community_lora

    preset = env.preset_for("frameprompt-14b")
    transformer = load_model(env.resolver.paths(preset)["transformer"], "float32")
    lora = tmp_path / "frameprompt_lora.safetensors"
    junk = _community_lora(transformer, lora)
    result, events = _run(env, method="frameprompt", driving_video=str(driving), frames=9,
                          frameprompt_weights=str(lora))
    assert count_frames(result.video) == 8  # N = 4k target frames for 4k+1 motion frames
    settings = json.loads((result.video.parent / "settings.json").read_text())
    assert set(settings["lora"]["unmatched"]) == junk and 0 < settings["lora"]["share_loaded"] < 1
    assert settings["frameprompt_weights"]["kind"] == "lora"
    assert any(isinstance(e, Progress) and "unmatched" in e.desc for e in events)


def test_stop_keeps_skeleton_and_preview_and_the_next_job_runs(env: StudioEnv, driving: Path) -> None:
    stop = threading.Event()
    seen: list = []
    with pytest.raises(JobStopped):
        for event in run_job(SPEC, PoseRequest(reference_image=_reference(), driving_video=str(driving), steps=4,
                                               frames=5), env, stop=stop):
            seen.append(event)
            if isinstance(event, Progress) and "step 1/" in event.desc:
                stop.set()
    skeleton = next(e.path for e in seen if isinstance(e, PartialVideo))
    assert is_playable_mp4(skeleton)
    settings = json.loads((skeleton.parent / "settings.json").read_text())
    assert settings["status"] == "stopped" and {"skeleton.mp4", "preview.mp4"} <= set(settings["partials"])
    result, _ = _run(env, method="vace", driving_video=str(driving), frames=5)
    assert count_frames(result.video) == 5


def test_rerun_reproduces_the_frames(env: StudioEnv, driving: Path) -> None:
    result, _ = _run(env, method="vace", driving_video=str(driving), frames=5, mp4_crf=0)
    spec, again = rerun_request(all_tasks(), result.video.parent / "settings.json")
    rerun = drain(run_job(spec, again, env))
    a, b = list(iter_frames(result.video)), list(iter_frames(rerun.video))
    assert len(a) == 5 and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kw,field", [
    ({}, "driving_video"),
    ({"driving_video": "D", "pose_json": "J"}, "driving_video"),
    ({"method": "animate", "pose_json": "J"}, "pose_json"),
    ({"method": "frameprompt", "driving_video": "D"}, "frameprompt_weights"),
    ({"driving_video": "D", "frames": 10}, "frames"),
    ({"driving_video": "D", "reference_image": None}, "reference_image"),
    ({"driving_video": "D", "method": "dance"}, "method"),
    ({"pose_json": "/nonexistent.json"}, "pose_json"),
])
def test_bad_requests_name_the_field(tmp_path: Path, driving: Path, kw, field) -> None:
    j = tmp_path / "p.json"
    j.write_text("[]")
    values = {"reference_image": _reference(), **kw}
    values = {k: {"D": str(driving), "J": str(j)}.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
    with pytest.raises(InputError) as err:
        PoseRequest(**values)
    assert err.value.field == field and err.value.fix


def test_frameprompt_weights_that_do_not_exist_are_named(env: StudioEnv, driving: Path) -> None:
    with pytest.raises(InputError) as err:
        drain(run_job(SPEC, PoseRequest(method="frameprompt", reference_image=_reference(),
                                        driving_video=str(driving), frameprompt_weights="/no/such/lora.safetensors",
                                        frames=5, steps=1), env))
    assert err.value.field == "frameprompt_weights"


def test_extract_pose_writes_json_and_a_skeleton_video(env: StudioEnv, driving: Path) -> None:
    result = drain(run_job(EXTRACT, ExtractPoseRequest(video=str(driving), target="animate"), env))
    assert count_frames(result.video) == 12 and result.metadata["frames_with_person"] == 12
    poses = json.loads(Path(result.metadata["json"]).read_text())
    nose = [f["people"][0]["pose_keypoints_2d"][0] for f in poses]
    assert nose[-1] - nose[0] == pytest.approx(33, abs=6)  # the person slid 3 px a frame


def test_cli_extract_pose_and_pose(tmp_path: Path, driving: Path) -> None:
    from PIL import Image

    Image.fromarray(_reference()).save(tmp_path / "ref.png")
    base = [sys.executable, "-m", "studio"]
    common = ["--tiny", "--offline", "--outputs", str(tmp_path / "o")]
    out_json = tmp_path / "poses.json"
    done = subprocess.run(base + ["extract-pose", str(driving), "--json", str(out_json)] + common, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(json.loads(out_json.read_text())) == 12
    out = tmp_path / "anim.mp4"
    done = subprocess.run(base + ["pose", "--reference", str(tmp_path / "ref.png"), "--pose-json", str(out_json),
                                  "--steps", "1", "--frames", "5", "--out", str(out)] + common, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert count_frames(out) == 5 and "noise" in done.stdout
