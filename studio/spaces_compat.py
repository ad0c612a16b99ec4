"""Hugging Face Spaces support: `spaces.GPU` on ZeroGPU Spaces, a no-op everywhere else."""
from __future__ import annotations

import os
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def on_space() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def gpu(duration: int = 120) -> Callable[[F], F]:
    """Decorate GPU work; on a ZeroGPU Space CUDA exists only inside the decorated call."""
    if not on_space():
        return lambda fn: fn
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)
