"""The interpolation task through the runner and the CLI (flow: real output; ldf-vfi tiny: noise)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, moving_square_frames

from core.errors import InputError
from studio.env import StudioEnv
from studio.runner import drain, rerun_request, run_job
from studio.tasks import all_tasks
from studio.tasks.interpolate import InterpolateRequest
from studio.video_io import count_frames, iter_frames, probe_video, write_mp4

SPEC = all_tasks()["interpolate"]


@pytest.fixture
def env(tmp_path: Path) -> StudioEnv:
    return StudioEnv(outputs=tmp_path / "outputs", tiny=True)


@pytest.mark.parametrize("factor, keep", [(2, True), (4, False), (16, True)])
def test_frame_count_timing_and_originals(env: StudioEnv, square_video: Path, factor: int, keep: bool) -> None:
    result = drain(run_job(SPEC, InterpolateRequest(video=str(square_video), factor=factor, keep_duration=keep,
                                                    mp4_crf=0), env))
    frames_in = list(iter_frames(square_video))
    frames_out = list(iter_frames(result.video))
    assert len(frames_out) == (len(frames_in) - 1) * factor + 1
    assert probe_video(result.video).fps == pytest.approx(10 * factor if keep else 10)
    for i, original in enumerate(frames_in):
        assert np.array_equal(frames_out[i * factor], original)  # lossless file: originals exact


def test_settings_and_rerun_give_the_same_frames(env: StudioEnv, square_video: Path) -> None:
    result = drain(run_job(SPEC, InterpolateRequest(video=str(square_video), factor=3, mp4_crf=0,
                                                    side_by_side=True), env))
    job = result.video.parent
    settings = json.loads((job / "settings.json").read_text())
    assert settings["status"] == "done" and settings["request"]["factor"] == 3
    assert settings["interpolation"]["output_frames"] == 16 and (job / "input.mp4").exists()
    assert count_frames(job / "side_by_side.mp4") == 16
    spec, again = rerun_request(all_tasks(), job / "settings.json")
    rerun = drain(run_job(spec, again, env))
    assert all(np.array_equal(a, b) for a, b in zip(iter_frames(result.video), iter_frames(rerun.video)))


def test_png_output_folder(env: StudioEnv, square_video: Path) -> None:
    result = drain(run_job(SPEC, InterpolateRequest(video=str(square_video), factor=2, output_format="png"), env))
    assert sorted(p.name for p in result.video.iterdir())[:2] == ["00000000.png", "00000001.png"]
    assert len(list(result.video.iterdir())) == 11


@pytest.mark.parametrize("kw, field", [(dict(factor=1), "factor"), (dict(factor=17), "factor"),
                                       (dict(method="magic"), "method"), (dict(mp4_crf=52), "mp4_crf"),
                                       (dict(steps=0), "steps"), (dict(seed=-1), "seed")])
def test_bad_requests(square_video: Path, kw, field) -> None:
    with pytest.raises(InputError) as err:
        InterpolateRequest(video=str(square_video), **kw)
    assert err.value.field == field


def test_one_frame_video_is_refused(env: StudioEnv, tmp_path: Path) -> None:
    one = write_mp4(moving_square_frames(n=1), tmp_path / "one.mp4", fps=10)
    with pytest.raises(InputError) as err:
        drain(run_job(SPEC, InterpolateRequest(video=str(one), factor=2), env))
    assert err.value.field == "video"


def test_ldf_vfi_tiny_through_the_task_is_seeded(env: StudioEnv, tmp_path: Path) -> None:
    """Tiny random weights: only counts, originals and determinism mean anything (frames are noise)."""
    src = write_mp4(moving_square_frames(n=3, h=32, w=48), tmp_path / "s.mp4", fps=10, crf=0)
    runs = [drain(run_job(SPEC, InterpolateRequest(video=str(src), factor=4, method="ldf-vfi", seed=s,
                                                   steps=2, mp4_crf=0), env)) for s in (5, 5, 6)]
    decoded = [list(iter_frames(r.video)) for r in runs]
    assert [len(d) for d in decoded] == [9, 9, 9]
    assert all(np.array_equal(a, b) for a, b in zip(decoded[0], decoded[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(decoded[0], decoded[2]))
    settings = json.loads((runs[0].video.parent / "settings.json").read_text())
    assert settings["preset"] == "ldf-vfi-tiny" and settings["ldf_vfi"]["steps"] == 2
    assert settings["memory_plan"]["peak_vram_gb"] >= 0


def test_cli_interpolate_mp4_and_png(tmp_path: Path, square_video: Path) -> None:
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "studio", "interpolate", str(square_video), "--factor", "8", "--out", str(out),
           "--outputs", str(tmp_path / "o")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert count_frames(out) == 41 and f"result: {out}" in proc.stdout
    folder = str(tmp_path / "pngs") + "/"
    proc = subprocess.run(cmd[:-4] + ["--out", folder, "--crf", "0", "--outputs", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(list(Path(folder).glob("*.png"))) == 41
    bad = subprocess.run([sys.executable, "-m", "studio", "interpolate", str(square_video), "--factor", "17"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "factor" in bad.stderr


def test_streaming_keeps_peak_rss_bounded_on_a_long_video() -> None:
    """600 output frames of 256x256 (118 MB if held) pass through with far less resident memory."""
    code = r'''
import threading, time, numpy as np, psutil
from studio.interpolation.flow import interpolate_stream
proc = psutil.Process()
def frames():
    rng = np.random.default_rng(0)
    base = (rng.random((256 + 400, 256 + 400, 3)) * 255).astype(np.uint8)
    for i in range(200):
        yield np.ascontiguousarray(base[i:i + 256, 2 * i:2 * i + 256])
first = None
peak = 0
count = 0
for frame in interpolate_stream(frames(), 3):
    count += 1
    if count == 30:
        first = proc.memory_info().rss
    if count % 20 == 0:
        peak = max(peak, proc.memory_info().rss)
print(count, (peak - first) / 2**20)
'''
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    count, growth_mb = out.stdout.split()
    assert int(count) == 199 * 3 + 1
    assert float(growth_mb) < 40, growth_mb  # holding the output would grow by ~118 MB
