"""The tiny random-weight twin of FrameINO, in the release's layout.

`uva-cv-lab/FrameINO_Wan2.2_5B_Stage2_MotionINO_v1.6/` gets what FrameINO's app.py loads with
`from_pretrained(<repo>)`: a diffusers folder at the repo root, a tiny `WanTransformer3DModel`
with the stored config's structure (96 input channels = 48 latent + 48 trajectory, 48 out, patch
(1, 2, 2)) saved in float32 and split into shards with an index, as a 5B checkpoint is, so loading
exercises the sharded, dtype-cached path. The Wan2.2-TI2V-5B components come from the Wan kit.
Output of tiny weights is noise.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.tiny_layout import (
    component_dir,
    component_seed,
    seeded_module,
    write_folder_once,
)
from models.wan import tiny as wan_tiny

KIT_VERSION = 1
SHARD = "40KB"  # a few shards for the tiny model


def _build_transformer(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    from diffusers import WanTransformer3DModel

    from models.frameino.loading import STORED_CONFIG

    kwargs = wan_tiny._tiny_transformer_kwargs(json.loads(STORED_CONFIG.read_text()))
    model = seeded_module(seed, lambda: WanTransformer3DModel(**kwargs))
    model.save_pretrained(folder, safe_serialization=True, max_shard_size=SHARD)


def build_tiny_repos(root: Path, preset: dict[str, Any], seed: int = 0) -> None:
    """The FrameINO transformer here; every Wan2.2-TI2V-5B component through the Wan kit."""
    root = Path(root)
    components = dict(preset["components"])
    spec = components.pop("transformer")
    own_seed = component_seed(seed, spec)
    write_folder_once(component_dir(root, spec), {"kit": KIT_VERSION, "seed": own_seed, "class": spec["class"]},
                      lambda folder: _build_transformer(folder, own_seed, spec))
    wan_tiny.build_tiny_repos(root, {**preset, "components": components}, seed)
