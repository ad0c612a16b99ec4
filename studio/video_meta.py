"""What a finished video carries about itself: the job's settings in its mp4 metadata (so a video
dropped on the studio loads them back, as FramePack-Studio and Wan2GP users expect) and a small
thumbnail for the Outputs list. Both go through ffmpeg (imageio-ffmpeg's binary) with stream copy
or one decoded frame, never a re-encode of the video."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from studio.outputs import atomic_path
from studio.video_io import ffmpeg_exe

# The mp4 "comment" tag holds compact JSON under this key, so other tools' comments are ignored.
MARKER = "frame_studio"


def embed_settings(src: Path, dst: Path, payload: dict[str, Any]) -> Path:
    """Copy `src` to `dst` (stream copy, atomic) with `payload` as the mp4 comment."""
    comment = json.dumps({MARKER: payload}, separators=(",", ":"), sort_keys=True, default=str)
    with atomic_path(Path(dst)) as tmp:
        proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-map", "0", "-c", "copy",
                               "-metadata", f"comment={comment}", "-movflags", "+faststart", "-f", "mp4", str(tmp)],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise OSError(f"ffmpeg could not write {Path(dst).name}: {proc.stderr.strip()[-300:]}")
    return Path(dst)


def _unescape(value: str) -> str:
    """ffmetadata escapes '=', ';', '#', '\\' and newlines with a backslash."""
    out, escaped = [], False
    for ch in value:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


def read_embedded_settings(path: Path) -> dict[str, Any] | None:
    """The payload `embed_settings` stored in a video, or None (not ours, or no metadata)."""
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None
    lines = proc.stdout.split("\n")
    for i, line in enumerate(lines):
        if not line.startswith("comment="):
            continue
        value = line[len("comment="):]
        while value.endswith("\\") and i + 1 < len(lines):  # an escaped newline continues the value
            i += 1
            value = value + "\n" + lines[i]
        try:
            data = json.loads(_unescape(value))
        except ValueError:
            return None
        found = data.get(MARKER) if isinstance(data, dict) else None
        return found if isinstance(found, dict) else None
    return None


def thumbnail(video: Path, out: Path, width: int = 192) -> Path | None:
    """A small JPEG of the video's first frame (made once, beside the video); None if ffmpeg fails."""
    if out.is_file():
        return out
    try:
        with atomic_path(out) as tmp:
            proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-frames:v", "1",
                                   "-vf", f"scale={width}:-2", "-f", "image2", "-c:v", "mjpeg", str(tmp)],
                                  capture_output=True, timeout=60)
            if proc.returncode != 0 or not tmp.stat().st_size:
                raise OSError("no thumbnail")
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out
