"""Files that survive faults (issue 14, items 4, 11, 12, 13): crash recovery after a real kill -9,
a full disk (ENOSPC injected at the lowest write, and a real file-size limit in a subprocess),
settings.json names that must stay inside their job folder, and input names and permissions."""
from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from conftest import ROOT, moving_square_frames
from PIL import Image

from core.errors import InputError, StudioError
from studio.env import StudioEnv
from studio.events import Result
from studio.runner import download_name, drain, rerun_request, run_job
from studio.tasks import all_tasks
from studio.tasks.interpolate import InterpolateRequest
from studio.video_io import count_frames, is_playable_mp4, write_mp4

INTERPOLATE = all_tasks()["interpolate"]
FULL = re.compile(r"outputs disk is full \(\d+ MB free at .+\) — free space and run again")


@pytest.fixture
def env(tmp_path: Path) -> StudioEnv:
    return StudioEnv(outputs=tmp_path / "outputs", tiny=True)


def _only_job(env: StudioEnv) -> Path:
    jobs = [p for p in env.outputs.glob("*/*") if p.is_dir()]
    assert len(jobs) == 1, jobs
    return jobs[0]


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")]


def _settings(job: Path) -> dict[str, Any]:
    return json.loads((job / "settings.json").read_text())


def _interpolate(env: StudioEnv, video: Path, **kw: Any) -> Result:
    return drain(run_job(INTERPOLATE, InterpolateRequest(video=str(video), **kw), env))


def _sendfile_fails_after(monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
    """os.sendfile (what shutil's copies use on Linux) writes `allowed` bytes, then reports ENOSPC
    the way the kernel does on a full disk."""
    real = os.sendfile
    budget = {"left": allowed}

    def sendfile(out_fd: int, in_fd: int, offset: Any, count: int) -> int:
        if budget["left"] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        sent = real(out_fd, in_fd, offset, min(count, budget["left"]))
        budget["left"] -= sent
        return sent

    monkeypatch.setattr(os, "sendfile", sendfile)


def _png_save_fails(monkeypatch: pytest.MonkeyPatch, fails: Any) -> None:
    """PIL's save writes half of the PNG, then ENOSPC, for the paths where `fails(name)` is true."""
    real = Image.Image.save

    def save(self: Image.Image, fp: Any, format: Any = None, **params: Any) -> None:
        name = Path(str(fp)).name
        if not fails(name):
            return real(self, fp, format or "PNG", **params)
        import io

        buf = io.BytesIO()
        real(self, buf, "PNG")
        Path(str(fp)).write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", save)


# ------------------------------------------------------------------------------ item 11: full disk


def test_full_disk_while_copying_the_input_leaves_no_partial_and_the_next_job_runs(
        env: StudioEnv, square_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 11: a truncated input.mp4 under its final name and a raw Errno 28 before the fix."""
    _sendfile_fails_after(monkeypatch, square_video.stat().st_size // 3)
    with pytest.raises(StudioError) as err:
        _interpolate(env, square_video, factor=2)
    assert FULL.fullmatch(str(err.value)), str(err.value)
    assert str(env.outputs) in str(err.value)
    job = _only_job(env)
    assert not (job / "input.mp4").exists()  # nothing half-copied under a final name
    assert _temps(job) == []                  # and no temp file left behind
    settings = _settings(job)
    assert settings["status"] == "failed" and FULL.fullmatch(settings["message"])

    monkeypatch.undo()  # space is free again
    result = _interpolate(env, square_video, factor=2)
    assert count_frames(result.video) == 11 and _settings(result.video.parent)["status"] == "done"


def test_full_disk_while_writing_png_frames_keeps_only_whole_frames(
        env: StudioEnv, square_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 11: the interpolation's PNG frames (today a half-written 00000003.png stays)."""
    _png_save_fails(monkeypatch, lambda name: name.startswith(".00000003") or name == "00000003.png")
    with pytest.raises(StudioError) as err:
        _interpolate(env, square_video, factor=2, output_format="png")
    assert FULL.fullmatch(str(err.value)), str(err.value)
    frames = _only_job(env) / "frames"
    assert sorted(p.name for p in frames.iterdir()) == ["00000000.png", "00000001.png", "00000002.png"]
    for png in frames.iterdir():
        with Image.open(png) as im:
            im.load()  # every PNG under a final name is whole


def test_full_disk_while_saving_a_section_png(env: StudioEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 11: long video's section PNGs (tiny weights) go through a temp name too."""
    from studio.tasks.long_video_request import LongVideoRequest

    _png_save_fails(monkeypatch, lambda name: "section_002" in name)
    image = (np.random.default_rng(0).random((72, 96, 3)) * 255).astype(np.uint8)
    req = LongVideoRequest(input_image=image, prompt="a ball", total_second_length=1.2, latent_window_size=3,
                           steps=1, bucket=64, use_teacache=False, mp4_crf=0, seed=1, save_section_frames=True)
    with pytest.raises(StudioError) as err:
        drain(run_job(all_tasks()["long_video"], req, env))
    assert FULL.fullmatch(str(err.value)), str(err.value)
    job = _only_job(env)
    assert sorted(p.name for p in (job / "sections").iterdir()) == ["section_001.png"]
    assert _temps(job) == []


def test_full_disk_while_the_cli_copies_png_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 11: `--out FOLDER/` copies frame by frame; a full disk leaves whole frames only."""
    from studio.cli import _copy_result

    src = tmp_path / "frames"
    src.mkdir()
    for i, frame in enumerate(moving_square_frames(n=4)):
        Image.fromarray(frame).save(src / f"{i:08d}.png")
    sizes = [p.stat().st_size for p in sorted(src.iterdir())]
    _sendfile_fails_after(monkeypatch, sizes[0] + sizes[1] + sizes[2] // 2)
    out = tmp_path / "out"
    with pytest.raises(StudioError, match=r"disk is full \(\d+ MB free at "):
        _copy_result(Result(src), str(out) + "/")
    assert sorted(p.name for p in out.iterdir()) == ["00000000.png", "00000001.png"]
    assert all((out / p.name).read_bytes() == p.read_bytes() for p in out.iterdir())


_LIMITED_JOB = textwrap.dedent("""
    import json, resource, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from studio.env import StudioEnv
    from studio.runner import drain, run_job
    from studio.tasks import all_tasks
    from studio.tasks.interpolate import InterpolateRequest

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    env = StudioEnv(outputs=Path({outputs!r}), tiny=True)
    spec = all_tasks()["interpolate"]
    req = dict(video={video!r}, factor=16, mp4_crf=0)
    out = {{}}
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))  # ffmpeg inherits it
    try:
        drain(run_job(spec, InterpolateRequest(**req), env))
        out["first"] = "done"
    except Exception as err:
        out["first"] = f"{{type(err).__name__}}: {{err}}"
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    out["second"] = str(drain(run_job(spec, InterpolateRequest(**req), env)).video)
    print(json.dumps(out))
""")


def test_file_size_limit_while_ffmpeg_writes_the_mp4(env: StudioEnv, square_video: Path, tmp_path: Path) -> None:
    """Item 11 for real (no injection): ffmpeg's own writes hit RLIMIT_FSIZE (EFBIG) in a subprocess.
    The input copy and settings.json fit, the mp4 does not: a clear message, no interpolated.mp4,
    no temp file; with the limit lifted the next job in the same process succeeds."""
    limit = 40_000
    assert square_video.stat().st_size < limit
    script = _LIMITED_JOB.format(root=str(ROOT), outputs=str(env.outputs), video=str(square_video), limit=limit)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first"].startswith("DiskFull: a file in ") and "file-size limit (ulimit -f, 0.04 MB)" in out["first"]
    second = Path(out["second"])
    failed = next(p for p in env.outputs.glob("*/*") if p != second.parent)
    assert _settings(failed)["status"] == "failed" and "file-size limit" in _settings(failed)["message"]
    assert sorted(p.name for p in failed.iterdir()) == ["input.mp4", "settings.json"]
    assert count_frames(second) == 5 * 16 + 1 and is_playable_mp4(second)


# ------------------------------------------------------------------------------ item 13: names, partials, modes


def test_input_copies_are_named_by_content_never_by_the_upload(env: StudioEnv, tmp_path: Path) -> None:
    """Item 13: `input.mp4;rm -rf x` and a 200-character suffix ended up in job-folder names."""
    frames = moving_square_frames()
    shell, long, gif = tmp_path / "clip.mp4;rm -rf x", tmp_path / ("clip." + "x" * 200), tmp_path / "a_gif.mp4"
    for name in (shell, long):  # ffmpeg picks its muxer by suffix: write a plain name, then rename
        os.replace(write_mp4(frames, tmp_path / "plain.mp4", fps=10), name)
    Image.fromarray(frames[0]).save(gif, format="GIF", save_all=True,
                                    append_images=[Image.fromarray(f) for f in frames[1:]], duration=100)
    for upload, expected in ((shell, "input.mp4"), (long, "input.mp4"), (gif, "input.gif")):
        job = _interpolate(env, upload, factor=2).video.parent
        assert _settings(job)["request"]["video"] == expected
        # Inputs by type, the result by the job's own name (date_time-task-id), nothing from the upload.
        named = r"[a-z_]+\.(mp4|gif|json)|\d{4}-\d\d-\d\d_\d{6}-interpolate-[0-9a-f]{6}\.mp4"
        assert all(re.fullmatch(named, p.name) for p in job.iterdir()), list(job.iterdir())


def test_partials_list_only_files_that_exist(env: StudioEnv) -> None:
    """Item 13: a long video's settings.json listed partial_001..003.mp4, all deleted or renamed."""
    from studio.tasks.long_video_request import LongVideoRequest

    image = (np.random.default_rng(0).random((72, 96, 3)) * 255).astype(np.uint8)
    req = LongVideoRequest(input_image=image, prompt="a ball", total_second_length=1.2, latent_window_size=3,
                           steps=1, bucket=64, use_teacache=False, mp4_crf=0, seed=1)
    result = drain(run_job(all_tasks()["long_video"], req, env))
    settings = _settings(result.video.parent)
    assert settings["sections"] == 3 and settings["result"]["video"] == download_name(result.video.parent)
    assert settings["partials"] == []


def test_output_files_follow_the_umask(env: StudioEnv, square_video: Path) -> None:
    """Item 13: mkstemp made every output 0600; under umask 022 they are 0644."""
    old = os.umask(0o022)
    try:
        result = _interpolate(env, square_video, factor=2, side_by_side=True)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in result.video.parent.iterdir()}
    assert modes == {"input.mp4": 0o644, download_name(result.video.parent): 0o644, "side_by_side.mp4": 0o644,
                     "settings.json": 0o644}


# ------------------------------------------------------------------------------ item 12: names in settings.json


def _job_with(root: Path, name: str, settings: Any) -> Path:
    job = root / "2024-01-01" / name
    job.mkdir(parents=True)
    (job / "settings.json").write_text(json.dumps(settings))
    return job


def test_result_and_partial_names_cannot_leave_the_job_folder(tmp_path: Path) -> None:
    """Item 12: the Outputs tab served ../../.. and absolute paths named by a crafted settings.json."""
    from studio.outputs import list_jobs

    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not yours")
    root = tmp_path / "outputs"
    _job_with(root, "120000-a", {"task": "interpolate", "status": "done", "result": {"video": "../../../secret.mp4"}})
    _job_with(root, "120001-b", {"task": "interpolate", "status": "done", "result": {"video": str(secret)}})
    _job_with(root, "120002-c", {"task": "interpolate", "status": "stopped",
                                 "partials": ["../../../secret.mp4", str(secret)]})
    link = _job_with(root, "120003-d", {"task": "interpolate", "status": "done", "result": {"video": "v.mp4"}})
    (link / "v.mp4").symlink_to(secret)
    jobs = list_jobs(root)
    assert len(jobs) == 4 and [j.video for j in jobs] == [None] * 4


def test_rerun_refuses_media_paths_outside_the_job_folder(env: StudioEnv, square_video: Path) -> None:
    """Item 12: `rerun` read a video named ../outside.mp4 or by an absolute path."""
    job = _interpolate(env, square_video, factor=2).video.parent
    outside = write_mp4(moving_square_frames(), env.outputs / "outside.mp4", fps=10)
    settings = _settings(job)
    for name in ("../../outside.mp4", str(outside)):
        settings["request"]["video"] = name
        (job / "settings.json").write_text(json.dumps(settings))
        with pytest.raises(InputError) as err:
            rerun_request(all_tasks(), job / "settings.json")
        assert err.value.field == "video" and "inside its own job folder" in str(err.value)
    settings["request"]["video"] = "input.mp4"
    (job / "settings.json").write_text(json.dumps(settings))
    assert rerun_request(all_tasks(), job)[1].video == str(job / "input.mp4")  # its own input still works


def test_a_malformed_settings_json_is_skipped_with_a_note(tmp_path: Path) -> None:
    """Item 12: `[]` or `{"result": null}` broke the whole Outputs list."""
    from studio.outputs import list_jobs, scan_jobs

    root = tmp_path / "outputs"
    good = _job_with(root, "120000-good", {"task": "interpolate", "status": "done"})
    for i, bad in enumerate(([], {"result": None}, {"partials": "x.mp4"}, {"status": 3})):
        _job_with(root, f"12000{i + 1}-bad", bad)
    jobs = list_jobs(root)
    assert [(j.folder, j.task, j.status, j.video) for j in jobs] == [(good, "interpolate", "done", None)]
    scan = scan_jobs(root)
    assert sorted(s.folder.name for s in scan.skipped) == [f"12000{i}-bad" for i in range(1, 5)]
    assert "4 job folder(s) skipped" in scan.note() and "120001-bad" in scan.note()


# ------------------------------------------------------------------------------ item 4: crash recovery


_KILLED_JOB = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from studio.env import StudioEnv
    from studio.events import Preview
    from studio.runner import run_job
    from studio.tasks import all_tasks
    from studio.tasks.interpolate import InterpolateRequest

    env = StudioEnv(outputs=Path({outputs!r}), tiny=True)
    req = InterpolateRequest(video={video!r}, factor=8, side_by_side=True)
    for event in run_job(all_tasks()["interpolate"], req, env):
        if isinstance(event, Preview):  # the first pair is written: the job is in the middle
            print("READY", flush=True)
            time.sleep(600)  # killed here
""")


def test_kill_9_mid_job_then_recovery_keeps_playable_partials(env: StudioEnv, square_video: Path) -> None:
    """Item 4: a killed job stayed "running" forever and showed its input copy as its video."""
    from studio.outputs import list_jobs
    from studio.recovery import recover_interrupted

    script = _KILLED_JOB.format(root=str(ROOT), outputs=str(env.outputs), video=str(square_video))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    watchdog = threading.Timer(600, proc.kill)  # a hung script fails the test instead of hanging it
    watchdog.start()
    try:
        assert proc.stdout.readline().strip() == "READY"
        ffmpegs = psutil.Process(proc.pid).children(recursive=True)
        assert len(ffmpegs) >= 2  # the two mp4 writers (and the reader)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        psutil.wait_procs(ffmpegs, timeout=120)  # they finish what they were sent, then exit
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    job = _only_job(env)
    before = list_jobs(env.outputs)[0]
    assert before.status == "running" and before.video is None  # never the input copy
    assert recover_interrupted(env.outputs) == [job]

    settings = _settings(job)
    assert settings["status"] == "interrupted" and "ended while this job ran" in settings["message"]
    assert sorted(settings["partials"]) == ["interpolated_interrupted.mp4", "side_by_side_interrupted.mp4"]
    for name in settings["partials"]:
        assert is_playable_mp4(job / name) and count_frames(job / name) >= 9
    assert _temps(job) == []
    after = list_jobs(env.outputs)[0]
    assert after.status == "interrupted" and after.video is not None and after.video.name in settings["partials"]
    assert recover_interrupted(env.outputs) == []  # once only


def test_recovery_removes_unplayable_temps_and_never_touches_a_live_job(tmp_path: Path) -> None:
    """Item 4: a dead job's unplayable temp goes; a job whose process is alive keeps everything."""
    from studio.recovery import process_identity, recover_interrupted

    gone = subprocess.run([sys.executable, "-c", "import os, json, socket; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_info = {**process_identity(), "pid": int(gone.stdout), "start_ticks": "1"}
    root = tmp_path / "outputs"
    dead = _job_with(root, "120000-dead", {"task": "interpolate", "status": "running", "process": dead_info,
                                           "request": {"video": "input.mp4"}})
    live = _job_with(root, "120001-live", {"task": "interpolate", "status": "running",
                                           "process": process_identity(), "request": {"video": "input.mp4"}})
    for job in (dead, live):
        write_mp4(moving_square_frames(), job / "input.mp4", fps=10)
        (job / ".interpolated.0a1b2c3d.tmp.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 500)
        (job / ".settings.0a1b2c3d.tmp.json").write_text("{")
    assert recover_interrupted(root) == [dead]
    assert _settings(dead)["status"] == "interrupted" and _settings(dead)["partials"] == []
    assert "no playable partial" in _settings(dead)["message"]
    assert sorted(p.name for p in dead.iterdir()) == ["input.mp4", "settings.json"]
    assert _settings(live)["status"] == "running" and len(_temps(live)) == 2
