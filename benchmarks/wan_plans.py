"""Memory plans of the Wan presets (real configs on `meta`; nothing loaded): the figures in README.

    python benchmarks/wan_plans.py

For each preset at its 720p-class size (8 GB VRAM, 32 GB RAM; and 16 GB RAM with fp8 transformer
storage) and at 832x480 (6 GB VRAM): peak VRAM, peak RAM, whether it fits, the memory options
the planner chose and the GB re-read from disk per step. GB = GiB.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memory.budget import gb  # noqa: E402
from studio.planning import plan_for  # noqa: E402

CASES = [  # preset, width, height, frames
    ("wan-flf2v-14b", 1280, 720, 81), ("wan-i2v-14b-720p", 1280, 720, 81), ("wan-vace-14b", 1280, 720, 81),
    ("wan-animate-14b", 1280, 720, 77), ("wan-ti2v-5b", 1280, 704, 81), ("wan-t2v-1.3b", 832, 480, 49),
    ("wan-vace-1.3b", 832, 480, 81),
]


def row(preset: str, width: int, height: int, frames: int | None, vram: float, ram: float, fp8: bool = False,
        seconds: float | None = None) -> str:
    """One table row; give `frames` (clip models) or `seconds` (FramePack)."""
    plan = plan_for(preset, width, height, seconds, frames=frames, vram_gb=vram, ram_gb=ram,
                    fp8=("transformer",) if fp8 else ())
    reread = sum(c.disk_read_per_pass for c in plan.components.values())
    chosen = ",".join(k for k, v in plan.options.items() if v is True and k != "expand_timesteps") or "-"
    return (f"| {preset} | {width}x{height}x{plan.frames} | {vram:g} / {ram:g}{' fp8' if fp8 else ''} | "
            f"{plan.peak_vram_gb:.2f} | {plan.peak_ram_gb:.2f} | {'yes' if plan.fits else 'NO'} | {chosen} | "
            f"{gb(reread):.1f} |")


def print_head(lead: str | None = None) -> None:
    """The table head matching `row`, with an optional first column (e.g. "method") before it."""
    first, rule = (f"| {lead} ", "|---") if lead else ("", "")
    print(first + "| preset | size | VRAM / RAM GB | peak VRAM | peak RAM | fits | options | re-read GB/step |")
    print(rule + "|---|---|---|---:|---:|---|---|---:|")


def main() -> int:
    print_head()
    for preset, width, height, frames in CASES:
        print(row(preset, width, height, frames, 8, 32))
        if width > 832:
            print(row(preset, width, height, frames, 8, 16, fp8=True))
            print(row(preset, 832, 480, frames, 6, 32))
        else:
            print(row(preset, width, height, frames, 6, 32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
