"""FramePrompt's weights: the user's own (no FramePrompt weights are public).

The base is a Wan I2V repo (the preset's components). On top of it, one of:
- `checkpoint`: a fully fine-tuned transformer (the paper's 1.3B is fully fine-tuned): a diffusers
  folder (config.json + safetensors), or one .safetensors of the transformer in diffusers names or
  in the original Wan names (`blocks.N.self_attn.q`, optionally under `model.diffusion_model.`),
  renamed with diffusers' own `convert_wan_transformer_to_diffusers` and written once as a
  diffusers folder in the dtype cache; its architecture is the `config.json` beside the file, else
  the base transformer's;
- `lora`: a LoRA (the paper's 14B: rank 128, alpha 128 on q, k, v, o and the FFN) in any format
  diffusers' WanLoraLoaderMixin reads, fused into the base transformer by models/lora.py.
Either may be a local path or a repo id already in the HF cache (never downloaded here).
Without either, `FramePromptWeightsMissing` says what is needed.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from core.errors import InputError, MissingWeightsError

FIELD = "frameprompt_weights"
CONVERTER_VERSION = 1


class FramePromptWeightsMissing(InputError, MissingWeightsError):
    """No FramePrompt checkpoint or LoRA was given (both error kinds: a field and missing weights)."""

    def __init__(self) -> None:
        super().__init__(FIELD, "FramePrompt needs its fine-tuned weights and none were given (no public "
                                "FramePrompt weights exist)",
                         "give a FramePrompt checkpoint (the fine-tuned Wan I2V transformer: a diffusers folder or "
                         "a .safetensors) or a FramePrompt LoRA (.safetensors), as a local path or an HF-cache repo id")


@dataclass(frozen=True)
class FramePromptWeights:
    checkpoint: str | None = None
    lora: str | None = None
    lora_strength: float = 1.0

    @classmethod
    def from_spec(cls, spec: str, lora_strength: float = 1.0) -> "FramePromptWeights":
        """One path or cached repo id, told apart by its contents: a .safetensors whose keys are LoRA
        factors (lora_A/lora_B, lora_down/lora_up) is a LoRA; a folder or any other file is a
        fine-tuned transformer."""
        if not spec or not spec.strip():
            raise FramePromptWeightsMissing()
        path = local_path(spec.strip(), FIELD)
        if path.is_file() and path.suffix == ".safetensors" and _is_lora(path):
            return cls(lora=str(path), lora_strength=lora_strength)
        return cls(checkpoint=str(path))

    def cache_key(self) -> tuple[str, ...]:
        """What makes these weights these weights, for the model cache: path, size, mtime, strength."""
        path = Path(self.checkpoint or self.lora or "")
        stat = path.stat() if path.exists() else None
        return ("frameprompt", "checkpoint" if self.checkpoint else "lora", str(path),
                str(stat.st_size if stat else 0), str(stat.st_mtime_ns if stat else 0), f"{self.lora_strength:g}")

    def describe(self) -> dict[str, Any]:
        """For settings.json."""
        path = Path(self.checkpoint or self.lora or "")
        return {"kind": "checkpoint" if self.checkpoint else "lora", "path": str(path), "name": path.name,
                **({"strength": self.lora_strength} if self.lora else {})}

    def require(self) -> None:
        if not self.checkpoint and not self.lora:
            raise FramePromptWeightsMissing()
        if self.checkpoint and self.lora:
            raise InputError(FIELD, "both a checkpoint and a LoRA were given",
                             "give one: the paper ships either a fine-tuned 1.3B or a 14B LoRA")


def local_path(spec: str, field: str) -> Path:
    """A local file / folder, or a repo id ("owner/name" or "owner/name/file") found in the HF cache."""
    path = Path(os.path.expanduser(spec))
    if path.exists():
        return path
    parts = spec.strip("/").split("/")
    if len(parts) >= 2:
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download("/".join(parts[:2]), local_files_only=True))
        except Exception:  # not in the cache: the error below says so
            folder = None
        if folder is not None and (folder.joinpath(*parts[2:])).exists():
            return folder.joinpath(*parts[2:])
    raise InputError(field, f"{spec} is neither a local path nor a repo in the Hugging Face cache",
                     "give the path of the file or folder (nothing is downloaded)")


def load_components(paths: dict[str, Path], dtypes: dict[str, str | None], *,
                    weights: FramePromptWeights | None = None) -> dict[str, Any]:
    """The Wan I2V components with the FramePrompt transformer, on the CPU, in eval mode.
    (The report of a LoRA is kept on the transformer as `frameprompt_lora_report`.)"""
    from models.wan.loading import load_component, load_model, prepare_transformer

    weights = weights or FramePromptWeights()
    weights.require()
    for needed in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        if needed not in paths:
            raise KeyError(f"a FramePrompt preset needs a {needed!r} component")
    out = {name: load_component(name, folder, dtypes.get(name)) for name, folder in paths.items()
           if name != "transformer"}
    dtype = dtypes.get("transformer")
    if weights.checkpoint:
        folder = checkpoint_folder(local_path(weights.checkpoint, FIELD), Path(paths["transformer"]))
        out["transformer"] = prepare_transformer(load_model(folder, dtype))
    else:
        from diffusers.loaders import WanLoraLoaderMixin

        from models.lora import load_lora

        transformer = load_model(Path(paths["transformer"]), dtype)
        report = load_lora(transformer, local_path(weights.lora, FIELD), WanLoraLoaderMixin.lora_state_dict,
                           strength=weights.lora_strength, field=FIELD)
        transformer.frameprompt_lora_report = report
        out["transformer"] = prepare_transformer(transformer)
    return out


def loader(weights: FramePromptWeights) -> Callable[[dict, dict], dict[str, Any]]:
    """A `(paths, dtypes) -> components` loader for studio/tasks/placed.py, bound to `weights`."""
    return functools.partial(load_components, weights=weights)


# ------------------------------------------------------------------------------------------ checkpoints


def checkpoint_folder(path: Path, base_transformer: Path) -> Path:
    """A diffusers transformer folder for the checkpoint at `path` (converted once when needed)."""
    if path.is_dir() and (path / "config.json").is_file() and any(path.glob("*.safetensors")):
        return path
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise InputError(FIELD, f"{path} holds {len(files)} .safetensors files and no config.json",
                             "point at the checkpoint file, or a diffusers folder")
        path = files[0]
    if path.suffix != ".safetensors":
        raise InputError(FIELD, f"{path.name} is not a .safetensors file", "convert the checkpoint to safetensors")
    own = path.with_name("config.json")
    config = json.loads((own if own.is_file() else base_transformer / "config.json").read_text())
    from models.wan.loading import dtype_cache_dir

    return _convert_once(path, config, dtype_cache_dir())


def to_diffusers_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers' WanTransformer3DModel names, whether saved so or in the original Wan names."""
    state = {k.removeprefix("model.diffusion_model.").removeprefix("diffusion_model."): v for k, v in state.items()}
    if any(".self_attn." in k for k in state):  # the original layout
        from diffusers.loaders.single_file_utils import (
            convert_wan_transformer_to_diffusers,
        )

        return convert_wan_transformer_to_diffusers(state)
    return state


def _convert_once(weights: Path, config: dict[str, Any], cache_root: Path) -> Path:
    from safetensors.torch import load_file

    from models.wan.loading import converted_folder

    def convert() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        state = to_diffusers_names(load_file(str(weights)))
        patch = state.get("patch_embedding.weight")
        if patch is not None and patch.shape[1] != int(config.get("in_channels", patch.shape[1])):
            raise InputError(FIELD, f"{weights.name} takes {patch.shape[1]} input channels, the config "
                                    f"{config.get('in_channels')}",
                             "use a checkpoint fine-tuned from Wan I2V (36 channels)")
        return state, config

    return converted_folder(weights, "frameprompt", CONVERTER_VERSION, config, cache_root, convert)


def _is_lora(path: Path) -> bool:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return any(marker in key for key in f.keys() for marker in ("lora_A", "lora_B", "lora_down", "lora_up",
                                                                       ".lora."))
