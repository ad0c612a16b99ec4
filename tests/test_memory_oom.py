"""Device OOM -> DeviceOutOfMemory with the plan and a suggestion, after the job's memory is freed."""
from __future__ import annotations

import weakref

import pytest
import torch

from core.errors import DeviceOutOfMemory, StudioError
from memory.oom import oom_guard, suggestion
from studio.planning import plan_for


@pytest.fixture(scope="module")
def plan():
    return plan_for("framepack", 640, 640, 10, vram_gb=8, ram_gb=32)


def test_simulated_oom_becomes_device_out_of_memory_after_freeing(plan) -> None:
    released: list[bool] = []
    holder: dict[str, weakref.ref] = {}

    def step() -> None:
        activations = torch.empty(1_000_000)
        holder["ref"] = weakref.ref(activations)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(DeviceOutOfMemory) as info:
        with oom_guard(plan, "denoising", release=lambda: released.append(True)):
            step()
    err = info.value
    assert isinstance(err, StudioError) and released == [True]
    assert holder["ref"]() is None  # the failed step's tensors were freed, not kept by a traceback
    assert err.plan["peak_vram_gb"] == round(plan.peak_vram_gb, 3)
    assert "gpu_memory_preservation" in err.suggestion and "denoising" in str(err)
    assert err.__cause__ is None and err.__suppress_context__


def test_runtime_error_with_out_of_memory_text_is_converted(plan) -> None:
    with pytest.raises(DeviceOutOfMemory, match="CUDA error: out of memory"):
        with oom_guard(plan, "decoding"):
            raise RuntimeError("CUDA error: out of memory")


def test_other_errors_pass_through_and_success_is_silent(plan) -> None:
    with pytest.raises(ValueError):
        with oom_guard(plan):
            raise ValueError("not memory")
    with oom_guard(plan):
        pass


def test_virtual_budget_error_gets_the_plan_attached(plan) -> None:
    from memory.executor import DeviceByteCounter

    with pytest.raises(DeviceOutOfMemory) as info:
        with oom_guard(plan, "loading"):
            DeviceByteCounter(10).load("x", 11)
    assert info.value.plan is not None


def test_suggestions_name_a_concrete_change() -> None:
    resident = plan_for("framepack", 640, 640, 10, vram_gb=12, ram_gb=32)
    assert "gpu_memory_preservation" in suggestion(resident)
    assert "bucket" in suggestion(plan_for("framepack", 640, 640, 10, vram_gb=6, ram_gb=32))
    assert "plan the job" in suggestion(None)
