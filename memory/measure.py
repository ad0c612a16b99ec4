"""Measured peak of live tensor bytes during a call, without CUDA.

torch.profiler with `profile_memory=True` records every allocation and free of the CPU allocator
("[memory]" events, signed byte counts). Summing them in time order gives the live bytes at each
moment; the maximum is the activation peak of the call (weights allocated before are not counted).
This is what checks the formulas in `memory.activations` (tests/test_memory_activations.py).
"""
from __future__ import annotations

from typing import Any, Callable

import torch


def peak_allocated_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    """(peak bytes allocated during `fn()` above what was live before it, fn's result)."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak, result
