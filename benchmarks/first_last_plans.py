"""Memory plans of the first–last frame tab's three methods at the sizes the tab is built for
(real configs on `meta`; nothing loaded). GB = GiB.

    python benchmarks/first_last_plans.py

Each row is what `python -m studio plan --preset P --width W --height H --frames F --vram V --ram R`
prints (FramePack: `--seconds`; fp8: `--fp8 transformer`).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wan_plans import print_head, row  # noqa: E402

CASES = [  # method, preset, width, height, frames, VRAM, RAM, fp8, seconds
    ("wan-flf2v", "wan-flf2v-14b", 1280, 720, 81, 8, 32, False, None),
    ("wan-flf2v", "wan-flf2v-14b", 1280, 720, 81, 8, 16, True, None),
    ("wan-flf2v", "wan-flf2v-14b", 832, 480, 81, 6, 32, False, None),
    ("flashi2v", "flashi2v-1.3b", 832, 480, 49, 6, 16, False, None),
    ("framepack-end", "framepack", 640, 640, None, 6, 16, False, 72 / 30),
]


def main() -> int:
    print_head('method')
    for method, preset, width, height, frames, vram, ram, fp8, seconds in CASES:
        print(f"| {method} " + row(preset, width, height, frames, vram, ram, fp8, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
