"""VFI benchmark: every method side by side on a dev set, in one run, following its PROTOCOL.md.

    python benchmarks/vfi.py [--set real|synthetic] [--data DIR] [--methods repeat,blend,...]
                             [--ks 2,4,8] [--clips rd02,rd10] [--json OUT] [--models-dir DIR]

--set real (default): ../shared/bench/vfi_real_dev, real footage. The metrics, the clip reader,
  the ffmpeg minterpolate baseline and the cut-interval rule are imported from that folder's
  reference scorer `score.py`, so the figures are the scorer's own. Main table per k over the
  11 main clips, per-clip PSNR, and the scene-cut clips (rc01, rc02) in a separate table.
--set synthetic: ../shared/bench/vfi_dev (a virtual camera over still photos), a secondary
  check; its minterpolate runs through PNG files, as in that set's BASELINES.md.

For each clip and k: keep frames 0, k, 2k, .., 32; the method sees only those; only the dropped
frames are scored (PSNR on RGB, SSIM on luma); per-k mean over clips; fps = synthesised frames /
seconds inside the method over the main clips, after one untimed warm-up call.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

import cv2
import imageio_ffmpeg
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.interpolation.baselines import (  # noqa: E402
    frame_repeat,
    linear_crossfade,
    plain_dis_warp,
)

SETS = {"real": ROOT.parent / "shared/bench/vfi_real_dev", "synthetic": ROOT.parent / "shared/bench/vfi_dev"}
ClipFn = Callable[[Sequence[np.ndarray], int], list[np.ndarray]]
Metric = Callable[[np.ndarray, np.ndarray], float]


# ---------------------------------------------------------------------------------------------
# clips and metrics

@dataclass
class Clip:
    id: str
    name: str
    frames: np.ndarray  # (33, H, W, 3) uint8 RGB
    cut_after: int | None = None  # scene-cut clips: the last frame of the first shot


def load_scorer(folder: Path) -> ModuleType:
    """The set's reference scorer, imported from its folder (the metrics are its own)."""
    spec = importlib.util.spec_from_file_location("vfi_real_score", folder / "score.py")
    if spec is None or spec.loader is None or not (folder / "score.py").exists():
        raise SystemExit(f"no score.py in {folder}: is --data the real-footage dev set?")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_real(folder: Path, scorer: ModuleType, only: set[str] | None) -> tuple[list[Clip], list[Clip]]:
    """(main clips, scene-cut clips), decoded and checked by score.py's own loader."""
    def clips(key: str) -> list[Clip]:
        return [Clip(m["id"], m.get("name", m["id"]), fr, m.get("scene_cut_after"))
                for m, fr in scorer.load(str(folder), key, only)]
    return clips("clips"), clips("cut_clips")


def load_synthetic(folder: Path, only: set[str] | None) -> list[Clip]:
    clips = []
    for path in sorted(folder.glob("d*.json")):
        meta = json.loads(path.read_text())
        if only and meta["id"] not in only:
            continue
        reader = imageio_ffmpeg.read_frames(str(folder / meta["file"]), pix_fmt="rgb24")
        w, h = next(reader)["size"]
        frames = np.stack([np.frombuffer(buf, np.uint8).reshape(h, w, 3) for buf in reader])
        if hashlib.sha256(frames.tobytes()).hexdigest() != meta["frames_sha256"]:
            raise SystemExit(f"{path.name}: decoded frames do not match frames_sha256 (decoder problem?)")
        clips.append(Clip(meta["id"], path.stem.split("_", 1)[-1], frames))
    return clips


def synthetic_metrics() -> tuple[Metric, Metric]:
    """The synthetic set's PROTOCOL.md metrics (PSNR on RGB capped at 100 dB, SSIM on luma)."""
    from skimage.metrics import structural_similarity

    def luma(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
        return 100.0 if mse == 0 else min(100.0, 10 * np.log10(255.0 ** 2 / mse))

    def ssim(a: np.ndarray, b: np.ndarray) -> float:
        return float(structural_similarity(luma(a), luma(b), gaussian_weights=True, sigma=1.5,
                                           use_sample_covariance=False, data_range=255))
    return psnr, ssim


# ---------------------------------------------------------------------------------------------
# methods

def minterpolate_png(frames: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
    """ffmpeg minterpolate through PNG files, as the synthetic set's BASELINES.md ran it (the
    last frame twice so the last interval is interpolated; kept positions are the inputs)."""
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


def task_method(method: str, models_dir: Path | None) -> tuple[ClipFn | None, str]:
    """`method` through the task layer (studio.tasks.interpolate.interpolate_frames: what the tab,
    API and CLI run, scene-cut handling included), or None and the reason it cannot run (its
    weights do not resolve)."""
    from studio.env import StudioEnv
    from studio.tasks import interpolate as task

    env = StudioEnv(models_dir=models_dir)

    def run(frames: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
        return task.interpolate_frames(list(frames), k, method=method, env=env)

    probe = [np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 128, np.uint8)]
    try:
        run(probe, 2)
    except Exception as exc:  # noqa: BLE001 - missing weights, or anything else: say why
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return run, ""


def methods_for(set_name: str, scorer: ModuleType | None,
                models_dir: Path | None = None) -> dict[str, tuple[str, ClipFn | None, str]]:
    """name -> (label, clip function or None, why it is not available)."""
    minterp = scorer.minterpolate if scorer is not None else minterpolate_png
    rife, why = task_method("rife", models_dir) if set_name == "real" else (None, "not run on the synthetic set")
    flow, _ = task_method("flow", None)
    return {
        "repeat": ("frame repeat", frame_repeat, ""),
        "blend": ("linear blend", linear_crossfade, ""),
        "minterpolate": ("ffmpeg minterpolate (mci, aobmc, bidir, vsbmc=1)", minterp, ""),
        "dis": ("plain DIS warp", plain_dis_warp, ""),
        "flow": ("**flow** (weight-free; the task path, scene cuts handled)", flow, ""),
        "rife": ("rife (RIFE 4.25 weights, CPU fp32; the task path)", rife, why),
    }


# ---------------------------------------------------------------------------------------------
# protocol

@dataclass
class ClipResult:
    psnr: float
    ssim: float
    n: int
    seconds: float
    kept_psnr_min: float
    cut: dict[str, float] = field(default_factory=dict)


def cut_split(n_frames: int, k: int, cut_after: int) -> tuple[list[int], list[int]]:
    """Dropped frames of the kept interval that holds the cut, and the other dropped frames
    (score.py's rule: the interval [a, a+k] with a = floor(c/k)*k)."""
    a = (cut_after // k) * k
    dropped = [i for i in range(n_frames) if i % k]
    return [i for i in dropped if a < i < a + k], [i for i in dropped if not a < i < a + k]


def run_clip(fn: ClipFn, clip: Clip, k: int, psnr: Metric, ssim: Metric) -> ClipResult:
    fr = clip.frames
    kept = [f for f in fr[::k]]
    t0 = time.perf_counter()
    out = list(fn(kept, k))
    seconds = time.perf_counter() - t0
    if len(out) != len(fr):
        raise SystemExit(f"{clip.id} k={k}: {len(out)} frames, expected {len(fr)}")
    dropped = [i for i in range(len(fr)) if i % k]
    ps = {i: psnr(out[i], fr[i]) for i in dropped}
    ss = {i: ssim(out[i], fr[i]) for i in dropped}
    kept_min = min(psnr(out[i], fr[i]) for i in range(0, len(fr), k))
    res = ClipResult(float(np.mean(list(ps.values()))), float(np.mean(list(ss.values()))), len(dropped), seconds,
                     kept_min)
    if clip.cut_after is not None:
        at, rest = cut_split(len(fr), k, clip.cut_after)
        res.cut = {"cut_psnr": float(np.mean([ps[i] for i in at])), "cut_ssim": float(np.mean([ss[i] for i in at])),
                   "rest_psnr": float(np.mean([ps[i] for i in rest]))}
    return res


def run_method(fn: ClipFn, main: list[Clip], cuts: list[Clip], ks: list[int], psnr: Metric,
               ssim: Metric) -> dict[tuple[str, int], ClipResult]:
    first = main[0]
    fn([f for f in first.frames[:: ks[0]]], ks[0])  # untimed warm-up (model loading, caches)
    return {(c.id, k): run_clip(fn, c, k, psnr, ssim) for c in main + cuts for k in ks}


def per_k(res: dict[tuple[str, int], ClipResult], clips: list[Clip], k: int) -> tuple[float, float, float]:
    """(PSNR, SSIM, fps) over the clips at k: clips weigh equally, fps over all their frames."""
    rows = [res[(c.id, k)] for c in clips]
    frames, secs = sum(r.n for r in rows), sum(r.seconds for r in rows)
    return (float(np.mean([r.psnr for r in rows])), float(np.mean([r.ssim for r in rows])),
            frames / secs if secs > 0 else float("inf"))


def oracle_hold(clip: Clip, k: int, psnr: Metric) -> float:
    """score.py's bound: the cut interval filled with the kept frame of the right shot."""
    fr, c = clip.frames, clip.cut_after
    assert c is not None
    a = (c // k) * k
    return float(np.mean([psnr(fr[a] if i <= c else fr[a + k], fr[i]) for i in range(a + 1, a + k)]))


# ---------------------------------------------------------------------------------------------
# report

def fps_text(x: float) -> str:
    return ">1e5" if x >= 1e5 else f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def main_table(results: dict[str, dict], labels: dict[str, str], clips: list[Clip], ks: list[int]) -> str:
    head = "| method | " + " | ".join(f"k={k} PSNR / SSIM / fps" for k in ks) + " | overall PSNR / SSIM |"
    rows = [head, "|" + "---|" * (len(ks) + 2)]
    for name, res in results.items():
        cells = [per_k(res, clips, k) for k in ks]
        overall = np.mean([c[0] for c in cells]), np.mean([c[1] for c in cells])
        rows.append(f"| {labels[name]} | " + " | ".join(f"{p:.2f} / {s:.3f} / {fps_text(f)}" for p, s, f in cells)
                    + f" | {overall[0]:.2f} / {overall[1]:.3f} |")
    return "\n".join(rows)


def gain_lines(results: dict[str, dict], clips: list[Clip], ks: list[int]) -> list[str]:
    """flow against DIS (per k, worst clip) and flow's speed against minterpolate, same run."""
    out = []
    if "flow" in results and "dis" in results:
        f, d = results["flow"], results["dis"]
        gains = "/".join(f"{per_k(f, clips, k)[0] - per_k(d, clips, k)[0]:+.2f}" for k in ks)
        worst = min((f[(c.id, k)].psnr - d[(c.id, k)].psnr, c.id, k) for c in clips for k in ks)
        out.append(f"flow vs plain DIS, PSNR k={'/'.join(map(str, ks))}: {gains} dB; "
                   f"worst clip {worst[0]:+.2f} dB ({worst[1]} k={worst[2]})")
    if "flow" in results and "minterpolate" in results:
        ratios = [per_k(results["flow"], clips, k)[2] / per_k(results["minterpolate"], clips, k)[2] for k in ks]
        tot = {m: sum(results[m][(c.id, k)].n for c in clips for k in ks)
               / sum(results[m][(c.id, k)].seconds for c in clips for k in ks) for m in ("flow", "minterpolate")}
        out.append(f"speed: flow {' / '.join(fps_text(per_k(results['flow'], clips, k)[2]) for k in ks)} fps, "
                   f"minterpolate {' / '.join(fps_text(per_k(results['minterpolate'], clips, k)[2]) for k in ks)} "
                   f"fps (k={'/'.join(map(str, ks))}): flow is "
                   + " / ".join(f"{r:.1f}x" for r in ratios)
                   + f" minterpolate's speed; overall {tot['flow']:.0f} vs {tot['minterpolate']:.0f} fps "
                     f"= {tot['flow'] / tot['minterpolate']:.1f}x")
    return out


def per_clip_table(results: dict[str, dict], clips: list[Clip], ks: list[int]) -> str:
    head = "| clip | " + " | ".join(results) + " |"
    rows = [f"PSNR dB at k={' / '.join(map(str, ks))}", "", head, "|" + "---|" * (len(results) + 1)]
    for c in clips:
        rows.append(f"| {c.id} {c.name} | " + " | ".join(
            " / ".join(f"{res[(c.id, k)].psnr:.2f}" for k in ks) for res in results.values()) + " |")
    return "\n".join(rows)


def cut_table(results: dict[str, dict], cuts: list[Clip], ks: list[int], psnr: Metric) -> str:
    head = "| method | " + " | ".join(f"k={k} all / cut / rest" for k in ks) + " |"
    rows = ['PSNR dB over all dropped frames / the kept interval holding the cut / the other dropped frames',
            "", head, "|" + "---|" * (len(ks) + 1)]
    for name, res in results.items():
        cells = []
        for k in ks:
            r = [res[(c.id, k)] for c in cuts]
            cells.append(f"{np.mean([x.psnr for x in r]):.2f} / {np.mean([x.cut['cut_psnr'] for x in r]):.2f} / "
                         f"{np.mean([x.cut['rest_psnr'] for x in r]):.2f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    rows.append("| oracle hold (needs the cut position: a bound) | " + " | ".join(
        f"- / {np.mean([oracle_hold(c, k, psnr) for c in cuts]):.2f} / -" for k in ks) + " |")
    return "\n".join(rows)


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), model)
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} logical CPUs; Python {platform.python_version()}, numpy {np.__version__}, "
            f"OpenCV {cv2.__version__}")


def load_avg() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=list(SETS), default="real", help="real footage (default) or the synthetic set")
    ap.add_argument("--data", type=Path, help="the dev-set folder (default: the --set's folder)")
    ap.add_argument("--methods", default="repeat,blend,minterpolate,dis,flow,rife")
    ap.add_argument("--ks", default="2,4,8", help="subsampling factors (default 2,4,8)")
    ap.add_argument("--clips", default="", help="comma-separated clip ids (default all)")
    ap.add_argument("--no-cut", action="store_true", help="skip the scene-cut clips")
    ap.add_argument("--json", type=Path, help="also write all numbers to this JSON file")
    ap.add_argument("--models-dir", type=Path, help="folder with <owner>/<repo>/ weights (rife), as app.py's")
    args = ap.parse_args(argv)
    folder = args.data or SETS[args.set]
    ks = [int(k) for k in args.ks.split(",") if k]
    only = {c for c in args.clips.split(",") if c} or None
    if args.set == "real":
        scorer = load_scorer(folder)
        psnr, ssim = scorer.psnr, scorer.ssim_luma
        main_clips, cuts = load_real(folder, scorer, only)
    else:
        scorer = None
        psnr, ssim = synthetic_metrics()
        main_clips, cuts = load_synthetic(folder, only), []
    if args.no_cut:
        cuts = []
    if not main_clips:
        raise SystemExit(f"no main clips in {folder}")
    table = methods_for(args.set, scorer, args.models_dir)
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in table]
    if unknown:
        ap.error(f"unknown method(s) {unknown}; choose from {list(table)}")

    print(f"# {args.set} set {folder}: {len(main_clips)} main + {len(cuts)} cut clips, k={ks}", flush=True)
    print(f"# machine: {machine()}; load avg (1 min) {load_avg()} at start", flush=True)
    results: dict[str, dict] = {}
    for name in names:
        label, fn, why = table[name]
        if fn is None:
            print(f"{name}: not available ({why})", flush=True)
            continue
        t0 = time.perf_counter()
        results[name] = run_method(fn, main_clips, cuts, ks, psnr, ssim)
        kept = min(r.kept_psnr_min for r in results[name].values())
        print(f"# {name}: {time.perf_counter() - t0:.0f} s, load avg {load_avg()}; kept frames "
              + ("unchanged" if kept >= 100 else f"min {kept:.1f} dB"), flush=True)
    labels = {n: table[n][0] for n in results}

    print(f"\nmain set ({len(main_clips)} clips)\n")
    print(main_table(results, labels, main_clips, ks))
    print()
    for line in gain_lines(results, main_clips, ks):
        print(line)
    print()
    print(per_clip_table(results, main_clips, ks))
    if cuts:
        print(f"\nscene-cut clips ({', '.join(c.id for c in cuts)}; not in the main means)\n")
        print(cut_table(results, cuts, ks, psnr))
    print(f"\n# load avg (1 min) {load_avg()} at end")
    if args.json:
        payload = {"set": args.set, "data": str(folder), "ks": ks, "machine": machine(),
                   "results": {m: {f"{cid} k={k}": vars(r) for (cid, k), r in res.items()}
                               for m, res in results.items()}}
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
