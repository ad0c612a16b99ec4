"""Load FramePack's components from local folders (real snapshots or the tiny kit: same code path).

Every component is loaded onto the CPU with `low_cpu_mem_usage=True` (safetensors are memory-mapped,
so a 26 GB checkpoint never sits twice in RAM); moving to a device is `memory.Placement`'s job.

Tokenizers go through `AutoTokenizer`: transformers 5 maps the repo's `LlamaTokenizerFast` name to
a SentencePiece-style `LlamaTokenizer` that rebuilds the backend and would mangle Llama-3's
byte-level BPE; `AutoTokenizer` notices the byte-level `tokenizer.json` and loads it as it is.
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import torch

from core.dtypes import parse_dtype

COMPONENTS = (
    "transformer", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2",
    "vae", "image_encoder", "feature_extractor",
)

# name -> (module, class); the classes of the real repos.
_CLASSES: dict[str, tuple[str, str]] = {
    "transformer": ("diffusers", "HunyuanVideoFramepackTransformer3DModel"),
    "text_encoder": ("transformers", "LlamaModel"),
    "text_encoder_2": ("transformers", "CLIPTextModel"),
    "tokenizer": ("transformers", "AutoTokenizer"),
    "tokenizer_2": ("transformers", "AutoTokenizer"),
    "vae": ("diffusers", "AutoencoderKLHunyuanVideo"),
    "image_encoder": ("transformers", "SiglipVisionModel"),
    "feature_extractor": ("transformers", "SiglipImageProcessor"),
}
_NO_WEIGHTS = {"tokenizer", "tokenizer_2", "feature_extractor"}


def load_component(name: str, folder: Path, dtype: str | torch.dtype | None = None) -> Any:
    """One component from its own folder (repo snapshot + subfolder)."""
    if name not in _CLASSES:
        raise KeyError(f"unknown FramePack component {name!r}; expected one of {COMPONENTS}")
    module_name, class_name = _CLASSES[name]
    if name == "feature_extractor" and importlib.util.find_spec("torchvision") is None:
        # transformers 5 falls back to this PIL processor anyway (with a warning) when torchvision,
        # which we never install, is missing.
        class_name = "SiglipImageProcessorPil"
    cls = getattr(importlib.import_module(module_name), class_name)
    folder = Path(folder)
    if name in _NO_WEIGHTS:
        return cls.from_pretrained(folder)
    model = cls.from_pretrained(folder, torch_dtype=parse_dtype(dtype), low_cpu_mem_usage=True)
    return model.eval().requires_grad_(False)


def load_components(paths: dict[str, Path], dtypes: dict[str, str | None]) -> dict[str, Any]:
    """All components named in `paths` (normally the 8 of `COMPONENTS`), on the CPU, in eval mode."""
    missing = [n for n in COMPONENTS if n not in paths]
    if missing:
        raise KeyError(f"FramePack needs paths for {missing}")
    return {name: load_component(name, paths[name], dtypes.get(name)) for name in paths}
