"""VFI benchmark: every method side by side on the dev clips, following the dev-set PROTOCOL.md.

    python benchmarks/vfi.py [--clips DIR] [--methods ours,dis,...] [--ks 2,4,8] [--json OUT]

For each clip and k: keep frames 0, k, 2k, .., 32; the method sees only those; score only the
dropped frames (PSNR on RGB capped at 100 dB, SSIM on luma); per-k mean over clips; fps =
synthesised frames / seconds inside the method, after one untimed warm-up run. The command-line
method (ffmpeg minterpolate) is timed with its PNG writing, process start and PNG reading.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import imageio_ffmpeg
import numpy as np
from skimage.metrics import structural_similarity

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.interpolation.baselines import (  # noqa: E402
    frame_repeat,
    linear_crossfade,
    plain_dis_warp,
)
from studio.interpolation.flow import interpolate_frames_flow  # noqa: E402

DEFAULT_CLIPS = Path(__file__).resolve().parents[2] / "shared/bench/vfi_dev"
ClipFn = Callable[[Sequence[np.ndarray], int], list[np.ndarray]]


# ---------------------------------------------------------------------------------------------
# methods

def ffmpeg_minterpolate(frames: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
    """ffmpeg's minterpolate with the settings of BASELINES.md, through PNG files.

    The last input frame is given twice so that ffmpeg emits frames up to the end (without it
    the output stops short); kept positions are replaced by the inputs (ffmpeg returns them after
    a YUV round trip, and the protocol scores only dropped frames). This reproduces the published
    numbers exactly.
    """
    want = (len(frames) - 1) * k + 1
    with tempfile.TemporaryDirectory(prefix="vfi_minterp_") as tmp:
        src, dst = Path(tmp, "in"), Path(tmp, "out")
        src.mkdir()
        dst.mkdir()
        for i, f in enumerate(list(frames) + [frames[-1]]):
            cv2.imwrite(str(src / f"{i:08d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-framerate", f"30/{k}", "-i", str(src / "%08d.png"),
               "-vf", "minterpolate=fps=30:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1",
               "-frames:v", str(want), str(dst / "%08d.png")]
        subprocess.run(cmd, check=True)
        out = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(dst.glob("*.png"))]
    out = out[:want] + [frames[-1]] * max(0, want - len(out))
    for i, f in enumerate(frames):
        out[i * k] = f
    return out


METHODS: dict[str, tuple[str, ClipFn]] = {
    "repeat": ("frame repeat (nearest kept frame)", frame_repeat),
    "crossfade": ("linear cross-fade", linear_crossfade),
    "minterpolate": ("ffmpeg minterpolate (mci, aobmc, bidir, vsbmc=1)", ffmpeg_minterpolate),
    "dis": ("plain DIS warp (floor)", plain_dis_warp),
    "ours": ("**ours: flow VFI** (studio.interpolation)", interpolate_frames_flow),
}


# ---------------------------------------------------------------------------------------------
# data and metrics

@dataclass
class Clip:
    id: str
    name: str
    frames: np.ndarray  # (33, H, W, 3) uint8 RGB


def load_clips(folder: Path) -> list[Clip]:
    metas = sorted(folder.glob("d*.json")) or sorted(p for p in folder.glob("*.json") if p.name != "clips.json")
    clips = []
    for path in metas:
        meta = json.loads(path.read_text())
        reader = imageio_ffmpeg.read_frames(str(folder / meta["file"]), pix_fmt="rgb24")
        info = next(reader)
        w, h = info["size"]
        frames = np.stack([np.frombuffer(buf, np.uint8).reshape(h, w, 3) for buf in reader])
        digest = hashlib.sha256(frames.tobytes()).hexdigest()
        if digest != meta["frames_sha256"]:
            raise SystemExit(f"{path.name}: decoded frames do not match frames_sha256 (decoder problem?)")
        clips.append(Clip(meta["id"], path.stem, frames))
    if not clips:
        raise SystemExit(f"no clips in {folder}")
    return clips


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 100.0 if mse == 0 else min(100.0, 10 * np.log10(255.0 ** 2 / mse))


def luma(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(luma(a), luma(b), gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=255))


# ---------------------------------------------------------------------------------------------
# protocol

@dataclass
class KResult:
    psnr: float
    ssim: float
    fps: float
    frames: int
    seconds: float
    per_clip_psnr: dict[str, float] = field(default_factory=dict)
    per_clip_ssim: dict[str, float] = field(default_factory=dict)


def run_method(fn: ClipFn, clips: list[Clip], ks: list[int]) -> dict[int, KResult]:
    fn([f for f in clips[0].frames[:: ks[0]]], ks[0])  # untimed warm-up
    results = {}
    for k in ks:
        seconds, n_synth = 0.0, 0
        per_p, per_s = {}, {}
        for clip in clips:
            kept = [f for f in clip.frames[::k]]
            t0 = time.perf_counter()
            out = fn(kept, k)
            seconds += time.perf_counter() - t0
            expected = (len(kept) - 1) * k + 1
            if len(out) != expected:
                raise SystemExit(f"{clip.name} k={k}: {len(out)} frames, expected {expected}")
            ps, ss = [], []
            for i, frame in enumerate(out):
                if i % k == 0:
                    if not np.array_equal(frame, clip.frames[i]):
                        raise SystemExit(f"{clip.name} k={k}: kept frame {i} was changed")
                    continue
                ps.append(psnr(frame, clip.frames[i]))
                ss.append(ssim(frame, clip.frames[i]))
            n_synth += len(ps)
            per_p[clip.id], per_s[clip.id] = float(np.mean(ps)), float(np.mean(ss))
        results[k] = KResult(float(np.mean(list(per_p.values()))), float(np.mean(list(per_s.values()))),
                             n_synth / seconds, n_synth, seconds, per_p, per_s)
    return results


def machine() -> dict[str, object]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, object] = {"cpu_count": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
                               "opencv": cv2.__version__, "numpy": np.__version__}
    if hasattr(os, "getloadavg"):
        info["load_avg_1m_at_start"] = round(os.getloadavg()[0], 2)
    return info


def table(results: dict[str, dict[int, KResult]], ks: list[int]) -> str:
    head = "| method | " + " | ".join(f"k={k} PSNR / SSIM / fps" for k in ks) + " | overall PSNR | overall fps |"
    rows = [head, "|" + "---|" * (len(ks) + 3)]
    for name, res in results.items():
        cells = [f"{res[k].psnr:.2f} / {res[k].ssim:.3f} / {res[k].fps:.0f}" for k in ks]
        overall = np.mean([res[k].psnr for k in ks])
        fps = sum(res[k].frames for k in ks) / sum(res[k].seconds for k in ks)
        rows.append(f"| {METHODS[name][0]} | " + " | ".join(cells) + f" | {overall:.2f} | {fps:.0f} |")
    return "\n".join(rows)


def per_clip_table(results: dict[str, dict[int, KResult]], ks: list[int], clips: list[Clip]) -> str:
    head = "| method | k | " + " | ".join(c.id for c in clips) + " |"
    rows = [head, "|" + "---|" * (len(clips) + 2)]
    for name, res in results.items():
        for k in ks:
            rows.append(f"| {name} | {k} | " + " | ".join(f"{res[k].per_clip_psnr[c.id]:.1f}" for c in clips) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder with the dNN_*.mp4/.json clips")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    ap.add_argument("--ks", default="2,4,8", help="subsampling factors (default 2,4,8)")
    ap.add_argument("--json", type=Path, help="also write all numbers to this JSON file")
    ap.add_argument("--per-clip", action="store_true", help="also print per-clip PSNR")
    args = ap.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    ks = [int(k) for k in args.ks.split(",")]

    clips = load_clips(args.clips)
    info = machine()
    print(f"{len(clips)} clips from {args.clips}; ks {ks}", flush=True)
    results: dict[str, dict[int, KResult]] = {}
    for name in methods:
        t0 = time.perf_counter()
        results[name] = run_method(METHODS[name][1], clips, ks)
        summary = ", ".join(f"k={k}: {r.psnr:.2f} dB {r.fps:.0f} fps" for k, r in results[name].items())
        print(f"  {name}: {summary} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if hasattr(os, "getloadavg"):
        info["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)

    print()
    print(table(results, ks))
    if args.per_clip:
        print()
        print(per_clip_table(results, ks, clips))
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    if args.json:
        payload = {"machine": info, "ks": ks, "clips": [c.name for c in clips],
                   "results": {m: {str(k): vars(r) for k, r in res.items()} for m, res in results.items()}}
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
