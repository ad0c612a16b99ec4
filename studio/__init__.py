"""Frame Studio: task functions, runner and UI for open video diffusion models.

Importing `studio` is cheap and touches no CUDA API; heavy modules load when first used.
"""
from __future__ import annotations

from typing import Any

__all__ = ["interpolate_frames", "build_app"]


def __getattr__(name: str) -> Any:
    if name == "interpolate_frames":
        from studio.tasks.interpolate import interpolate_frames

        return interpolate_frames
    if name == "build_app":
        from studio.ui.app import build_app

        return build_app
    raise AttributeError(name)
