"""Compute dtype per device, and fp8 weight storage with diffusers' layerwise casting.

fp8 storage halves the bytes of a bf16 model's Linear/Conv weights (norms, embedders and the
other `_skip_layerwise_casting_patterns` stay in the compute dtype); each layer is upcast just
before it runs. It changes results slightly, so it is opt-in and recorded with the job.
"""
from __future__ import annotations

import torch
from torch import nn

FP8 = torch.float8_e4m3fn


def compute_dtype(device: torch.device | str, prefer: torch.dtype = torch.bfloat16) -> torch.dtype:
    """fp32 on CPU (bf16/fp16 matmuls are slow or missing there); bf16 on CUDA when the GPU has it,
    else fp16 (pre-Ampere cards)."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.float32
    if device.type == "cuda":
        if prefer == torch.bfloat16 and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16
    return torch.float16


def enable_fp8_storage(module: nn.Module, compute: torch.dtype, storage: torch.dtype = FP8) -> int:
    """Store weights in `storage`, compute in `compute`; returns the parameter bytes afterwards."""
    if hasattr(module, "enable_layerwise_casting"):  # diffusers ModelMixin: knows its skip patterns
        module.enable_layerwise_casting(storage_dtype=storage, compute_dtype=compute)
    else:
        from diffusers.hooks import apply_layerwise_casting

        apply_layerwise_casting(module, storage_dtype=storage, compute_dtype=compute, skip_modules_pattern="auto")
    return parameter_bytes(module)


def parameter_bytes(module: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def fp8_storage_bytes(cls_name: str, config: dict, compute: torch.dtype) -> int:
    """Bytes the same model takes with fp8 storage, counted on a meta build (nothing allocated)."""
    return _fp8_meta_model(cls_name, config, compute)[1]


def _fp8_meta_model(cls_name: str, config: dict, compute: torch.dtype) -> tuple[nn.Module, int]:
    from diffusers.utils import logging as dlogging

    from memory.sizes import build_on_meta

    model = build_on_meta(cls_name, config)
    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()  # "modules to keep in float32" is about numerics, not bytes
    try:
        model = model.to(compute)
    finally:
        dlogging.set_verbosity(level)
    return model, enable_fp8_storage(model, compute)


def fp8_component_size(size):  # -> memory.sizes.ComponentSize
    """The exact sizes (per block too) of a component stored in fp8 by layerwise casting."""
    from memory.sizes import ComponentSize, dtype_of, module_size

    model, _ = _fp8_meta_model(size.cls, size.config, dtype_of(size.dtype))
    fp8 = module_size(size.name, model, size.cls, None, source=size.source + "; fp8 storage (layerwise casting)")
    return ComponentSize(name=size.name, cls=size.cls, dtype=fp8.dtype, params=fp8.params, bytes=fp8.bytes,
                         block_lists=fp8.block_lists, file_bytes=size.file_bytes, source=fp8.source,
                         config=size.config)
