"""Load weights so a checkpoint never sits twice in RAM.

The module is built on `meta` (no storage), the safetensors file is memory-mapped, and
`load_state_dict(assign=True)` makes the parameters *be* those mapped tensors: no random init, no
copy. The pages are file-backed, so the kernel can drop the ones not in use and re-read them; RAM
holds what is touched (the block being moved to the GPU), not the model. A dtype cast (e.g. an fp32
checkpoint loaded as fp16) necessarily makes an anonymous copy of that tensor only.

diffusers' and transformers' `from_pretrained(..., low_cpu_mem_usage=True)` take the same path for
safetensors (models/framepack/loading.py uses it); benchmarks/ram_load.py measures both against a
naive `torch.load` + `load_state_dict`.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def build_empty(factory, *args, **kwargs) -> nn.Module:
    """`factory(*args, **kwargs)` with parameters on the meta device (allocates nothing)."""
    with torch.device("meta"):
        return factory(*args, **kwargs)


def load_safetensors_into(module: nn.Module, paths: str | Path | list[str | Path],
                          dtype: torch.dtype | None = None, strict: bool = True) -> nn.Module:
    """Assign memory-mapped tensors from one or more .safetensors shards to `module`'s parameters."""
    import safetensors.torch

    files = [paths] if isinstance(paths, (str, Path)) else list(paths)
    state: dict[str, torch.Tensor] = {}
    for path in files:
        shard = safetensors.torch.load_file(str(path), device="cpu")  # mmap: nothing read yet
        if dtype is not None:
            shard = {k: (v if v.dtype == dtype or not v.is_floating_point() else v.to(dtype)) for k, v in shard.items()}
        state.update(shard)
    module.load_state_dict(state, strict=strict, assign=True)
    return module
