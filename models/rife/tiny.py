"""Tiny random-weight twin of the RIFE preset: a narrow IFNet saved as `flownet.pkl`.

Same file name, format and key names as the release (blocks 16 wide instead of 192..32), written in
the real repo layout so the normal resolver and loader read it. Output is noise by construction.
Seeded and idempotent (models/tiny_layout.write_folder_once).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.rife.loading import WEIGHTS_FILE
from models.rife.network import IFNet
from models.tiny_layout import (
    component_dir,
    component_seed,
    seeded_module,
    write_folder_once,
)

KIT_VERSION = 1
TINY_WIDTHS = (16, 16, 16, 16, 16)


def build_tiny_repos(root: Path, preset: dict[str, Any], seed: int = 0) -> None:
    """Write every component of `preset` (parsed rife-4.25.toml) as a tiny flownet.pkl under `root`."""
    for spec in preset["components"].values():
        folder, part_seed = component_dir(Path(root), spec), component_seed(seed, spec)

        def write(tmp: Path, part_seed: int = part_seed) -> None:
            net = seeded_module(part_seed, lambda: IFNet(TINY_WIDTHS))
            torch.save({k: v.contiguous() for k, v in net.state_dict().items()}, tmp / WEIGHTS_FILE)

        write_folder_once(folder, {"kit": KIT_VERSION, "seed": seed, "class": spec["class"]}, write)
