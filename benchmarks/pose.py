"""Pose extraction speed on CPU: frames per second at 512 and 720 px tall, body only and
body + hands + face, on real footage (the vtest pedestrian clips of ../shared/bench/vfi_real_dev).

    python benchmarks/pose.py [--clips DIR] [--frames 33]

Frames are resized (bicubic) so their height is the target; the whole streaming path is timed
(BlazePose in tracking mode, crops for hands and face, gap filling, One-Euro smoothing), after
one untimed warm-up frame. Also prints how many frames had a person.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.pose.extract import ExtractOptions, PoseDetector, iter_poses  # noqa: E402

DEFAULT_CLIPS = ROOT.parent / "shared/bench/vfi_real_dev"
CLIPS = ("rd03_vtest_toward", "rd05_vtest_path")


def read_clip(path: Path, height: int, limit: int) -> list[np.ndarray]:
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    w, h = meta["size"]
    width = round(w * height / h / 2) * 2
    frames = []
    try:
        for raw in reader:
            frame = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
            frames.append(cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC))
            if len(frames) == limit:
                break
    finally:
        reader.close()
    return frames


def time_clip(frames: list[np.ndarray], options: ExtractOptions) -> tuple[float, int]:
    with PoseDetector(hands=options.hands, face=options.face):   # load the graphs once, untimed
        pass
    start = time.perf_counter()
    poses = list(iter_poses(iter(frames), 10.0, options))
    seconds = time.perf_counter() - start
    return len(frames) / seconds, sum(bool(p.people) for p in poses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--frames", type=int, default=33)
    args = parser.parse_args()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"clips: {', '.join(CLIPS)}; {args.frames} frames each")
    print(f"{'height':>6} {'size':>9} {'parts':<18} {'fps':>6} {'found':>7}")
    for height in (512, 720):
        clips = [read_clip(args.clips / f"{name}.mkv", height, args.frames) for name in CLIPS]
        size = f"{clips[0][0].shape[1]}x{height}"
        for label, options in (("body", ExtractOptions(hands=False, face=False)),
                               ("body+hands+face", ExtractOptions())):
            total_frames = sum(len(c) for c in clips)
            seconds, found = 0.0, 0
            for frames in clips:
                fps, n = time_clip(frames, options)
                seconds += len(frames) / fps
                found += n
            print(f"{height:>6} {size:>9} {label:<18} {total_frames / seconds:6.1f} {found:>3}/{total_frames}")


if __name__ == "__main__":
    main()
