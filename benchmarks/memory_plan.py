"""Bytes per component and planned peak VRAM / RAM of every preset at 6, 8, 12 and 24 GB of VRAM.

    python benchmarks/memory_plan.py [--ram 16] [--seconds 60] [--width 640 --height 640]

Sizes come from the real configs built on the meta device (memory.sizes); peaks from memory.plan.
GB = GiB. Nothing is downloaded or allocated.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memory.budget import gb  # noqa: E402
from studio.planning import plan_for  # noqa: E402
from studio.presets import load_presets  # noqa: E402

VRAMS = (6, 8, 12, 24)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ram", type=float, default=16.0, help="host RAM cap in GB (default 16)")
    parser.add_argument("--seconds", type=float, default=None, help="video length (default: each preset's)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=640)
    parser.add_argument("--preservation", type=float, default=6.0, help="gpu_memory_preservation GB (default 6)")
    args = parser.parse_args()
    for preset in load_presets().values():
        if preset.is_tiny or not preset.components:
            continue  # tiny twins are planned from their built modules; weight-free methods need none
        # clip models (Wan) make a fixed number of frames per job: --seconds is for long-video families
        frames = preset.defaults.get("frames")
        seconds = None if frames else (args.seconds if args.seconds is not None
                                       else float(preset.defaults.get("seconds", 5)))
        print(f"== {preset.id} ({preset.title})")
        plans = {v: plan_for(preset, args.width, args.height, seconds, vram_gb=v, ram_gb=args.ram,
                             gpu_memory_preservation_gb=args.preservation,
                             frames=int(frames) if frames else None) for v in VRAMS}
        first = plans[VRAMS[0]]
        weights = [c for c in first.components.values() if c.bytes]
        for c in weights:
            extra = f", {c.file_bytes / 1e9:.2f} GB on disk" if c.file_bytes else ""
            print(f"   {c.name:15} {c.cls:40} {c.params:>15,d} params {c.dtype:9} {c.bytes:>15,d} B "
                  f"= {gb(c.bytes):6.2f} GB{extra}")
        length = f"{frames} frames (one clip)" if frames else f"{seconds:g} s"
        print(f"   {args.width}x{args.height}, {length}, RAM cap {args.ram:g} GB, preservation "
              f"{args.preservation:g} GB")
        print(f"   {'VRAM':>5} {'peak VRAM':>10} {'peak RAM':>9} {'pinned':>7} fits  placement (resident blocks)")
        for v, plan in plans.items():
            place = ", ".join(
                f"{c.name}={c.placement}" + (f"({c.blocks_resident}/{c.blocks})" if c.placement == "streamed" else "")
                for c in plan.components.values() if c.bytes)
            print(f"   {v:>5} {plan.peak_vram_gb:10.2f} {plan.peak_ram_gb:9.2f} {gb(plan.pinned_bytes):7.2f} "
                  f"{'yes' if plan.fits else 'NO ':4} {place}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
