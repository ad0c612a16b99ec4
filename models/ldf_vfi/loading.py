"""Load LDF-VFI's two components from local folders (the real snapshot or the tiny kit).

- `transformer`: a diffusers-format folder (config.json + *.safetensors) loaded into
  `LDFVFITransformer3DModel` with `from_pretrained(low_cpu_mem_usage=True)` (safetensors are
  memory-mapped). The key names are diffusers' Wan names without the text embedder, so no renaming.
  The reference scripts call `from_pretrained(<download>/transformer, subfolder="transformer")`,
  which suggests the files may sit in `transformer/transformer/`; both layouts are accepted
  (the Hub listing was not reachable to check).
- `cond_vae`: `Wan2.1_VAE_cond_v2.pth` at the repo root, a flat state dict in the original Wan
  VAE naming plus `cond_encoder.*` / `zero_convs.*`, read with
  `torch.load(weights_only=True, mmap=True)` and assigned into a model built on `meta`, so the
  file is never copied in RAM unless a dtype cast is asked for. The file stores no config: `dim`
  and `z_dim` are read from the tensor shapes, the rest is the released config, and every key and
  shape must match (the reference loads with strict=False, which would hide a wrong file).

Everything is loaded on the CPU; moving to a device is `memory.Placement`'s job.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from core.dtypes import parse_dtype
from core.errors import MissingWeightsError
from models.ldf_vfi.cond_vae import REAL_CONFIG, WanCondVAE
from models.ldf_vfi.transformer import LDFVFITransformer3DModel

COMPONENTS = ("transformer", "cond_vae")
COND_VAE_FILE = "Wan2.1_VAE_cond_v2.pth"
_WRAPPER_KEYS = ("state_dict", "model", "module", "ema")

def load_components(paths: dict[str, Path], dtypes: dict[str, str | None]) -> dict[str, Any]:
    """`paths["transformer"]`: the transformer folder; `paths["cond_vae"]`: the repo root holding
    the .pth (or the .pth itself). Returns {"transformer": ..., "cond_vae": ...} on the CPU, eval."""
    missing = [name for name in COMPONENTS if name not in paths]
    if missing:
        raise ValueError(f"LDF-VFI needs paths for {missing}")
    return {
        "transformer": load_transformer(Path(paths["transformer"]), parse_dtype(dtypes.get("transformer"))),
        "cond_vae": load_cond_vae(Path(paths["cond_vae"]), parse_dtype(dtypes.get("cond_vae"))),
    }


def transformer_folder(path: Path) -> Path:
    for folder in (path, path / "transformer"):
        if (folder / "config.json").is_file():
            return folder
    raise MissingWeightsError(f"LDF-VFI transformer: no config.json in {path} (or {path / 'transformer'})")


def load_transformer(path: Path, dtype: torch.dtype | None = None) -> LDFVFITransformer3DModel:
    folder = transformer_folder(path)
    kwargs: dict[str, Any] = {"low_cpu_mem_usage": True}
    if dtype is not None:
        kwargs["torch_dtype"] = dtype
    model = LDFVFITransformer3DModel.from_pretrained(folder, **kwargs)
    return model.eval().requires_grad_(False)


def cond_vae_file(path: Path) -> Path:
    file = path / COND_VAE_FILE if path.is_dir() else path
    if not file.is_file():
        raise MissingWeightsError(f"LDF-VFI conditional VAE: {file} not found")
    return file


def read_cond_vae_state(path: Path) -> dict[str, torch.Tensor]:
    """The flat state dict of the .pth (unwrapping a single wrapper entry / `module.` prefix, which
    the released file is not expected to have but training checkpoints sometimes do)."""
    state = torch.load(cond_vae_file(path), map_location="cpu", weights_only=True, mmap=True)
    while isinstance(state, dict) and len(state) == 1 and next(iter(state)) in _WRAPPER_KEYS:
        state = next(iter(state.values()))
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def config_from_state(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The VAE constructor config: the released one, with `dim` and `z_dim` read from the shapes."""
    config = dict(REAL_CONFIG)
    config["dim"] = int(state["encoder.conv1.weight"].shape[0])
    config["z_dim"] = int(state["conv2.weight"].shape[0])
    return config


def load_cond_vae(path: Path, dtype: torch.dtype | None = None) -> WanCondVAE:
    state = read_cond_vae_state(path)
    try:
        config = config_from_state(state)
    except KeyError as exc:
        raise ValueError(f"{path}: not a Wan VAE state dict (missing {exc})") from None
    with torch.device("meta"):
        model = WanCondVAE(**config)
    expected = {k: tuple(v.shape) for k, v in model.checkpoint_state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(found))
    wrong = sorted(k for k in expected if k in found and expected[k] != found[k])
    if missing or wrong:
        raise ValueError(f"{path}: not LDF-VFI's conditional VAE: {len(missing)} missing keys "
                         f"{missing[:4]}, {len(wrong)} wrong shapes {wrong[:4]}")
    # Extra keys (e.g. a discriminator saved alongside) are ignored, like the reference does.
    model.load_checkpoint({k: state[k] for k in expected}, assign=True)
    model.init_buffers()
    if dtype is not None:
        model = model.to(dtype)
    return model.eval().requires_grad_(False)
