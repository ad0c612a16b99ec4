"""Memory plans of the Frame In/Out tab (FrameINO on Wan2.2-TI2V-5B) at the sizes the tab is built
for (real configs on `meta`; nothing loaded). GB = GiB.

    python benchmarks/frame_inout_plans.py

Each row is what `python -m studio plan --preset frameino-5b --width W --height H --frames F --vram V
--ram R` prints (fp8: `--fp8 transformer`). The sequence holds one more latent frame than the
video's: the identity.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wan_plans import print_head, row  # noqa: E402

CASES = [  # preset, width, height, frames, VRAM, RAM, fp8
    ("frameino-5b", 1280, 704, 81, 6, 16, False),
    ("frameino-5b", 1280, 704, 81, 8, 32, False),
    ("frameino-5b", 1280, 704, 81, 6, 16, True),
    ("frameino-5b", 832, 480, 81, 6, 16, False),
]


def main() -> int:
    print_head()
    for preset, width, height, frames, vram, ram, fp8 in CASES:
        print(row(preset, width, height, frames, vram, ram, fp8, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
