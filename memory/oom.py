"""Device out-of-memory -> `DeviceOutOfMemory` carrying the plan that failed and what to change.

The frames the OOM unwound through are cleared before memory is freed (their locals pin the failed
step's tensors): that is what lets `gc.collect()` and `torch.cuda.empty_cache()` actually return
the job's memory before the error reaches the UI.
"""
from __future__ import annotations

import gc
import traceback
from typing import Callable

import torch

from core.errors import DeviceOutOfMemory
from memory.budget import gb
from memory.plan import MemoryPlan


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_device_memory() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def suggestion(plan: MemoryPlan | None) -> str:
    """One concrete change that lowers the peak of this plan."""
    if plan is None:
        return "plan the job first (python -m studio plan ...) and lower the bucket or the VRAM budget"
    if plan.suggestion:
        return plan.suggestion
    tips = []
    streamed = [c for c in plan.components.values() if c.placement == "streamed"]
    resident = [c for c in plan.components.values() if c.placement == "resident" and c.blocks]
    for cp in streamed:
        if cp.blocks_resident:
            tips.append(f"raise gpu_memory_preservation by {gb(cp.resident_bytes / max(cp.blocks_resident, 1)) * 2:.1f} GB"
                        f" (keeps 2 fewer {cp.name} blocks resident)")
            break
    for cp in resident:
        tips.append(f"stream {cp.name} block by block (plan with a smaller --vram than the card has)")
        break
    tips += plan.size_tips
    if plan.vae_tiling and plan.vae_tiling["tile_sample_min_height"] > 128:
        tips.append("decode with smaller VAE tiles (128 px)")
    tips.append("close other programs that use the GPU")
    return "; ".join(tips)


def describe(plan: MemoryPlan | None, what: str, detail: str) -> str:
    head = f"The GPU ran out of memory during {what}"
    if plan is not None:
        head += (f" (plan: peak {plan.peak_vram_gb:.2f} GB of {gb(plan.vram_bytes):.2f} GB VRAM, "
                 f"{plan.width}x{plan.height}, {plan.preset})")
    return f"{head}. Try: {suggestion(plan)}. [{detail}]"


class oom_guard:  # noqa: N801 - used like a function: `with oom_guard(plan, "denoising"):`
    """Turns a device OOM inside the block into `DeviceOutOfMemory(plan, suggestion)`.

    Before raising it clears the local variables of the frames the OOM unwound through (the failed
    step's activations), calls `release` (e.g. `placement.release`), then `gc.collect()` and
    `torch.cuda.empty_cache()`, so the memory is back before the error reaches the UI.
    """

    def __init__(self, plan: MemoryPlan | None, what: str = "generation",
                 release: Callable[[], None] | None = None) -> None:
        self.plan, self.what, self.release = plan, what, release

    def __enter__(self) -> "oom_guard":
        return self

    def __exit__(self, typ, value, tb) -> bool:
        if value is None:
            return False
        if isinstance(value, DeviceOutOfMemory):
            if getattr(value, "plan", None) is not None:
                return False
            detail = str(value)
        elif is_oom(value):
            text = str(value).splitlines()[0] if str(value) else ""
            detail = f"{type(value).__name__}: {text}"
        else:
            return False
        traceback.clear_frames(tb)  # the frames below this one (the failed step) drop their tensors
        if self.release is not None:
            self.release()
        free_device_memory()
        error = DeviceOutOfMemory(describe(self.plan, self.what, detail))
        error.plan = self.plan.to_dict() if self.plan is not None else None
        error.suggestion = suggestion(self.plan)
        raise error from None
