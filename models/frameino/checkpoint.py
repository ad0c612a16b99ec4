"""Where FrameINO's transformer sits in a snapshot, and the one conversion it may need.

The release (`uva-cv-lab/FrameINO_Wan2.2_5B_Stage2_MotionINO_v1.6`) is read by FrameINO's app.py
as `WanTransformer3DModel.from_pretrained(<repo>)` with no subfolder: a diffusers folder at the
repo root (config.json + diffusion_pytorch_model*.safetensors, diffusers names, no prefix; the
manifest's `load_notes`). FrameINO's training script saves the same class with `save_pretrained`
into `<checkpoint-N>/transformer/` (its accelerate save hook), so that folder one level down is
taken too. No renaming is needed: FrameINO's own copy of the class has diffusers' keys.

A snapshot holding the weights without a config.json (e.g. only `*.safetensors` fetched) gets the
stored config (presets/configs/uva-cv-lab/...) once, in a cached folder that links to the weights,
so every later load is the ordinary memory-mapped Wan load.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

from memory.loading import built_folder

CONVERTER_VERSION = 1
LATENT_CHANNELS = 48           # Wan2.2's VAE z_dim
TRAJECTORY_CHANNELS = 48       # the trajectory video's latent, concatenated on channels


def _weights(folder: Path) -> list[Path]:
    return sorted(folder.glob("diffusion_pytorch_model*.safetensors"))


def find_transformer(folder: Path) -> Path:
    """The folder holding FrameINO's diffusers weights: the snapshot root, else `transformer/`."""
    folder = Path(folder)
    for candidate in (folder, folder / "transformer"):
        if _weights(candidate):
            return candidate
    raise FileNotFoundError(f"{folder}: no diffusion_pytorch_model*.safetensors at the root or in transformer/ "
                            "(FrameINO's release is a diffusers folder at the repo root)")


def check_config(config: Mapping[str, Any], where: str = "") -> None:
    """Refuse a stock 48-channel Wan2.2 transformer: FrameINO's takes 48 latent + 48 trajectory channels."""
    in_ch, out_ch = int(config.get("in_channels", 0)), int(config.get("out_channels") or config.get("in_channels", 0))
    if config.get("_class_name", "WanTransformer3DModel") != "WanTransformer3DModel" or in_ch != 2 * out_ch:
        raise ValueError(f"{where or 'transformer'}: in_channels {in_ch}, out_channels {out_ch} is not FrameINO's "
                         f"({LATENT_CHANNELS + TRAJECTORY_CHANNELS} = {LATENT_CHANNELS} latent + "
                         f"{TRAJECTORY_CHANNELS} trajectory in, {LATENT_CHANNELS} out); "
                         "is this the stock Wan2.2-TI2V-5B transformer?")


def with_config(weights_dir: Path, config: Mapping[str, Any], cache_root: Path) -> Path:
    """A cached folder with `config` and links to the safetensors (and index) of `weights_dir`, made once."""
    weights_dir = Path(weights_dir)
    files = _weights(weights_dir) + sorted(weights_dir.glob("diffusion_pytorch_model*.safetensors.index.json"))
    stamp = [[str(p.resolve()), p.stat().st_size, int(p.stat().st_mtime)] for p in files]
    key = hashlib.sha256(json.dumps([stamp, dict(config), CONVERTER_VERSION], sort_keys=True).encode()).hexdigest()

    def write(tmp: Path) -> None:
        (tmp / "config.json").write_text(json.dumps(dict(config), indent=2, sort_keys=True) + "\n")
        for path in files:
            try:
                os.symlink(path.resolve(), tmp / path.name)  # no copy of 10 GB of weights
            except OSError:
                shutil.copyfile(path, tmp / path.name)

    return built_folder(Path(cache_root) / f"frameino--{key[:16]}", {"source": str(weights_dir)}, write)


def prepared_folder(folder: Path, stored_config: Mapping[str, Any], cache_root: Path) -> Path:
    """A loadable diffusers folder for the FrameINO transformer in `folder` (checked: 96 in-channels)."""
    found = find_transformer(folder)
    own = found / "config.json"
    if own.is_file():
        check_config(json.loads(own.read_text()), str(own))
        return found
    check_config(stored_config, "stored config")
    return with_config(found, {**stored_config, "_class_name": "WanTransformer3DModel"}, cache_root)
