"""FlashI2V's released checkpoint -> our diffusers-named `FlashI2VTransformer3DModel` folder.

The release is one torch file (`flashi2v_1_3B.pt`, the MindSpeed-MM "npu" layout: Megatron names,
`learnable_proj.0/.2` with 3x3x3 kernels, possibly wrapped under `ema_model` / `model` /
`state_dict`, with `*._extra_state` entries that hold no tensor). The GPU branch saves the original
Wan names with `learnable_proj.proj.0/.2`. Both are renamed to diffusers' Wan names (the rules
below; tests/test_flashi2v.py checks them key by key against ../shared/manifests/flashi2v_1.3b.json)
and written once as a diffusers folder (config.json + safetensors) in the dtype cache, so every
later load is memory-mapped like any other Wan component.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import torch

CONVERTER_VERSION = 1
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")

# npu (MindSpeed-MM) names -> the GPU branch's (original Wan) names
_NPU_TO_MAIN = (
    (r"^text_embedding\.linear_1\.", "text_embedding.0."),
    (r"^text_embedding\.linear_2\.", "text_embedding.2."),
    (r"\.(self_attn|cross_attn)\.proj_(q|k|v)\.", r".\1.\2."),
    (r"\.(self_attn|cross_attn)\.proj_out\.", r".\1.o."),
    (r"\.(self_attn|cross_attn)\.(q|k)_norm\.", r".\1.norm_\2."),
    (r"^learnable_proj\.(\d)\.", r"learnable_proj.proj.\1."),
)
# original Wan names -> diffusers' WanTransformer3DModel names (+ our two added modules)
_MAIN_TO_DIFFUSERS = (
    (r"^text_embedding\.0\.", "condition_embedder.text_embedder.linear_1."),
    (r"^text_embedding\.2\.", "condition_embedder.text_embedder.linear_2."),
    (r"^time_embedding\.0\.", "condition_embedder.time_embedder.linear_1."),
    (r"^time_embedding\.2\.", "condition_embedder.time_embedder.linear_2."),
    (r"^time_projection\.1\.", "condition_embedder.time_proj."),
    (r"^blocks\.(\d+)\.self_attn\.", r"blocks.\1.attn1."),
    (r"^blocks\.(\d+)\.cross_attn\.", r"blocks.\1.attn2."),
    (r"\.attn(1|2)\.(q|k|v)\.", r".attn\1.to_\2."),
    (r"\.attn(1|2)\.o\.", r".attn\1.to_out.0."),
    (r"^blocks\.(\d+)\.norm3\.", r"blocks.\1.norm2."),
    (r"^blocks\.(\d+)\.ffn\.0\.", r"blocks.\1.ffn.net.0.proj."),
    (r"^blocks\.(\d+)\.ffn\.2\.", r"blocks.\1.ffn.net.2."),
    (r"^blocks\.(\d+)\.modulation$", r"blocks.\1.scale_shift_table"),
    (r"^head\.modulation$", "scale_shift_table"),
    (r"^head\.head\.", "proj_out."),
    (r"^learnable_proj\.proj\.(\d)\.", r"learnable_proj.\1."),
)


def _apply(rules: tuple[tuple[str, str], ...], key: str) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def layout_of(keys: Any) -> str:
    """"npu" (MindSpeed-MM), "main" (GPU branch) or "diffusers" (already our names)."""
    keys = set(keys)
    if any(".proj_q." in k or k.startswith("text_embedding.linear_") for k in keys):
        return "npu"
    if any(k.startswith("condition_embedder.") for k in keys):
        return "diffusers"
    if any(k.startswith(("text_embedding.", "head.head.")) for k in keys):
        return "main"
    raise ValueError("not a FlashI2V / Wan DiT state dict (no text_embedding, head or condition_embedder keys)")


def to_diffusers_names(state: Mapping[str, Any]) -> dict[str, Any]:
    """Renamed tensors; `*._extra_state` (Megatron's, None) dropped."""
    layout = layout_of(state)
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.endswith("._extra_state") or not isinstance(value, torch.Tensor):
            continue
        if layout == "npu":
            key = _apply(_NPU_TO_MAIN, key)
        if layout != "diffusers":
            key = _apply(_MAIN_TO_DIFFUSERS, key)
        out[key] = value
    return out


def unwrap(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The model's state dict inside a training checkpoint (the release loader's order)."""
    for key in ("ema_model", "model", "state_dict"):
        if isinstance(checkpoint.get(key), Mapping):
            return checkpoint[key]
    return checkpoint


def find_weights(folder: Path) -> Path:
    """The one weight file of a FlashI2V snapshot (at its root, else one folder down, e.g. npu/)."""
    folder = Path(folder)
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if not found:
        found = sorted(p for p in folder.glob("*/*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise FileNotFoundError(f"{folder}: expected one FlashI2V weight file (.pt/.safetensors), found {names}")
    return found[0]


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file or a torch checkpoint (read with weights_only: no code runs)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return to_diffusers_names(load_file(str(path)))
    import argparse

    with torch.serialization.safe_globals([argparse.Namespace]):  # training checkpoints carry their args
        try:
            checkpoint = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError:  # an old (non-zip) torch file cannot be memory-mapped
            checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    return to_diffusers_names(unwrap(checkpoint))


def config_for(state: Mapping[str, torch.Tensor], base: Mapping[str, Any]) -> dict[str, Any]:
    """`base` (the stored architecture config) with the learnable projection's kernel as saved."""
    kernel = state["learnable_proj.0.weight"].shape[2]
    return {**base, "_class_name": "FlashI2VTransformer3DModel", "conv3x3x3_proj": kernel == 3}


def convert_release(weights: Path, base_config: Mapping[str, Any], cache_root: Path) -> Path:
    """A diffusers folder holding `weights` under our names, written once into `cache_root`."""
    from models.wan.loading import converted_folder

    def convert() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        state = read_state(Path(weights))
        return state, config_for(state, base_config)

    return converted_folder(Path(weights), "flashi2v", CONVERTER_VERSION, dict(base_config), cache_root, convert)


def to_release_layout(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our names -> the npu release names (the inverse of the rules above; the tiny twin is saved
    this way so it goes through the same conversion as the real file)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        k = re.sub(r"^condition_embedder\.text_embedder\.linear_(1|2)\.", r"text_embedding.linear_\1.", key)
        k = re.sub(r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0.", k)
        k = re.sub(r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2.", k)
        k = re.sub(r"^condition_embedder\.time_proj\.", "time_projection.1.", k)
        k = re.sub(r"^blocks\.(\d+)\.attn1\.", r"blocks.\1.self_attn.", k)
        k = re.sub(r"^blocks\.(\d+)\.attn2\.", r"blocks.\1.cross_attn.", k)
        k = re.sub(r"\.(self_attn|cross_attn)\.to_(q|k|v)\.", r".\1.proj_\2.", k)
        k = re.sub(r"\.(self_attn|cross_attn)\.to_out\.0\.", r".\1.proj_out.", k)
        k = re.sub(r"\.(self_attn|cross_attn)\.norm_(q|k)\.", r".\1.\2_norm.", k)
        k = re.sub(r"^blocks\.(\d+)\.norm2\.", r"blocks.\1.norm3.", k)
        k = re.sub(r"^blocks\.(\d+)\.ffn\.net\.0\.proj\.", r"blocks.\1.ffn.0.", k)
        k = re.sub(r"^blocks\.(\d+)\.ffn\.net\.2\.", r"blocks.\1.ffn.2.", k)
        k = re.sub(r"^blocks\.(\d+)\.scale_shift_table$", r"blocks.\1.modulation", k)
        k = re.sub(r"^scale_shift_table$", "head.modulation", k)
        k = re.sub(r"^proj_out\.", "head.head.", k)
        out[k] = value
    return out
