"""Load a Wan repo's components from local folders (a real snapshot or a tiny twin: same code path).

The class of each component is read from its own files, as diffusers' pipelines do: `_class_name`
of a diffusers `config.json` (WanTransformer3DModel, WanVACETransformer3DModel,
WanAnimateTransformer3DModel, AutoencoderKLWan), `architectures` of a transformers one
(UMT5EncoderModel, CLIPVisionModel[WithProjection]), `_class_name` of `scheduler_config.json`.
Tokenizers and image processors go through transformers' Auto classes.

Weights stay memory-mapped: `low_cpu_mem_usage=True`, and a checkpoint stored in another dtype
than the one asked for (the Wan repos ship fp32) is converted once into a dtype cache on disk
(memory.loading.cast_checkpoint_folder) instead of being cast into RAM at every load. Every Wan
block gets the chunked-execution hook (models/wan/blocks.py) before any placement hook. Moving
to a device is memory/'s job.
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from core.dtypes import parse_dtype

_NO_WEIGHTS = ("tokenizer", "scheduler", "image_processor")


def dtype_cache_dir() -> Path:
    env = os.environ.get("FRAME_STUDIO_CACHE")
    base = Path(env) if env else Path(os.path.expanduser("~")) / ".cache" / "frame-studio"
    return base / "converted"


def component_class(folder: Path) -> tuple[str, str]:
    """(library, class name) of the model saved in `folder`."""
    config = json.loads((Path(folder) / "config.json").read_text())
    if "_class_name" in config:
        return "diffusers", config["_class_name"]
    architectures = config.get("architectures") or []
    if architectures:
        return "transformers", architectures[0]
    raise ValueError(f"{folder}/config.json names no class (_class_name or architectures)")


def load_model(folder: Path, dtype: str | torch.dtype | None, cls: type | None = None) -> Any:
    """The model saved in `folder` (its class from its config unless `cls`, a family's own subclass)."""
    if cls is None:
        library, class_name = component_class(folder)
        cls = getattr(importlib.import_module(library), class_name)
    torch_dtype = parse_dtype(dtype)
    if torch_dtype is not None:
        keep = tuple(getattr(cls, "_keep_in_fp32_modules", None) or ())
        from memory.loading import cast_checkpoint_folder

        folder = cast_checkpoint_folder(folder, torch_dtype, dtype_cache_dir(), keep)
    model = cls.from_pretrained(folder, torch_dtype=torch_dtype, low_cpu_mem_usage=True)
    return model.eval().requires_grad_(False)


def load_component(name: str, folder: Path, dtype: str | torch.dtype | None = None) -> Any:
    folder = Path(folder)
    if name == "tokenizer":
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)
    if name == "scheduler":
        config = json.loads((folder / "scheduler_config.json").read_text())
        return getattr(importlib.import_module("diffusers"), config["_class_name"]).from_pretrained(folder)
    if name == "image_processor":
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(folder)
    model = load_model(folder, dtype)
    return prepare_transformer(model) if name == "transformer" else model


def prepare_transformer(model: Any) -> Any:
    """Every Wan DiT gets the chunked-execution hook before any placement hook (streaming wraps it)."""
    from models.wan.blocks import install_chunking

    install_chunking(model)
    return model


def load_components(paths: dict[str, Path], dtypes: dict[str, str | None]) -> dict[str, Any]:
    """Every component named in `paths`, on the CPU, in eval mode."""
    for needed in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        if needed not in paths:
            raise KeyError(f"a Wan preset needs a {needed!r} component")
    return {name: load_component(name, folder, dtypes.get(name)) for name, folder in paths.items()}


def converted_folder(weights: Path, family: str, version: str, key_config: Any, cache_root: Path,
                     convert: Callable[[], tuple[dict[str, torch.Tensor], dict[str, Any]]]) -> Path:
    """A diffusers model folder (config.json + safetensors) made once from a release checkpoint in
    another key layout. `convert()` returns (state under diffusers' names, config); the folder is
    keyed by the file (path, size, mtime), the converter `version` and `key_config`."""
    import hashlib

    from safetensors.torch import save_file

    from memory.loading import built_folder

    weights = Path(weights)
    stat = weights.stat()
    key = hashlib.sha256(json.dumps([str(weights.resolve()), stat.st_size, int(stat.st_mtime), version, key_config],
                                    sort_keys=True, default=str).encode()).hexdigest()

    def write(tmp: Path) -> None:
        state, config = convert()
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "diffusion_pytorch_model.safetensors"),
                  metadata={"format": "pt", "source": weights.name})

    return built_folder(Path(cache_root) / f"{family}--{weights.stem}--{key[:16]}", {"source": str(weights)}, write)
