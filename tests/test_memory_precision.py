"""Compute dtype per device and fp8 weight storage (diffusers layerwise casting) on a tiny model."""
from __future__ import annotations

import torch
from test_memory_executor import framepack_inputs, tiny_framepack

from memory.precision import (
    FP8,
    compute_dtype,
    enable_fp8_storage,
    fp8_storage_bytes,
    parameter_bytes,
)


def test_compute_dtype_is_fp32_on_cpu() -> None:
    assert compute_dtype("cpu") == torch.float32
    assert compute_dtype(torch.device("cpu"), prefer=torch.float16) == torch.float32


@torch.no_grad()
def test_fp8_storage_on_a_tiny_transformer() -> None:
    model = tiny_framepack()
    args, kwargs = framepack_inputs()
    reference = model(*args, **kwargs)[0]
    before = parameter_bytes(model)
    predicted = fp8_storage_bytes(type(model).__name__, dict(model.config), torch.float32)
    after = enable_fp8_storage(model, torch.float32)
    assert after == predicted < 0.6 * before  # the meta-build prediction is exact
    block = model.single_transformer_blocks[0]
    assert block.proj_mlp.weight.dtype == FP8 and block.attn.to_q.weight.dtype == FP8
    assert model.x_embedder.proj.weight.dtype == torch.float32  # skipped pattern keeps compute dtype
    out = model(*args, **kwargs)[0]
    assert out.dtype == torch.float32 and not torch.equal(out, reference)
    rel = (out - reference).norm() / reference.norm()
    assert rel < 0.1, float(rel)
