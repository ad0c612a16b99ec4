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
from typing import Callable

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


# ------------------------------------------------------------------------------------------ dtype cache


def checkpoint_dtypes(folder: Path) -> set[torch.dtype]:
    """Floating dtypes stored in a folder's safetensors files (read from the headers only)."""
    from safetensors import safe_open

    found: set[torch.dtype] = set()
    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                sl = handle.get_slice(key)
                name = sl.get_dtype()
                dtype = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}.get(name)
                if dtype is not None:
                    found.add(dtype)
    return found


def cast_checkpoint_folder(src: Path, dtype: torch.dtype, cache_root: Path,
                           keep_fp32: tuple[str, ...] = ()) -> Path:
    """A copy of `src` whose floating tensors are stored in `dtype` (those with one of `keep_fp32` as a
    dotted name part stay float32, diffusers' `_keep_in_fp32_modules` rule), converted once into `cache_root` and reused.

    Why: loading an fp32 checkpoint (the Wan diffusers repos ship fp32) with `torch_dtype=bf16`
    casts every tensor into anonymous RAM: 28 GB for a 14B transformer, resident for the whole job,
    where the memory plan counts weights as file-backed pages. Loading the converted copy keeps
    the weights memory-mapped (the cast becomes a no-op), so RAM holds only what a phase touches.
    Conversion goes shard by shard (one shard in RAM at a time) and is renamed into place when
    complete; `src` itself is returned when nothing needs converting."""
    import hashlib
    import json
    import shutil

    from safetensors import safe_open
    from safetensors.torch import save_file

    src = Path(src)
    stored = checkpoint_dtypes(src)
    if not stored or stored == {dtype} or (dtype in stored and stored <= {dtype, torch.float32}):
        return src  # already in `dtype` (its float32 parts being the kept modules)
    files = sorted(src.iterdir())
    stamp = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files if f.is_file()]
    key = hashlib.sha256(json.dumps([str(src.resolve()), str(dtype), list(keep_fp32), stamp]).encode()).hexdigest()
    target = Path(cache_root) / f"{src.parent.name}--{src.name}--{str(dtype).removeprefix('torch.')}--{key[:16]}"

    def write(tmp: Path) -> None:
        for file in files:
            if file.suffix == ".safetensors":
                tensors = {}
                with safe_open(str(file), framework="pt") as handle:
                    metadata = handle.metadata()
                    for name in handle.keys():
                        tensor = handle.get_tensor(name)
                        if tensor.is_floating_point() and not any(p in name.split(".") for p in keep_fp32):
                            tensor = tensor.to(dtype)
                        tensors[name] = tensor
                save_file(tensors, str(tmp / file.name), metadata=metadata)
                del tensors
            elif file.is_file():
                shutil.copy2(file, tmp / file.name)

    return built_folder(target, {"source": str(src), "dtype": str(dtype)}, write)


def built_folder(target: Path, marker: dict, write: Callable[[Path], None]) -> Path:
    """`target`, made once: `write(tmp)` fills a temp folder beside it, which is marked `.complete`
    (holding `marker`) and renamed into place only when whole; a finished folder is reused."""
    import json
    import os
    import shutil

    target = Path(target)
    if (target / ".complete").is_file():
        return target
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        (tmp / ".complete").write_text(json.dumps(marker))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
