"""Measured peak of live tensor bytes during a call, without CUDA.

torch.profiler with `profile_memory=True` records every allocation and free of the CPU allocator
("[memory]" events, signed byte counts). Summing them in time order gives the live bytes at each
moment; the maximum is the activation peak of the call (weights allocated before are not counted).
This is what checks the formulas in `memory.activations` (tests/test_memory_activations.py).

Convolution kernels' private buffers are the one thing taken from a model rather than measured,
because they depend on the CPU, not on the network: where oneDNN has a kernel (AVX-512, bf16) it
reorders input and output into its blocked layout; where it has none (an AVX2 CPU in bf16, small
fp32 shapes) PyTorch's `slow_conv*` kernels unfold the input into an im2col buffer of kernel volume
x input bytes, which no GPU allocates. The same decoder measured 4.9x apart on the two machines.
So the events inside an `aten::convolution` are replaced by what a GPU does, and what the ledgers
assume: the output, plus one layout copy of input and output while the kernel runs (cuDNN's
NDHWC transposes). Every other tensor is the allocator's own record.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Callable

import torch


def peak_allocated_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    """(peak bytes allocated during `fn()` above what was live before it, fn's result)."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True) as prof:
        result = fn()
    events = list(prof.profiler.kineto_results.events())
    convs = sorted((e for e in events if e.name() == "aten::convolution"), key=lambda e: e.start_ns())
    # (time, order, bytes): a conv's net change and its transient layout copies land at its end.
    changes: list[tuple[int, int, int]] = []
    starts = [c.start_ns() for c in convs]
    net = {id(c): 0 for c in convs}
    for e in events:
        if e.name() != "[memory]":
            continue
        conv = _enclosing(convs, starts, e.start_ns())
        if conv is None:
            changes.append((e.start_ns(), 0, e.nbytes()))
        else:
            net[id(conv)] += e.nbytes()
    for conv in convs:
        out = net[id(conv)]
        copies = _input_bytes(conv) + max(out, 0)
        changes += [(conv.end_ns(), 0, out + copies), (conv.end_ns(), 1, -copies)]
    changes.sort(key=lambda change: change[:2])
    live = peak = 0
    for _, _, nbytes in changes:
        live += nbytes
        peak = max(peak, live)
    return peak, result


def _enclosing(convs: list, starts: list[int], when: int):
    """The convolution op running at `when`, if any (convolutions do not nest)."""
    i = bisect.bisect_right(starts, when) - 1
    return convs[i] if i >= 0 and when <= convs[i].end_ns() else None


_ITEMSIZE = {"float": 4, "c10::BFloat16": 2, "c10::Half": 2, "double": 8}


def _input_bytes(conv) -> int:
    shape, dtype = conv.shapes()[0], conv.dtypes()[0]
    return math.prod(shape) * _ITEMSIZE.get(dtype, 4)
