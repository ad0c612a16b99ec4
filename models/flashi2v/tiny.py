"""The tiny random-weight twin of FlashI2V, in the release's layout.

`yunyangge/FlashI2V-1.3B/` gets `flashi2v_1_3B.pt`: a tiny `FlashI2VTransformer3DModel`'s weights
under the release (npu) names, wrapped like a training checkpoint (`{"model": ..., "iteration": 0}`)
with Megatron's `_extra_state` entries, so loading goes through the same unwrap / rename /
conversion as the real file; beside it its (tiny) `config.json`, which the real snapshot lacks (the
loader then uses the stored config). Its two added modules get random, not zero, last layers, so
the latent shift and the Fourier tokens change the output (the real trained weights are not zero
either). The Wan2.1-T2V-1.3B components come from the Wan kit. Output of tiny weights is noise.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from models.tiny_layout import (
    component_dir,
    component_seed,
    seeded_module,
    write_folder_once,
)
from models.wan import tiny as wan_tiny

KIT_VERSION = 1
WEIGHTS = "flashi2v_1_3B.pt"


def _build_transformer(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    from models.flashi2v.checkpoint import to_release_layout
    from models.flashi2v.loading import STORED_CONFIG
    from models.flashi2v.transformer import FlashI2VTransformer3DModel

    real = json.loads(STORED_CONFIG.read_text())
    kwargs = {**wan_tiny._tiny_transformer_kwargs(real), "conv3x3x3_proj": real["conv3x3x3_proj"],
              "low_freq_energy_ratio": real["low_freq_energy_ratio"]}

    def make() -> FlashI2VTransformer3DModel:
        model = FlashI2VTransformer3DModel(**kwargs)
        for last in (model.learnable_proj[2], model.fourier_embedding[1]):
            torch.nn.init.normal_(last.weight, std=0.05)
            torch.nn.init.normal_(last.bias, std=0.05)
        return model

    model = seeded_module(seed, make)
    state: dict[str, Any] = to_release_layout(model.state_dict())
    for key in [k for k in state if k.endswith((".proj_q.weight", ".proj_out.weight"))]:
        state[key.rsplit(".", 1)[0] + "._extra_state"] = None
    torch.save({"model": state, "iteration": 0}, folder / WEIGHTS)
    model.save_config(folder)  # config.json with `_class_name`, as save_pretrained writes it


def build_tiny_repos(root: Path, preset: dict[str, Any], seed: int = 0) -> None:
    """The FlashI2V transformer here; every Wan2.1-T2V-1.3B component through the Wan kit."""
    root = Path(root)
    components = dict(preset["components"])
    spec = components.pop("transformer")
    own_seed = component_seed(seed, spec)
    write_folder_once(component_dir(root, spec), {"kit": KIT_VERSION, "seed": own_seed, "class": spec["class"]},
                      lambda folder: _build_transformer(folder, own_seed, spec))
    wan_tiny.build_tiny_repos(root, {**preset, "components": components}, seed)
