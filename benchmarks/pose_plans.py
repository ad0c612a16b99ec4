"""Memory plans of the pose animation tab's methods at the sizes the tab is built for (real configs
on `meta`; nothing loaded). GB = GiB.

    python benchmarks/pose_plans.py

Each row is what `python -m studio plan --preset P --width W --height H --frames F --vram V --ram R`
prints (fp8: `--fp8 transformer`). Animate is planned per 77-frame segment (segments run one after
another); FramePrompt's sequence is 1 + 2 x 40 = 81 frames (reference, skeleton, target).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wan_plans import print_head, row  # noqa: E402

CASES = [  # method, preset, width, height, frames, VRAM, RAM, fp8, seconds
    ("vace", "wan-vace-14b", 1280, 720, 81, 8, 32, False, None),
    ("vace", "wan-vace-14b", 1280, 720, 81, 8, 16, True, None),
    ("vace", "wan-vace-14b", 832, 480, 81, 6, 32, False, None),
    ("vace", "wan-vace-1.3b", 832, 480, 81, 6, 16, False, None),
    ("animate", "wan-animate-14b", 1280, 720, 77, 8, 32, False, None),
    ("animate", "wan-animate-14b", 1280, 720, 77, 8, 16, True, None),
    ("animate", "wan-animate-14b", 832, 480, 77, 6, 32, False, None),
    ("frameprompt", "frameprompt-14b", 832, 480, 81, 6, 32, False, None),
    ("frameprompt", "frameprompt-14b", 832, 480, 81, 6, 16, True, None),
]


def main() -> int:
    print_head('method')
    for method, preset, width, height, frames, vram, ram, fp8, seconds in CASES:
        print(f"| {method} " + row(preset, width, height, frames, vram, ram, fp8, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
