"""One way for every model task to get weights onto the device:

resolve files -> load on the host (cached across jobs) -> memory plan -> apply it -> release.
The plan and the device are recorded in settings.json; an OOM inside the block is reported with
the plan that failed (memory.oom_guard) and the cached family is left clean for the next job.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from studio.model_cache import cache_key
from studio.presets import Preset
from studio.tasks.base import JobContext

Loader = Callable[[dict, dict], dict[str, Any]]  # (paths, dtypes) -> components


@dataclass
class Placed:
    placement: Any  # memory.executor.PlannedPlacement
    plan: Any       # memory.plan.MemoryPlan
    preset: Preset
    attention_backend: str


def load_family(ctx: JobContext, preset_id: str, loader: Loader, fp8: tuple[str, ...] = (),
                extra_key: tuple[str, ...] = ()) -> tuple[dict[str, Any], Preset, Any]:
    """Components on the host for the job's preset (its tiny twin under --tiny); the components
    named in `fp8` store their weights in float8 (diffusers layerwise casting) and compute as usual.
    `extra_key` names what else the loader puts into the weights (a user's checkpoint or LoRA with
    its strength), so the cached family is only reused for the same weights."""
    import torch

    env = ctx.env
    preset = env.preset_for(preset_id)
    paths = env.resolver.paths(preset)  # MissingWeightsError names repos, sizes and the fix
    device = torch.device(env.torch_device())
    # On the CPU compute in float32 (bf16 matmuls are slow there); on CUDA use the preset's dtypes.
    dtypes = {name: (spec.dtype if device.type == "cuda" else "float32") if spec.dtype else None
              for name, spec in preset.components.items()}

    def load() -> dict[str, Any]:
        from memory.precision import compute_dtype, enable_fp8_storage

        loaded = loader(paths, dtypes)
        for name in fp8:
            compute = getattr(torch, dtypes[name]) if dtypes.get(name) else compute_dtype(device)
            enable_fp8_storage(loaded[name], compute=compute)
        return loaded

    # fp8 is part of the key: a cast family is never handed to a job that asked for full precision.
    components = env.models.get(cache_key(preset.id, paths, dtypes) + (("fp8", *fp8),) + extra_key, load)
    ctx.record.update(preset=preset.id, device=str(device), fp8_storage=list(fp8),
                      weights={name: str(path) for name, path in paths.items()})
    return components, preset, device


@contextlib.contextmanager
def placed(ctx: JobContext, preset_id: str, loader: Loader, *, width: int, height: int, seconds: float | None = None,
           frames: int | None = None, preservation_gb: float = 6.0, window: int | None = None,
           fp8: tuple[str, ...] = (), extra_key: tuple[str, ...] = ()) -> Iterator[Placed]:
    from memory import apply_plan, choose_attention_backend, format_plan, oom_guard
    from studio.planning import plan_for

    components, preset, device = load_family(ctx, preset_id, loader, fp8, extra_key)
    plan = plan_for(preset, width, height, seconds, ctx.env.vram_gb, None, preservation_gb, frames=frames,
                    window=window, modules=components if preset.is_tiny else None, fp8=fp8,
                    presets=ctx.env.presets)
    ctx.record["memory_plan"] = {**plan.to_dict(), "summary": format_plan(plan)}
    placement = apply_plan(plan, components, device)
    backend = choose_attention_backend()
    ctx.record["attention_backend"] = backend
    try:
        with oom_guard(plan, "generation", release=placement.release):
            yield Placed(placement, plan, preset, backend)
    finally:
        placement.release()  # hooks off, weights back on the host: the cached family is clean
