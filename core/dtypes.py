"""dtype names as they appear in presets, configs and settings.json -> torch dtypes.

torch is imported on first use, so importing `core` stays cheap.
"""
from __future__ import annotations

from typing import Any

_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}


def parse_dtype(name: Any, default: Any = None) -> Any:
    """"bfloat16" / "bf16" / "torch.float16" / a torch.dtype / None (-> `default`) -> torch.dtype.

    A mixed label such as "bfloat16+float8_e4m3fn" (fp8 storage, compute in bf16) gives the widest
    one: the dtype layers compute in."""
    import torch

    if name is None:
        return default
    if isinstance(name, torch.dtype):
        return name
    parts = [_ALIASES.get(p, p) for p in str(name).removeprefix("torch.").split("+")]
    dtypes = []
    for part in parts:
        dtype = getattr(torch, part.removeprefix("torch."), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"unknown dtype {name!r}; use float32, bfloat16 or float16")
        dtypes.append(dtype)
    return max(dtypes, key=itemsize)


def itemsize(dtype: Any) -> int:
    import torch

    return torch.empty((), dtype=dtype, device="meta").element_size()


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")
