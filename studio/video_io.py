"""Streaming mp4 writing and video reading with imageio-ffmpeg's bundled ffmpeg.

Frames go through ffmpeg one at a time in both directions, so a 10-minute 1080p video never sits
whole in RAM. Writing goes to a temp name and is renamed only when ffmpeg finished cleanly.
"""
from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
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
    width: int
    height: int
    fps: float
    frames: int | None  # None when the container does not say and we did not count
    duration: float


def probe_video(path: Path | str, field: str = "video") -> VideoInfo:
    """Size, rate and length of a video; InputError naming `field` if it is not a readable video."""
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
    frames = int(meta["nframes"]) if isinstance(meta.get("nframes"), (int, float)) and math.isfinite(meta["nframes"]) else None
    return VideoInfo(int(w), int(h), fps, frames, duration)


def iter_frames(path: Path | str) -> Iterator[np.ndarray]:
    """Decoded RGB uint8 frames, one at a time."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
        w, h = meta["size"]
        for raw in reader:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
    finally:
        reader.close()


def count_frames(path: Path | str) -> int:
    """Exact frame count by decoding headers only (ffmpeg's own counter)."""
    frames, _secs = imageio_ffmpeg.count_frames_and_secs(str(path))
    return int(frames)


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def is_playable_mp4(path: Path | str) -> bool:
    """True when ffmpeg decodes the whole file without errors (used by tests and stop handling)."""
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode == 0 and not proc.stderr.strip()
