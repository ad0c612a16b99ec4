"""The memory plan of a job, decided before anything is loaded.

For every component: its exact parameter bytes (memory.sizes), where it lives (resident on the
device, streamed block by block with the next block prefetched, or loaded only for its phase), and
what of it stays in host RAM. For every phase: device and host peaks, activations included
(memory.activations). The numbers are sums of those byte counts; nothing is clamped, and a plan
that does not fit says so (`fits`) with a suggestion.

Policies (DESIGN §2):
- FramePack's `gpu_memory_preservation`: keep that many GB of the device free of resident
  transformer blocks; everything not resident is streamed. Everything resident when it all fits
  (FramePack switches to that above 60 GB free).
- mmgp / kijai block swap: stream one block at a time with the next one prefetched, keep as many
  blocks resident as the budget allows (the first ones in execution order).
- ~1 GB of working memory kept free (ComfyUI), counted in the peak as `reserve`.
- Host: safetensors are memory-mapped, so weights that are not needed in a phase are not resident
  in RAM; the hot transformer stays in RAM as far as the cap allows (pinned up to half of RAM),
  the rest is re-read from disk on every step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from torch import nn

from core.errors import InputError
from memory import activations as act
from memory.budget import (
    GIB,
    default_pinned_cap,
    gb,
    probe_device,
    probe_host,
    to_bytes,
)
from memory.profile import MemoryProfile
from memory.sizes import ComponentSize, component_size, dtype_of, itemsize, module_size

# Host memory of the process itself: measured 0.52 GiB RSS after importing torch 2.13 (CPU build),
# diffusers, transformers and gradio. CUDA builds add the CUDA runtime, cuBLAS/cuDNN and the
# context's host side: ~1 GiB is assumed (not measurable on this CPU-only machine).
PROCESS_BASE_BYTES = int(0.55 * GIB)
CUDA_HOST_BYTES = 1 * GIB
# Host RAM the planner leaves unused when it sizes the in-RAM part of a streamed model: allocator
# fragmentation, Python objects, the page cache of files being written. Not part of the peak.
HOST_SLACK_BYTES = GIB // 2


# ------------------------------------------------------------------------------------------ data


@dataclass
class ComponentPlan:
    name: str
    cls: str
    dtype: str
    params: int
    bytes: int
    phases: tuple[str, ...]
    placement: str  # "resident" | "streamed" | "phase" | "host" (no device) | "none" (no weights)
    blocks: int = 0  # streamable blocks (top-level ModuleList entries)
    blocks_resident: int = 0
    blocks_per_group: int = 1
    prefetch: int = 0  # groups loaded ahead of use (1: the next block, on a second CUDA stream)
    resident_bytes: int = 0  # on the device for the whole job
    phase_bytes: int = 0  # on the device while one of its phases runs (streaming window for streamed)
    host: str = "ram"  # "ram" | "ram+disk" | "disk"
    host_ram_bytes: int = 0  # kept in host RAM for the whole job
    pinned_bytes: int = 0
    disk_read_per_pass: int = 0  # re-read from disk on every forward
    file_bytes: int | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["phases"] = list(self.phases)
        out["gb"] = round(gb(self.bytes), 3)
        return out


@dataclass
class PhasePlan:
    name: str
    components: tuple[str, ...]
    weights_bytes: int  # device: resident weights of all components + this phase's own
    activation_bytes: int
    reserve_bytes: int
    host_bytes: int

    @property
    def device_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes + self.reserve_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"components": list(self.components), "weights_bytes": self.weights_bytes,
                "activation_bytes": self.activation_bytes, "reserve_bytes": self.reserve_bytes,
                "device_bytes": self.device_bytes, "host_bytes": self.host_bytes,
                "device_gb": round(gb(self.device_bytes), 3), "host_gb": round(gb(self.host_bytes), 3)}


@dataclass
class MemoryPlan:
    preset: str
    family: str
    width: int
    height: int
    seconds: float
    device: str  # "cuda" | "virtual" | "cpu"
    vram_bytes: int
    ram_bytes: int
    preservation_bytes: int
    reserve_bytes: int
    pinned_cap_bytes: int
    components: dict[str, ComponentPlan]
    phases: dict[str, PhasePlan]
    activations: dict[str, act.ActivationEstimate]
    host_terms: dict[str, int]
    peak_vram_bytes: int
    peak_ram_bytes: int
    sections: int = 1
    frames: int = 0
    vae_tiling: dict[str, int] | None = None  # the tiled component's enable_tiling(**) arguments
    vae_tiling_component: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    size_tips: list[str] = field(default_factory=list)  # the family's advice for a frame this large
    suggestion: str = ""

    @property
    def fits_vram(self) -> bool:
        return self.device == "cpu" or self.peak_vram_bytes <= self.vram_bytes

    @property
    def fits_ram(self) -> bool:
        return self.peak_ram_bytes <= self.ram_bytes

    @property
    def fits(self) -> bool:
        return self.fits_vram and self.fits_ram

    @property
    def peak_vram_gb(self) -> float:
        return gb(self.peak_vram_bytes)

    @property
    def peak_ram_gb(self) -> float:
        return gb(self.peak_ram_bytes)

    @property
    def pinned_bytes(self) -> int:
        return sum(c.pinned_bytes for c in self.components.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset, "family": self.family, "width": self.width, "height": self.height,
            "seconds": self.seconds, "sections": self.sections, "frames": self.frames, "device": self.device,
            "peak_vram_gb": round(self.peak_vram_gb, 3), "peak_ram_gb": round(self.peak_ram_gb, 3),
            "peak_vram_bytes": self.peak_vram_bytes, "peak_ram_bytes": self.peak_ram_bytes,
            "vram_gb": round(gb(self.vram_bytes), 3), "ram_gb": round(gb(self.ram_bytes), 3),
            "gpu_memory_preservation_gb": round(gb(self.preservation_bytes), 3),
            "reserve_gb": round(gb(self.reserve_bytes), 3),
            "pinned_cap_gb": round(gb(self.pinned_cap_bytes), 3), "pinned_gb": round(gb(self.pinned_bytes), 3),
            "fits": self.fits, "fits_vram": self.fits_vram, "fits_ram": self.fits_ram,
            "components": {n: c.to_dict() for n, c in self.components.items()},
            "phases": {n: p.to_dict() for n, p in self.phases.items()},
            "activations": {n: a.to_dict() for n, a in self.activations.items()},
            "host_terms": dict(self.host_terms), "vae_tiling": self.vae_tiling,
            "vae_tiling_component": self.vae_tiling_component, "options": dict(self.options),
            "notes": list(self.notes), "suggestion": self.suggestion,
            "units": "GB = GiB (2**30 bytes)",
        }


# ------------------------------------------------------------------------------------------ sizes


def component_sizes(components: Mapping[str, Any], dtype_override: str | None = None,
                    configs_dir: Any = None) -> dict[str, ComponentSize]:
    """Exact sizes per component. A value is a live `nn.Module` (a tiny kit's, a loaded model) or a
    preset component table (`repo`, `subfolder`, `class`, `dtype`) whose real config is built on
    `meta`. `dtype_override` replaces the dtype of components that have one (float32 on a CPU run)."""
    out: dict[str, ComponentSize] = {}
    for name, spec in components.items():
        if isinstance(spec, nn.Module):
            out[name] = module_size(name, spec, source="live module")
            continue
        if not isinstance(spec, Mapping):
            continue  # tokenizers and processors handed over as objects: no weights
        dtype = dtype_override if (dtype_override and spec.get("dtype")) else spec.get("dtype")
        out[name] = component_size(name, spec.get("class", ""), spec["repo"], spec.get("subfolder", ""),
                                   dtype, root=configs_dir)
    return out


# ------------------------------------------------------------------------------------------ planning


@dataclass
class _Comp:
    size: ComponentSize
    phases: tuple[str, ...]
    streamable: bool

    @property
    def groups(self) -> list[tuple[str, int]]:
        return self.size.blocks_in_order()


def _window(blocks: list[int], other: int, prefetch: int) -> int:
    """Device bytes of a streamed component during its forward: its non-block weights, the block
    being run and `prefetch` blocks loaded ahead (worst consecutive run)."""
    if not blocks:
        return other
    span = prefetch + 1
    return other + max(sum(blocks[i:i + span]) for i in range(len(blocks)))


def _phase_min_need(c: _Comp, prefetch: int) -> int:
    """Least device memory a component needs while its phase runs."""
    if c.streamable:
        return _window([b for _, b in c.groups], c.size.other_bytes, prefetch)
    return c.size.bytes


def make_plan(profile: MemoryProfile, components: Mapping[str, Any], width: int, height: int,
              seconds: float | None = None, vram_gb: float | None = None, ram_gb: float | None = None,
              gpu_memory_preservation_gb: float = 6.0, *, frames: int | None = None, reserve_gb: float = 1.0,
              pinned_cap_gb: float | None = None, window: int | None = None, blocks_per_group: int = 1,
              prefetch: int = 1, fp8: tuple[str, ...] = (), options: Mapping[str, Any] | None = None,
              label: str = "", notes: tuple[str, ...] = (), configs_dir: Any = None,
              use_fallbacks: bool = True) -> MemoryPlan:
    """Plan one job of a family described by `profile`.

    `components`: see `component_sizes`. `vram_gb=None` probes CUDA (or plans a host-only run
    without CUDA); `ram_gb=None` probes available RAM. Give the length as `seconds` or `frames`.
    `fp8` names components stored in fp8 (layerwise casting); `options` are the family's memory
    options (passed to its shape and activation functions). When the plan does not fit, the
    profile's `fallbacks` (memory options the caller did not set) are tried in order; the first
    plan that fits (or else the one with the lowest device peak) is returned, noting the choice."""
    if use_fallbacks and profile.fallbacks:
        args = dict(components=components, width=width, height=height, seconds=seconds, vram_gb=vram_gb,
                    ram_gb=ram_gb, gpu_memory_preservation_gb=gpu_memory_preservation_gb, frames=frames,
                    reserve_gb=reserve_gb, pinned_cap_gb=pinned_cap_gb, window=window,
                    blocks_per_group=blocks_per_group, prefetch=prefetch, fp8=fp8, label=label, notes=notes,
                    configs_dir=configs_dir, use_fallbacks=False)
        plan = make_plan(profile, options=options, **args)
        for extra in profile.fallbacks:
            if plan.fits or any(k in (options or {}) for k in extra):
                break
            candidate = make_plan(profile, options={**(options or {}), **extra}, **args)
            if candidate.fits or candidate.peak_vram_bytes < plan.peak_vram_bytes:
                candidate.notes.append(f"memory option {extra} chosen: without it the job does not fit")
                plan = candidate
        return plan
    notes_out = list(notes)
    width, height = int(width) // 16 * 16, int(height) // 16 * 16
    if width < 16 or height < 16 or (frames is None and (seconds is None or seconds <= 0)) or \
            (frames is not None and frames < 1):
        raise InputError("size", f"{width}x{height}, {seconds} s / {frames} frames cannot be planned",
                         "use at least 16x16 pixels and a positive length")
    shape = profile.shape(width=width, height=height, seconds=seconds, frames=frames, window=window,
                          options=dict(options or {}))
    if seconds is None:
        seconds = (shape.frames - 1) / profile.fps

    device = probe_device(vram_gb)
    host = probe_host(ram_gb)
    reserve = to_bytes(reserve_gb) if device.kind != "cpu" else 0
    preservation = to_bytes(gpu_memory_preservation_gb)
    pinned_cap = to_bytes(pinned_cap_gb) if pinned_cap_gb is not None else default_pinned_cap(host.total_bytes)
    if device.kind == "cpu":
        prefetch = 0

    # On a CPU run the weights are loaded in float32 (studio/tasks does; memory.precision says why).
    sizes = component_sizes(components, "float32" if device.kind == "cpu" else None, configs_dir)
    for name in fp8:
        if name in sizes and sizes[name].config and not isinstance(components.get(name), nn.Module):
            from memory.precision import fp8_component_size

            sizes[name] = fp8_component_size(sizes[name])
            notes_out.append(f"{name}: weights stored in fp8, computed in {sizes[name].dtype.split('+')[0]}")
    phase_map = profile.phase_map(set(sizes))
    if not any(phase_map.values()):
        phase_map = {name: (name,) for name in sizes}
    comps: dict[str, _Comp] = {}
    for name, size in sizes.items():
        phases = tuple(p for p, names in phase_map.items() if name in names)
        # Components that keep their layers below a wrapper (no top-level ModuleList): loaded whole.
        comps[name] = _Comp(size, phases, streamable=bool(size.block_lists))

    # --- activations per phase (components of a phase run one after another: max)
    def phase_activation(phase: str, tile: int | None) -> act.ActivationEstimate:
        best = act.ActivationEstimate(f"{phase}: nothing", 0)
        for name in phase_map.get(phase, ()):
            size = sizes[name]
            if size.bytes == 0 and not size.config:
                continue
            estimate = profile.activations.get(size.cls)
            s = itemsize(dtype_of(size.dtype))
            est = (estimate(size, shape, phase, tile, s) if estimate is not None
                   else act.generic_activation(size.bytes, f"{name} ({size.cls})"))
            if est.bytes > best.bytes:
                best = est
        return best

    tiling = profile.vae_tiling
    decode_names = phase_map.get(tiling.phase, ()) if tiling else ()
    tiled = tiling is not None and tiling.component in decode_names
    tiles: tuple[int | None, ...] = tiling.tiles_px if tiled else (None,)
    hot = [n for n in phase_map.get(profile.hot_phase, ()) if sizes[n].bytes > 0]
    hot_name = hot[0] if hot else None

    def make(**kw: Any) -> MemoryPlan:
        tile = kw.pop("tile")
        plan = MemoryPlan(preset=label, family=profile.name, width=width, height=height, seconds=float(seconds),
                          device=device.kind, ram_bytes=host.available_bytes, pinned_cap_bytes=pinned_cap,
                          sections=shape.sections, frames=shape.frames,
                          vae_tiling=tiling.settings(tile) if (tiled and tile) else None,
                          vae_tiling_component=tiling.component if tiled else None,
                          options=dict(shape.options), notes=notes_out, **kw)
        _explain(plan, hot_name, profile)
        return plan

    host_terms = {"process": PROCESS_BASE_BYTES + (CUDA_HOST_BYTES if device.kind != "cpu" else 0),
                  **profile.host_terms(shape, sizes)}
    ram_data = sum(host_terms.values())

    if device.kind == "cpu":
        # No CUDA and no --vram: the model runs on the host; every weight is read every step.
        cplans = {name: ComponentPlan(name=name, cls=c.size.cls, dtype=c.size.dtype, params=c.size.params,
                                      bytes=c.size.bytes, phases=c.phases,
                                      placement="host" if c.size.bytes else "none", blocks=len(c.groups),
                                      host="ram", host_ram_bytes=c.size.bytes, file_bytes=c.size.file_bytes,
                                      source=c.size.source)
                  for name, c in comps.items()}
        weights = sum(cp.bytes for cp in cplans.values())
        tile = tiles[0]
        activations = {p: phase_activation(p, tile) for p in phase_map}
        phases = {p: PhasePlan(p, names, 0, 0, 0, ram_data + weights + activations[p].bytes)
                  for p, names in phase_map.items()}
        notes_out.append("no CUDA device and no --vram: planned as a CPU run (float32 weights and activations in RAM)")
        return make(vram_bytes=0, preservation_bytes=0, reserve_bytes=0, components=cplans, phases=phases,
                    activations=activations, host_terms=host_terms, peak_vram_bytes=0,
                    peak_ram_bytes=max((pp.host_bytes for pp in phases.values()), default=ram_data + weights),
                    tile=tile)

    # --- device planning
    V = device.free_bytes

    def need(phase: str, tile: int | None, whole: set[str], exclude: str | None = None) -> int:
        """Device bytes a phase needs besides the hot component's resident blocks."""
        total = 0
        for name in phase_map.get(phase, ()):
            if name == exclude:
                continue
            c = comps[name]
            total += c.size.bytes if (name in whole or not c.streamable) else _phase_min_need(c, prefetch)
        return total + phase_activation(phase, tile).bytes + reserve

    all_bytes = sum(s.bytes for s in sizes.values())
    max_act = max((phase_activation(p, tiles[0]).bytes for p in phase_map), default=0)

    placement: dict[str, str] = {}
    resident_blocks = 0
    tile = tiles[0]
    resident_total = 0
    if all_bytes + max_act + reserve <= V:
        placement = {n: "resident" for n in comps}
        notes_out.append("everything fits: all components resident (no streaming)")
    else:
        hot_bytes = sizes[hot_name].bytes if hot_name else 0

        def hot_fits_whole(t: int | None) -> bool:
            return all(hot_bytes + need(p, t, set(), exclude=hot_name) <= V for p in phase_map)

        if hot_name and hot_fits_whole(tiles[-1]):
            placement[hot_name] = "resident"
            tile = next(t for t in tiles if hot_fits_whole(t))
            resident_total = hot_bytes
        elif hot_name and comps[hot_name].streamable:
            placement[hot_name] = "streamed"
            # VAE tile: the largest one whose decode phase needs no more than the other phases
            # (so it costs no resident blocks); the smallest one if none does.
            decode = tiling.phase if tiled else None
            others = max([preservation] + [need(p, None, set()) for p in phase_map if p != decode])
            tile = next((t for t in tiles if decode is None or need(decode, t, set()) <= others), tiles[-1])
            keep_free = max([preservation] + [need(p, tile, set()) for p in phase_map])
            budget = V - keep_free
            used = 0
            for _, b in comps[hot_name].groups:
                if used + b > budget:
                    break
                used += b
                resident_blocks += 1
            resident_blocks -= resident_blocks % blocks_per_group
            resident_total = sum(b for _, b in comps[hot_name].groups[:resident_blocks])
            if resident_blocks == len(comps[hot_name].groups) and hot_fits_whole(tile):
                placement[hot_name] = "resident"
                resident_total = hot_bytes
        elif hot_name:
            placement[hot_name] = "phase"
        # Once-used components: loaded whole when that still fits next to what is resident, else
        # streamed block by block (if they have blocks). Smallest first, so the big ones (a 10 GB
        # text encoder) are the ones streamed and the small ones beside them stay whole.
        whole: set[str] = set()
        for name, c in sorted(comps.items(), key=lambda item: item[1].size.bytes):
            if name in placement:
                continue
            if c.size.bytes == 0:
                placement[name] = "none"
            elif not c.streamable:
                placement[name] = "phase"
            elif all(resident_total + need(p, tile, whole | {name}) <= V for p in c.phases):
                placement[name] = "phase"
                whole.add(name)
            else:
                placement[name] = "streamed"

    # --- component plans (device side)
    cplans: dict[str, ComponentPlan] = {}
    for name, c in comps.items():
        s = c.size
        blocks = [b for _, b in c.groups]
        where = placement.get(name, "none" if s.bytes == 0 else "phase")
        cp = ComponentPlan(name=name, cls=s.cls, dtype=s.dtype, params=s.params, bytes=s.bytes, phases=c.phases,
                           placement=where, blocks=len(blocks), blocks_per_group=blocks_per_group,
                           file_bytes=s.file_bytes, source=s.source)
        if where == "resident":
            cp.resident_bytes, cp.blocks_resident = s.bytes, len(blocks)
        elif where == "streamed":
            nres = resident_blocks if name == hot_name else 0
            cp.blocks_resident, cp.prefetch = nres, prefetch
            cp.resident_bytes = sum(blocks[:nres])
            cp.phase_bytes = _window(blocks[nres:], s.other_bytes, prefetch)
        elif where == "phase":
            cp.phase_bytes = s.bytes
        cplans[name] = cp

    activations = {p: phase_activation(p, tile) for p in phase_map}
    resident_total = sum(cp.resident_bytes for cp in cplans.values())
    phase_plans: dict[str, PhasePlan] = {}
    for p, names in phase_map.items():
        weights = resident_total + sum(cplans[n].phase_bytes for n in names)
        phase_plans[p] = PhasePlan(p, names, weights, activations[p].bytes, reserve, 0)

    # --- host side
    _plan_host(cplans, comps, phase_plans, phase_map, host.available_bytes, pinned_cap, ram_data, hot_name,
               profile.hot_phase, prefetch)

    return make(vram_bytes=V, preservation_bytes=preservation, reserve_bytes=reserve, components=cplans,
                phases=phase_plans, activations=activations, host_terms=host_terms,
                peak_vram_bytes=max((pp.device_bytes for pp in phase_plans.values()), default=reserve),
                peak_ram_bytes=max((pp.host_bytes for pp in phase_plans.values()), default=ram_data), tile=tile)


def _plan_host(cplans: dict[str, ComponentPlan], comps: dict[str, _Comp], phases: dict[str, PhasePlan],
               phase_map: dict[str, tuple[str, ...]], ram_cap: int, pinned_cap: int, ram_data: int,
               hot_name: str | None, hot_phase: str, prefetch: int) -> None:
    """Decide what stays in RAM, what is re-read from disk, and fill each phase's host peak.

    Weights are memory-mapped (safetensors), so a component costs host RAM only while its bytes are
    being read (its phase) or when we choose to keep it (hot components: read every step). Phases
    that run before the hot phase starts (encoding) are over before the hot component is first
    read, so what the plan keeps of it in RAM does not count against them: the hot component gets
    all the RAM the phases that run alongside it leave."""
    for cp in cplans.values():
        cp.host = "disk"

    def working_set(cp: ComponentPlan) -> int:
        """What a disk-backed component has in RAM while its phase runs (what moves to the device)."""
        if cp.placement == "streamed":
            c = comps[cp.name]
            blocks = [b for _, b in c.groups][cp.blocks_resident:]
            return _window(blocks, c.size.other_bytes, prefetch) + (max(blocks) if blocks else 0)  # + pin staging
        if cp.placement == "phase":
            return cp.bytes
        return 0

    order = list(phase_map)
    first_hot = order.index(hot_phase) if hot_phase in order else len(order)
    alongside = [p for i, p in enumerate(order) if i >= first_hot]  # phases while the hot one is kept

    # Repeatedly used, not resident: the VAE (every section) and the hot component (every step).
    repeated = [n for n, cp in cplans.items() if cp.placement in ("phase", "streamed")
                and (n == hot_name or len(cp.phases) > 1)]
    fixed = ram_data
    # Keep small repeated components fully in RAM first (cheap, re-used every section).
    for name in sorted(repeated, key=lambda n: cplans[n].bytes):
        if name == hot_name:
            continue
        cp = cplans[name]
        cp.host, cp.host_ram_bytes = "ram", cp.bytes
        fixed += cp.bytes
    hot_kept = 0
    if hot_name and cplans[hot_name].placement == "streamed":
        cp = cplans[hot_name]
        streamed = cp.bytes - cp.resident_bytes
        other_ws = max((sum(working_set(cplans[n]) for n in phase_map[p] if cplans[n].host == "disk")
                        for p in alongside if p != hot_phase), default=0)
        room = ram_cap - HOST_SLACK_BYTES - fixed - other_ws
        # All of it when it fits (its blocks then move from RAM, no staging); otherwise all but the
        # room the part read from disk needs while it passes through RAM.
        keep = streamed if streamed <= room else max(0, room - working_set(cp))
        if keep >= streamed:
            cp.host, cp.host_ram_bytes = "ram", streamed
        else:
            cp.host, cp.host_ram_bytes = ("ram+disk" if keep > 0 else "disk"), keep
            cp.disk_read_per_pass = streamed - keep
        cp.pinned_bytes = min(cp.host_ram_bytes, pinned_cap)
        hot_kept = cp.host_ram_bytes
    elif hot_name and cplans[hot_name].placement == "phase":
        cp = cplans[hot_name]
        cp.host, cp.host_ram_bytes = "ram", cp.bytes
        hot_kept = cp.bytes
    kept = sum(cp.host_ram_bytes for cp in cplans.values()) - hot_kept
    for p, names in phase_map.items():
        ws = sum(working_set(cplans[n]) for n in names if cplans[n].host != "ram")
        phases[p].host_bytes = ram_data + kept + (hot_kept if p in alongside else 0) + ws


def _explain(plan: MemoryPlan, hot_name: str | None, profile: MemoryProfile) -> None:
    hot = plan.components.get(hot_name) if hot_name else None
    if profile.large_pixels and plan.width * plan.height > profile.large_pixels:
        plan.size_tips = list(profile.tips)
    if hot and hot.disk_read_per_pass:
        secs = hot.disk_read_per_pass / (2 * 10**9)
        plan.notes.append(f"{hot.name}: {gb(hot.disk_read_per_pass):.1f} GB re-read from disk every step "
                          f"(about {secs:.0f} s/step at 2 GB/s); more RAM (--ram) removes that")
    if not plan.fits_vram:
        worst = max(plan.phases.values(), key=lambda p: p.device_bytes)
        tips = []
        tips += plan.size_tips
        if hot and hot.placement == "streamed" and hot.blocks_resident:
            tips.append("raise gpu_memory_preservation to keep fewer blocks resident")
        if hot and hot.placement == "resident":
            tips.append("enable block streaming (lower the VRAM budget the plan assumes)")
        tips.append("close other programs using the GPU")
        plan.suggestion = (f"needs {gb(worst.device_bytes):.2f} GB in phase '{worst.name}' but "
                           f"{gb(plan.vram_bytes):.2f} GB are available: " + "; ".join(tips))
    elif not plan.fits_ram:
        weights = sum(cp.host_ram_bytes for cp in plan.components.values())
        if plan.device == "cpu" and weights > plan.ram_bytes // 2:
            tip = "run on a CUDA GPU (plan with --vram GB) so weights stream from disk instead of living in RAM"
        else:
            tip = "shorten the video (its frame buffer grows with length) or free RAM"
        plan.suggestion = (f"needs {gb(plan.peak_ram_bytes):.2f} GB of RAM but {gb(plan.ram_bytes):.2f} GB are "
                           f"available: {tip}")


# ------------------------------------------------------------------------------------------ display


def format_plan(plan: MemoryPlan) -> str:
    """A table for people (shown in the UI and by `python -m studio plan`)."""
    g = lambda n: f"{gb(n):6.2f}"  # noqa: E731
    dev = {"cuda": "CUDA", "virtual": "virtual device", "cpu": "CPU only"}[plan.device]
    lines = [
        f"Memory plan: {plan.preset} at {plan.width}x{plan.height}, {plan.seconds:g} s "
        f"({plan.sections} sections, {plan.frames} frames) on {dev}",
        f"  budget: VRAM {gb(plan.vram_bytes):.2f} GB (keep {gb(plan.preservation_bytes):.2f} GB free of resident "
        f"blocks, {gb(plan.reserve_bytes):.2f} GB working reserve), RAM {gb(plan.ram_bytes):.2f} GB, "
        f"pinned cap {gb(plan.pinned_cap_bytes):.2f} GB",
        "",
        f"  {'component':16} {'GB':>6} {'placement':10} {'blocks':>13} {'on device':>9} {'RAM':>6} host",
    ]
    for cp in plan.components.values():
        if cp.placement == "none":
            continue
        blocks = f"{cp.blocks_resident}/{cp.blocks} res" if cp.blocks else "-"
        if cp.placement == "streamed":
            blocks += f"+{cp.prefetch}pf"
        on_dev = cp.resident_bytes + cp.phase_bytes
        lines.append(f"  {cp.name:16} {g(cp.bytes)} {cp.placement:10} {blocks:>13} {g(on_dev):>9} "
                     f"{g(cp.host_ram_bytes)} {cp.host}")
    lines += ["", f"  {'phase':10} {'weights':>8} {'activ.':>7} {'reserve':>7} {'device':>7} {'host':>7}"]
    for p in plan.phases.values():
        # A CPU run keeps activations in host RAM: show them, the device column stays 0.
        activ = p.activation_bytes or (plan.activations[p.name].bytes if plan.device == "cpu" else 0)
        lines.append(f"  {p.name:10} {g(p.weights_bytes):>8} {g(activ):>7} {g(p.reserve_bytes):>7} "
                     f"{g(p.device_bytes):>7} {g(p.host_bytes):>7}")
    lines.append("")
    verdict = "fits" if plan.fits else "DOES NOT FIT"
    lines.append(f"  peak VRAM {plan.peak_vram_gb:.2f} GB, peak RAM {plan.peak_ram_gb:.2f} GB "
                 f"(pinned {gb(plan.pinned_bytes):.2f} GB): {verdict}")
    if plan.vae_tiling:
        lines.append(f"  VAE decode tiles {plan.vae_tiling['tile_sample_min_height']} px "
                     f"(stride {plan.vae_tiling['tile_sample_stride_height']})")
    for note in plan.notes:
        lines.append(f"  note: {note}")
    if plan.suggestion:
        lines.append(f"  suggestion: {plan.suggestion}")
    lines.append("  (GB = GiB; activations from the ledger in docs/memory.md)")
    return "\n".join(lines)
