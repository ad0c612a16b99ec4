"""Issue 14 item 9: videos are read by their timestamps, extend mode reads its input small, and the
extended video keeps the input's own frames, size and frame rate."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import moving_square_frames
from PIL import Image

from studio.env import StudioEnv
from studio.runner import drain, run_job
from studio.tasks import all_tasks
from studio.tasks.interpolate import InterpolateRequest
from studio.tasks.long_video_request import LongVideoRequest
from studio.video_io import count_frames, ffmpeg_exe, iter_frames, probe_video

VFR_FRAMES = 24


def _vfr_time(n: int) -> float:
    """When frame n starts: 30 fps with a half-second freeze after every 8th frame, like a phone
    clip that stalled (1.8 s, 24 frames: the shape of the clip in the issue)."""
    return n / 30 + 0.5 * (n // 8)


@pytest.fixture
def env(tmp_path: Path) -> StudioEnv:
    return StudioEnv(outputs=tmp_path / "outputs", tiny=True)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-y", "-v", "error", *args], check=True, capture_output=True, timeout=300)


def _vfr_clip(folder: Path) -> Path:
    """A real variable-frame-rate mp4: every frame stamped with `_vfr_time` (1 ms encoder ticks)."""
    for i, frame in enumerate(moving_square_frames(VFR_FRAMES, 48, 64, step=1)):
        Image.fromarray(frame).save(folder / f"v{i:03d}.png")
    out = folder / "vfr.mp4"
    _ffmpeg("-framerate", "25", "-i", str(folder / "v%03d.png"),
            "-vf", "settb=1/1000,setpts='(N/30+0.5*floor(N/8))/TB'", "-fps_mode", "vfr",
            "-enc_time_base", "1/1000", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", str(out))
    return out


def _test_pattern(path: Path, size: str, rate: str, frames: int) -> Path:
    """ffmpeg's moving test card, softened like camera footage (its hard chroma edges alone lose
    ~3 dB in any RGB round trip through x264, which is not what these tests are about)."""
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate},gblur=sigma=1.5", "-frames:v", str(frames),
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p", str(path))
    return path


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_vfr_probe_reports_real_duration_and_the_frames_the_reader_delivers(tmp_path: Path) -> None:
    clip = _vfr_clip(tmp_path)
    info = probe_video(clip)
    delivered = list(iter_frames(clip))
    assert len(delivered) == info.frames
    last_start = _vfr_time(VFR_FRAMES - 1)
    longest = max(_vfr_time(n + 1) - _vfr_time(n) for n in range(VFR_FRAMES - 1))
    assert last_start <= info.duration <= last_start + longest  # + the last frame's own length
    assert abs(len(delivered) / info.fps - info.duration) <= 1 / info.fps  # frames at fps span the duration
    assert info.vfr and info.fps == pytest.approx(30)  # read at its own 30 fps, the stalls repeated


def test_vfr_interpolation_keep_duration_keeps_the_duration_and_settings_count(env: StudioEnv,
                                                                               tmp_path: Path) -> None:
    clip = _vfr_clip(tmp_path)
    source = probe_video(clip)
    result = drain(run_job(all_tasks()["interpolate"], InterpolateRequest(video=str(clip), factor=2,
                                                                         keep_duration=True, mp4_crf=0), env))
    out = probe_video(result.video)
    assert abs(out.duration - source.duration) <= 1 / source.fps  # within one input frame
    settings = json.loads((result.video.parent / "settings.json").read_text())
    written = count_frames(result.video)
    assert settings["interpolation"]["output_frames"] == written
    assert settings["interpolation"]["written_frames"] == written
    assert settings["interpolation"]["input_frames"] == source.frames


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_growth(frames) -> tuple[set[tuple[int, ...]], float]:
    """Shapes seen and the largest RSS growth (MB) while holding the last 16 frames, as extend does."""
    start, peak, held, shapes = _rss_mb(), 0.0, [], set()
    for frame in frames:
        shapes.add(frame.shape)
        held = (held + [frame])[-16:]
        peak = max(peak, _rss_mb() - start)
    return shapes, peak


def test_reader_for_a_large_input_yields_frames_no_bigger_than_the_target(tmp_path: Path) -> None:
    big = _test_pattern(tmp_path / "big.mp4", "3840x2160", "30", 12)
    shapes, scaled = _peak_growth(iter_frames(big, size=(64, 48)))
    assert shapes == {(48, 64, 3)}
    _, native = _peak_growth(iter_frames(big))
    print(f"RSS growth holding 12 frames of a 4K input: scaled on read {scaled:.1f} MB, at 4K {native:.1f} MB")


def test_extend_mode_hands_the_model_bucket_sized_context(env: StudioEnv, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4K input must reach the model at the bucket (scaled by ffmpeg), never at 4K."""
    import models.framepack.pipeline as pipeline

    big = _test_pattern(tmp_path / "big.mp4", "3840x2160", "30", 12)
    seen: dict[str, object] = {}

    class Seen(Exception):
        pass

    def spy(placement, params, **kwargs):
        seen["context"], seen["image"] = params.extend_frames.shape, params.image.shape
        seen["rss_growth"] = _rss_mb() - before
        raise Seen  # enough: the 4K output is not the point here

    monkeypatch.setattr(pipeline, "generate", spy)
    req = LongVideoRequest(input_image=None, prompt="go on", mode="extend", input_video=str(big),
                           extend_context_frames=8, total_second_length=1.0, latent_window_size=3, steps=1,
                           bucket=64, use_teacache=False, seed=1)
    before = _rss_mb()
    with pytest.raises(Seen):
        drain(run_job(all_tasks()["long_video"], req, env))
    assert seen["context"] == (8, 48, 80, 3)  # the 16:9 bucket at base 64, 8 frames: nothing bigger
    assert seen["image"] == (48, 80, 3)
    print(f"RSS growth when the model gets a 4K input's context: {seen['rss_growth']:.1f} MB")


def test_extend_output_keeps_the_input_frames_size_and_rate(env: StudioEnv, tmp_path: Path) -> None:
    src = _test_pattern(tmp_path / "qcif.mp4", "176x144", "30000/1001", 20)
    source = probe_video(src)
    assert (source.width, source.height, source.frames) == (176, 144, 20)
    req = LongVideoRequest(input_image=None, prompt="go on", mode="extend", input_video=str(src),
                           extend_context_frames=8, total_second_length=1.0, latent_window_size=3, steps=1,
                           bucket=64, use_teacache=False, seed=1)
    result = drain(run_job(all_tasks()["long_video"], req, env))
    out = probe_video(result.video)
    assert (out.width, out.height) == (176, 144)
    assert out.fps == pytest.approx(30000 / 1001, abs=1e-3)
    written = count_frames(result.video)
    assert written > 20 and result.metadata["frames"] == written
    assert result.metadata["fps"] == pytest.approx(30000 / 1001, abs=1e-3)
    mine = list(iter_frames(src))
    theirs = list(iter_frames(result.video))[:20]
    worst = min(_psnr(a, b) for a, b in zip(mine, theirs))
    assert worst > 35, f"input frames changed in the output: worst PSNR {worst:.1f} dB"
