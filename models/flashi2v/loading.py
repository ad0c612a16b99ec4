"""Load FlashI2V: its transformer from the released weight file, the rest from Wan2.1-T2V-1.3B.

The transformer folder (the `yunyangge/FlashI2V-1.3B` snapshot) holds one torch file in the
release layout; it is renamed into a diffusers folder once (models/flashi2v/checkpoint.py) and
then loaded like every Wan DiT: dtype cache, memory-mapped, chunking hook. Its architecture comes
from a `config.json` beside the weights when there is one (the tiny twin writes its own), else from
the stored config (presets/configs/yunyangge/FlashI2V-1.3B: Wan2.1-T2V-1.3B's + the two added
modules). VAE, UMT5, tokenizer and scheduler are Wan2.1-T2V-1.3B's and load through models/wan.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from core.presets import PRESETS_DIR

RELEASE_REPO = "yunyangge/FlashI2V-1.3B"
STORED_CONFIG = PRESETS_DIR / "configs" / RELEASE_REPO / "config.json"


def _diffusers_folder(folder: Path) -> bool:
    config = folder / "config.json"
    return (config.is_file() and json.loads(config.read_text()).get("_class_name") == "FlashI2VTransformer3DModel"
            and any(folder.glob("diffusion_pytorch_model*.safetensors")))


def load_transformer(folder: Path, dtype: str | torch.dtype | None) -> Any:
    from models.flashi2v.checkpoint import convert_release, find_weights
    from models.flashi2v.transformer import FlashI2VTransformer3DModel
    from models.wan.loading import dtype_cache_dir, load_model, prepare_transformer

    folder = Path(folder)
    if not _diffusers_folder(folder):
        own = folder / "config.json"
        base = json.loads((own if own.is_file() else STORED_CONFIG).read_text())
        folder = convert_release(find_weights(folder), base, dtype_cache_dir())
    return prepare_transformer(load_model(folder, dtype, cls=FlashI2VTransformer3DModel))


def load_components(paths: dict[str, Path], dtypes: dict[str, str | None]) -> dict[str, Any]:
    """Every component named in `paths`, on the CPU, in eval mode."""
    from models.wan.loading import load_component

    for needed in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        if needed not in paths:
            raise KeyError(f"a FlashI2V preset needs a {needed!r} component")
    return {name: (load_transformer(folder, dtypes.get(name)) if name == "transformer"
                   else load_component(name, folder, dtypes.get(name))) for name, folder in paths.items()}
