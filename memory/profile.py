"""What a model family tells memory/ about itself, as data: memory/ plans from this alone.

A family (models/<family>/memory.py) builds one `MemoryProfile`:
- `phases`: (phase, components) in execution order; components absent from a job are skipped;
- `hot_phase`: the phase that runs every step (its component gets the device budget first);
- `activations`: per component *class name*, a function giving the activation peak of one call;
- `shape`: job parameters -> `JobShape` (frames, latent frames, sections at the family's fps);
- `host_terms`: what the family itself holds in host RAM besides weights (frame buffers, latents,
  activations a memory option keeps on the host), from the job shape and the component sizes;
- `vae_tiling`: which component decodes in tiles, the candidate tile sizes and their settings;
- `tips`: what to tell a user whose job does not fit (family words, e.g. "pick a smaller bucket").

This is the ComponentMixin `memory_usage_factor` / `model_cpu_offload_seq` idea made exact: the
planner never names a family or a model class.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from memory.activations import ActivationEstimate
from memory.sizes import ComponentSize


@dataclass(frozen=True)
class JobShape:
    """What one job computes on."""

    width: int
    height: int
    frames: int                 # output frames
    latent_frames: int          # latent frames the job holds (for FramePack: the whole history)
    sections: int = 1           # denoise passes over different windows (FramePack sections)
    window: int = 0             # the family's per-pass window (FramePack latents, LDF-VFI frames)
    options: Mapping[str, Any] = field(default_factory=dict)  # family memory options (e.g. chunked)


# (component size, job shape, phase, VAE tile px or None, bytes per element) -> peak of one call
ActivationFn = Callable[[ComponentSize, JobShape, str, "int | None", int], ActivationEstimate]
ShapeFn = Callable[..., JobShape]  # (width, height, seconds, frames, window, options) -> JobShape


@dataclass(frozen=True)
class VaeTiling:
    """How a family's VAE decodes in spatial tiles. `settings(tile_px)` gives the keyword arguments
    of the component's `enable_tiling` (diffusers' name; the executor calls it with them)."""

    component: str
    tiles_px: tuple[int, ...]                       # candidates, largest first
    settings: Callable[[int], dict[str, int]]
    phase: str = "decode"


@dataclass(frozen=True)
class MemoryProfile:
    name: str                                       # a label for plans and messages
    phases: tuple[tuple[str, tuple[str, ...]], ...]
    activations: Mapping[str, ActivationFn]
    shape: ShapeFn
    fps: float
    hot_phase: str = "denoise"
    host_terms: Callable[[JobShape, Mapping[str, ComponentSize]], dict[str, int]] = lambda shape, sizes: {}
    vae_tiling: VaeTiling | None = None
    tips: tuple[str, ...] = ()
    large_pixels: int = 0  # above width*height = this, `tips` suggest a smaller frame
    preset_options: tuple[str, ...] = ()  # preset defaults the shape / ledgers read (e.g. a VAE's scale)
    fallbacks: tuple[dict[str, Any], ...] = ()  # memory options tried in order when a plan does not fit

    def phase_map(self, present: set[str]) -> dict[str, tuple[str, ...]]:
        """Phases with only the components this job has (order kept)."""
        return {phase: tuple(n for n in names if n in present) for phase, names in self.phases}


def weightless_profile(name: str, fps: float = 30.0) -> MemoryProfile:
    """For methods with no weights (e.g. the optical-flow interpolator): only the frames count."""

    def shape(width: int, height: int, seconds: float | None = None, frames: int | None = None,
              window: int | None = None, options: dict | None = None) -> JobShape:
        count = int(frames) if frames is not None else int(round(seconds * fps)) + 1
        return JobShape(width, height, count, 0, options=dict(options or {}))

    return MemoryProfile(name=name, phases=(), activations={}, shape=shape, fps=fps,
                         host_terms=lambda s, sizes: {"video_uint8": s.frames * s.height * s.width * 3})
