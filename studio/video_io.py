"""Streaming mp4 writing and video reading with imageio-ffmpeg's bundled ffmpeg.

Frames go through ffmpeg one at a time in both directions, so a 10-minute 1080p video never sits
whole in RAM. Writing goes to a temp name and is renamed only when ffmpeg finished cleanly.
Reading follows the frames' timestamps: `probe_video` says how many frames at what rate
`iter_frames` will deliver, also for variable-frame-rate input (phones, screen recordings).
"""
from __future__ import annotations

import math
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import imageio_ffmpeg
import numpy as np

from core.errors import InputError
from studio.outputs import atomic_path

DEFAULT_CRF = 16


def _encoder_args(crf: int) -> tuple[str, str, list[str]]:
    """(codec, pix_fmt_out, extra params). crf 0 means lossless RGB (not playable in browsers)."""
    if crf == 0:
        return "libx264rgb", "rgb24", ["-crf", "0", "-preset", "veryfast"]
    # yuv420p needs even sides: pad by one black row/column instead of resizing the picture.
    return "libx264", "yuv420p", ["-crf", str(crf), "-preset", "veryfast", "-movflags", "+faststart",
                                  "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]


class Mp4Writer:
    """`with Mp4Writer(path, fps) as w: w.write(frame)`; the file appears under `path` on success."""

    def __init__(self, path: Path, fps: float, crf: int = DEFAULT_CRF) -> None:
        if not (0 <= int(crf) <= 51):
            raise InputError("mp4_crf", f"{crf} is outside 0–51", "use 16 (default); 0 is lossless RGB")
        self.path = Path(path)
        self.fps = float(fps)
        self.crf = int(crf)
        self.frames = 0
        self._atomic = None
        self._gen = None
        self._size: tuple[int, int] | None = None

    def __enter__(self) -> "Mp4Writer":
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be HxWx3 uint8, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if self._gen is None:
            codec, pix_fmt, params = _encoder_args(self.crf)
            self._size = (w, h)
            self._gen = imageio_ffmpeg.write_frames(
                str(self._tmp), (w, h), fps=self.fps, codec=codec, pix_fmt_out=pix_fmt, quality=None,
                macro_block_size=1, output_params=params, ffmpeg_log_level="error",
            )
            self._gen.send(None)
        elif (w, h) != self._size:
            raise ValueError(f"frame size changed from {self._size} to {(w, h)}")
        self._gen.send(frame)
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        # No frames (e.g. stopped before the first one) means no file, rather than an empty mp4.
        ok = exc_type is None and self.frames > 0
        try:
            if self._gen is not None:
                self._gen.close()  # waits for ffmpeg to finish the file
        except Exception:
            ok = False
            if exc_type is None:
                raise
        finally:
            if ok:
                self._atomic.__exit__(None, None, None)
            else:  # throwing into atomic_path makes it delete the temp file, nothing gets renamed
                self._atomic.__exit__(RuntimeError, RuntimeError("mp4 not finished"), None)


def write_mp4(frames: Iterable[np.ndarray], path: Path, fps: float, crf: int = DEFAULT_CRF) -> Path:
    with Mp4Writer(path, fps, crf) as writer:
        for frame in frames:
            writer.write(frame)
    if writer.frames == 0:
        raise ValueError("no frames to write")
    return Path(path)


@dataclass(frozen=True)
class VideoInfo:
    width: int   # as decoded (ffmpeg applies a phone video's rotation)
    height: int
    fps: float   # the rate `iter_frames` delivers: the stream's own, or its typical rate for VFR input
    frames: int | None  # the frames `iter_frames` delivers; None when the stream has no timestamps
    duration: float  # seconds, from the frames' timestamps (the container's figure without them)
    vfr: bool = False  # variable frame rate: `iter_frames` resamples it to `fps` by its timestamps


_MS = Fraction(1, 1000)
_NOPTS = -(2 ** 63)  # AV_NOPTS_VALUE as framecrc prints it
# Rates a stream is snapped to when its timestamps say so within rounding (mkv's 1 ms ticks).
_COMMON_RATES = tuple(Fraction(r) for r in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50",
                                            "60000/1001", "60", "90", "100", "120000/1001", "120"))


@dataclass(frozen=True)
class _Timing:
    frames: int
    rate: Fraction
    duration: float
    vfr: bool


def probe_video(path: Path | str, field: str = "video") -> VideoInfo:
    """Size, rate and length of a video; InputError naming `field` if it is not a readable video.

    The frame count and rate are the ones `iter_frames` delivers, taken from the packets'
    timestamps (a stream copy, no decoding), so a job's settings and its output agree."""
    if path is None or path == "":
        raise InputError(field, "no video given", "upload a video file (mp4, mov, webm, mkv, avi, gif)")
    path = Path(path)
    if not path.is_file():
        raise InputError(field, f"no file at {path.name!r}", "upload a video file (mp4, mov, webm, mkv, avi, gif)")
    if path.stat().st_size == 0:
        raise InputError(field, "the file is empty (0 bytes)", "upload a video file that plays")
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    except (RuntimeError, StopIteration, OSError) as err:
        raise InputError(field, "is not a video ffmpeg can read", "upload an mp4, mov, webm, mkv, avi or gif") from err
    finally:
        reader.close()
    w, h = meta.get("size", (0, 0))
    fps = float(meta.get("fps") or 0.0)
    duration = float(meta.get("duration") or 0.0)
    if w <= 0 or h <= 0 or not math.isfinite(fps) or fps <= 0:
        raise InputError(field, "has no video stream", "upload a file with a video track")
    timing = _timing(path)
    if timing is None:  # no usable timestamps: trust the header, as ffmpeg's plain decode would
        frames = int(meta["nframes"]) if isinstance(meta.get("nframes"), (int, float)) and math.isfinite(meta["nframes"]) else None
        return VideoInfo(int(w), int(h), fps, frames, duration)
    return VideoInfo(int(w), int(h), float(timing.rate), timing.frames, timing.duration, timing.vfr)


def _packet_times(path: Path) -> tuple[list[int], Fraction]:
    """Sorted presentation timestamps of the first video stream's packets (ticks) and the time
    base. A stream copy: no decoding."""
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                           "-f", "framecrc", "-"], capture_output=True, text=True, timeout=600)
    base, pts = Fraction(1, 1), []
    for line in proc.stdout.splitlines():
        if line.startswith("#tb 0:"):
            base = Fraction(line.split(":", 1)[1].strip())
        elif line.startswith("0,"):
            stamp = int(line.split(",")[2])
            if stamp == _NOPTS:
                return [], base
            pts.append(stamp)
    return sorted(pts), base


def _timing(path: Path) -> _Timing | None:
    """Frame count, rate, real duration and VFR flag from the packets' timestamps (None if absent)."""
    pts, base = _packet_times(path)
    n = len(pts)
    if n < 2 or pts[-1] <= pts[0]:
        return None
    span = pts[-1] - pts[0]
    mean = span / (n - 1)
    # CFR when every frame sits within a quarter frame of its even slot (tolerates 1 ms tick rounding).
    drift = max(abs(t - pts[0] - i * mean) for i, t in enumerate(pts))
    vfr = drift > 0.25 * mean
    intervals = sorted(b - a for a, b in zip(pts, pts[1:]))
    rounding = _MS + 2 * base  # timestamps rounded to 1 ms (mkv, webm) or to a tick, at both ends
    if not vfr:
        rate = _snap_rate(span * base / (n - 1), rounding / (n - 1))
        return _Timing(n, rate, float(n / rate), False)
    # VFR: read at its typical (median) rate over the real duration, so where the rate dipped a
    # frame is repeated rather than others dropped (a phone's 30 fps clip that fell to 20 in low
    # light or stalled stays 30 fps); bounded to 1-4x the average rate and 120 fps so an odd stream
    # cannot blow up the frame count.
    median = intervals[(n - 1) // 2] or max(1, round(mean))
    # The last frame is taken to last a typical interval (packet durations follow decode order).
    seconds = (span + median) * base
    average = Fraction(n) / seconds
    typical = _snap_rate(median * base, rounding)
    rate = min(max(typical, average), 4 * average, max(average, 120))
    rate = rate.limit_denominator(100_000)
    return _Timing(max(1, round(seconds * rate)), rate, float(seconds), True)


def _snap_rate(interval: Fraction, tolerance: Fraction) -> Fraction:
    """The rate of a measured frame interval (seconds): the nearest common rate when the interval
    is within `tolerance` of that rate's, so 33 ms ticks read as 30 fps."""
    nearest = min(_COMMON_RATES, key=lambda common: abs(interval - 1 / common))
    return nearest if abs(interval - 1 / nearest) <= tolerance else (1 / interval).limit_denominator(100_000)


def iter_frames(path: Path | str, *, size: tuple[int, int] | None = None, fps: float | None = None,
                tail_seconds: float | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB uint8 frames, one at a time, following the video's timestamps.

    Default: exactly `probe_video(path).frames` frames at its `fps` (VFR input is resampled by its
    timestamps to a constant rate over its real duration; CFR input passes through unchanged). `size=(width, height)`
    scales in ffmpeg's decode (no crop), so a 4K input never reaches Python at 4K; `fps` resamples
    to that rate instead; `tail_seconds` decodes only the last that many seconds."""
    info = probe_video(path)
    width, height = size or (info.width, info.height)
    filters, exact = [], None
    if fps is not None:
        filters.append(f"fps={Fraction(fps).limit_denominator(100_000)}")
    elif info.vfr:
        filters.append(f"fps={Fraction(info.fps).limit_denominator(100_000)}")
    if fps is None and tail_seconds is None:
        exact = info.frames  # what the probe promised, whatever the filter's rounding at the ends
    if (width, height) != (info.width, info.height):
        filters.append(f"scale={int(width)}:{int(height)}:flags=area")
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin"]
    if tail_seconds is not None:
        cmd += ["-sseof", f"{-float(tail_seconds):.6f}"]
    cmd += ["-i", str(path), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", ",".join(filters) or "null",
            "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    yield from _decode(cmd, int(width), int(height), exact)


def _decode(cmd: list[str], width: int, height: int, exact: int | None) -> Iterator[np.ndarray]:
    """Run ffmpeg and yield its raw frames; with `exact`, stop at or pad (last frame) to that count."""
    frame_bytes = width * height * 3
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        count, last = 0, None
        try:
            while exact is None or count < exact:
                raw = proc.stdout.read(frame_bytes)
                if len(raw) < frame_bytes:
                    break
                last = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
                count += 1
                yield last
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()  # closed early (enough frames, or the caller stopped reading)
            code = proc.wait()
        if code != 0 and (exact is None or count < exact):
            log.seek(0)
            raise RuntimeError(f"ffmpeg could not decode the video: {log.read().decode(errors='replace')[-500:]}")
    while last is not None and exact is not None and count < exact:
        count += 1  # the filter's end rounding gave one short: the last picture is still on screen
        yield last


def count_frames(path: Path | str) -> int:
    """Frames stored in the file, as ffmpeg decodes them without resampling (a full decode)."""
    frames, _secs = imageio_ffmpeg.count_frames_and_secs(str(path))
    return int(frames)


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def is_playable_mp4(path: Path | str) -> bool:
    """True when ffmpeg decodes the whole file without errors (used by tests and stop handling)."""
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode == 0 and not proc.stderr.strip()
