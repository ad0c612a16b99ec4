"""Load FrameINO: its transformer from the FrameINO release, the rest from Wan2.2-TI2V-5B.

The transformer is stock diffusers `WanTransformer3DModel` with 96 input channels, a diffusers
folder at the release's root (models/frameino/checkpoint.py finds it and checks the channels),
loaded like every Wan DiT: dtype cache, memory-mapped, chunking hook. VAE (48 channels, patch 2),
UMT5, tokenizer and scheduler are Wan2.2-TI2V-5B's and load through models/wan, as FrameINO's
app.py builds its pipeline from `Wan-AI/Wan2.2-TI2V-5B-Diffusers` with only the transformer swapped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from core.presets import PRESETS_DIR

RELEASE_REPO = "uva-cv-lab/FrameINO_Wan2.2_5B_Stage2_MotionINO_v1.6"
BASE_REPO = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
STORED_CONFIG = PRESETS_DIR / "configs" / RELEASE_REPO / "config.json"


def load_transformer(folder: Path, dtype: str | torch.dtype | None) -> Any:
    from diffusers import WanTransformer3DModel

    from models.frameino.checkpoint import prepared_folder
    from models.wan.loading import dtype_cache_dir, load_model, prepare_transformer

    folder = prepared_folder(Path(folder), json.loads(STORED_CONFIG.read_text()), dtype_cache_dir())
    return prepare_transformer(load_model(folder, dtype, cls=WanTransformer3DModel))


def load_components(paths: dict[str, Path], dtypes: dict[str, str | None]) -> dict[str, Any]:
    """Every component named in `paths`, on the CPU, in eval mode."""
    from models.wan.loading import load_component

    for needed in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        if needed not in paths:
            raise KeyError(f"a FrameINO preset needs a {needed!r} component")
    return {name: (load_transformer(folder, dtypes.get(name)) if name == "transformer"
                   else load_component(name, folder, dtypes.get(name))) for name, folder in paths.items()}
