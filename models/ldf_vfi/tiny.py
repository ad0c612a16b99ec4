"""Tiny random-weight twin of `onecat-ai/LDF-VFI`, written in the real repo's layout.

`build_tiny_repos(root, preset)` writes under `root/onecat-ai/LDF-VFI/`:
- `transformer/config.json` + `transformer/diffusion_pytorch_model.safetensors`: our
  `LDFVFITransformer3DModel` with 2 heads x 12, 2 layers, FFN 32 (36 in / 16 out channels and
  the real patch size, so every shape rule of the real model holds);
- `Wan2.1_VAE_cond_v2.pth`: our `WanCondVAE` with base width 2 (the real topology: 8x spatial /
  4x temporal compression, 16 latent channels, 19 zero convs), saved as a flat state dict with
  `torch.save` like the reference's EMA files.

The normal loader (`loading.load_components`) reads them back, so only the size of the numbers
differs from a real run. Output of tiny weights is noise, by construction.

Seeded (same seed -> same tensors) and idempotent: a marker file with the kit version, seed and
class is written last, and a component with a matching marker is left alone. Files are written
under temporary names and renamed into place, so a crash never leaves something that looks done.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from models.ldf_vfi.cond_vae import REAL_CONFIG, WanCondVAE
from models.ldf_vfi.loading import COND_VAE_FILE
from models.ldf_vfi.transformer import LDFVFITransformer3DModel
from models.tiny_layout import (  # noqa: F401 (re-export)
    component_dir,
    component_seed,
    seeded_module,
    tiny_component_paths,
    write_folder_once,
)

KIT_VERSION = 2  # bump when the tiny configs change: older kits are rebuilt

TINY_TRANSFORMER: dict[str, Any] = {
    "patch_size": [1, 2, 2], "num_attention_heads": 2, "attention_head_dim": 12, "in_channels": 36,
    "out_channels": 16, "text_dim": 16, "freq_dim": 16, "ffn_dim": 32, "num_layers": 2,
    "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": None,
    "added_kv_proj_dim": None, "rope_max_seq_len": 1024, "pos_embed_seq_len": None,
    "attention_type": "slide_chunk_all_block",
}
TINY_VAE: dict[str, Any] = {**REAL_CONFIG, "dim": 2}


def build_tiny_repos(root: Path, preset: dict[str, Any], seed: int = 0) -> None:
    """Write every component of `preset` (parsed ldf-vfi.toml) as tiny random weights under `root`."""
    for name, spec in preset["components"].items():
        builder = _BUILDERS.get(spec["class"])
        if builder is None:
            raise ValueError(f"tiny kit: no builder for component {name!r} of class {spec['class']!r}")
        builder(component_dir(Path(root), spec), component_seed(seed, spec), spec)


def _build_transformer(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    def write(tmp: Path) -> None:
        model = seeded_module(seed, lambda: LDFVFITransformer3DModel(**TINY_TRANSFORMER))
        model.save_pretrained(tmp, safe_serialization=True)
        # The real config.json names diffusers' class (LDF-VFI's own copy of it); mirror that.
        config_path = tmp / "config.json"
        config = json.loads(config_path.read_text())
        config["_class_name"] = "WanTransformer3DModel"
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    write_folder_once(folder, {"kit": KIT_VERSION, "seed": seed, "class": spec["class"]}, write)


def _build_cond_vae(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    # The .pth sits at the repo root next to transformer/: write the file, never replace the folder.
    target = folder / COND_VAE_FILE
    marker_path = folder / f".frame-studio-tiny-{COND_VAE_FILE}.json"
    marker = {"kit": KIT_VERSION, "seed": seed, "class": spec["class"]}
    try:
        if target.exists() and json.loads(marker_path.read_text()) == marker:
            return
    except (OSError, ValueError):
        pass  # absent or unreadable marker: (re)build
    folder.mkdir(parents=True, exist_ok=True)
    model = seeded_module(seed, lambda: WanCondVAE(**TINY_VAE))
    state = {k: v.detach().clone().contiguous() for k, v in model.checkpoint_state_dict().items()}
    tmp = folder / f".{COND_VAE_FILE}.tmp-{os.getpid()}"
    try:
        torch.save(state, tmp)
        marker_path.unlink(missing_ok=True)
        os.replace(tmp, target)
        marker_path.write_text(json.dumps(marker, sort_keys=True))
    finally:
        tmp.unlink(missing_ok=True)


_BUILDERS: dict[str, Callable[[Path, int, dict[str, Any]], None]] = {
    "WanTransformer3DModel": _build_transformer,
    "LDFVFITransformer3DModel": _build_transformer,
    "WanCondVAE": _build_cond_vae,
}
