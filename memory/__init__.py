"""Memory layer: budgets, plans and placement. Importing it touches no CUDA API.

`Placement` is what model code uses; the rest (docs/memory.md) is imported on first use so that
`import memory` stays cheap.
"""
from importlib import import_module

from memory.placement import Placement

_LAZY = {
    "make_plan": "memory.plan", "format_plan": "memory.plan", "MemoryPlan": "memory.plan",
    "apply_plan": "memory.executor", "DeviceByteCounter": "memory.executor",
    "oom_guard": "memory.oom", "choose_attention_backend": "memory.attention",
    "attention_backend": "memory.attention", "compute_dtype": "memory.precision",
}

__all__ = ["Placement", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'memory' has no attribute {name!r}")
