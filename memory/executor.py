"""Apply a MemoryPlan to loaded components: resident, per-phase, or streamed block by block.

Streaming is diffusers' block-level group offloading (`apply_group_offloading`, one group per
`blocks_per_group` blocks, `use_stream=True` + `record_stream=True` only on CUDA). Three things are
added around it, each because diffusers does not do it:
- resident blocks: the first N blocks stay on the device (mmgp keeps spare blocks resident); their
  group hooks are removed after the first onload, so they are never moved again;
- pinned memory capped: with a stream diffusers pins the *whole* model (25.7 GB for FramePack, more
  than half of a 32 GB machine) unless `low_cpu_mem_usage`, which pins on the fly at every onload.
  We ask for the latter and pre-pin only the first groups up to the plan's pinned bytes;
- counting: a `DeviceByteCounter` sees every onload/prefetch/offload of every group and phase move,
  so on a CPU-only machine the plan's device budget is enforced and tested by counting bytes. On
  a non-CUDA device diffusers never prefetches; with a counter we wire its prefetch chain the way
  its lazy-prefetch hook does on CUDA, so the order of loads and prefetches is the CUDA order.

Weights loaded with `low_cpu_mem_usage` from safetensors stay memory-mapped (file-backed pages the
kernel can drop), so streaming reads the checkpoint itself; `offload_dir` switches to diffusers'
disk offload (group files) for weights that are not file-backed. Disk groups onloaded to a CPU
device are copied out of the file mapping into aligned memory, and `release()` reads every disk
group back from its file (diffusers leaves uninitialised placeholders in the parameters).
"""
from __future__ import annotations

import contextlib
import glob
import os
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

from core.errors import DeviceOutOfMemory
from memory.placement import Placement
from memory.plan import ComponentPlan, MemoryPlan

_GROUP_HOOK = "group_offloading"
_TRACKER_HOOK = "layer_execution_tracker"
_LAZY_HOOK = "lazy_prefetch_group_offloading"
_CPU_ALIGNMENT = 64  # bytes: what torch's CPU allocator gives every tensor (c10 gAlignment)


# ------------------------------------------------------------------------------------------ counting


@dataclass(frozen=True)
class CounterEvent:
    kind: str  # "load" | "prefetch" | "resident" | "unload"
    key: str
    nbytes: int
    live: int  # bytes logically on the device after the event


class DeviceByteCounter:
    """Which parameter bytes are logically on the device; raises DeviceOutOfMemory past `budget`.

    Loads may name their tensors: a tensor shared by two groups (a tied embedding that a text
    encoder and its inner stack both own) is then counted once, as the device holds it once."""

    def __init__(self, budget_bytes: int | None = None) -> None:
        self.budget = budget_bytes
        self.live = 0
        self.peak = 0
        self.events: list[CounterEvent] = []
        self._on: dict[str, tuple[int, tuple[int, ...]]] = {}  # key -> (bytes it added, its tensor ids)
        self._refs: dict[int, list[int]] = {}  # tensor id -> [groups holding it, its bytes]
        self.active: object | None = None  # the group whose pre-forward is running (load vs prefetch)

    def is_on(self, key: str) -> bool:
        return key in self._on

    def load(self, key: str, nbytes: int, kind: str = "load", tensors: list[torch.Tensor] | None = None) -> bool:
        if key in self._on:
            return False
        ids: tuple[int, ...] = ()
        if tensors is not None:
            ids = tuple(id(t) for t in tensors)
            nbytes = sum(t.numel() * t.element_size() for t in tensors if id(t) not in self._refs)
        if self.budget is not None and self.live + nbytes > self.budget:
            raise DeviceOutOfMemory(
                f"virtual device budget exceeded: {kind} of {key} ({nbytes} bytes) with {self.live} bytes "
                f"on the device would exceed {self.budget} bytes")
        for tensor_id, t in zip(ids, tensors or ()):
            ref = self._refs.setdefault(tensor_id, [0, t.numel() * t.element_size()])
            ref[0] += 1
        self._on[key] = (nbytes, ids)
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        self.events.append(CounterEvent(kind, key, nbytes, self.live))
        return True

    def unload(self, key: str) -> bool:
        entry = self._on.pop(key, None)
        if entry is None:
            return False
        nbytes, ids = entry
        if ids:
            nbytes = 0
            for tensor_id in ids:
                ref = self._refs[tensor_id]
                ref[0] -= 1
                if ref[0] == 0:
                    nbytes += self._refs.pop(tensor_id)[1]
        self.live -= nbytes
        self.events.append(CounterEvent("unload", key, nbytes, self.live))
        return True

    def order(self, kinds: tuple[str, ...] = ("load", "prefetch", "unload")) -> list[tuple[str, str]]:
        return [(e.kind, e.key) for e in self.events if e.kind in kinds]

    def reset_events(self) -> None:
        self.events.clear()


def module_bytes(module: nn.Module) -> int:
    """Parameters and buffers: what `.to(device)` moves (memory.sizes counts the same)."""
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


# ------------------------------------------------------------------------------------------ placement


@dataclass
class PlannedPlacement(Placement):
    """Placement with the plan's streamed components hooked and every move counted."""

    counter: DeviceByteCounter | None = None
    plan: MemoryPlan | None = None
    groups: dict[str, list[tuple[str, object]]] = field(default_factory=dict)  # component -> [(key, group)]
    _host_params: dict[str, list[tuple[nn.Module, str, nn.Parameter, torch.Tensor]]] = field(
        default_factory=dict, repr=False)
    _depth: dict[str, int] = field(default_factory=dict, repr=False)  # nested phases of one component
    _disk_groups: dict[str, list[object]] = field(default_factory=dict, repr=False)  # component -> disk groups

    def _move(self, name: str, device: torch.device) -> None:
        """Phase moves keep the host tensors (memory-mapped after loading) and put them back on the
        way out instead of copying the weights back from the device: no device->host transfer, and
        no anonymous RAM copy of a component the plan says is read from disk. Weights are treated as
        read-only while placed (inference)."""
        module = self.components.get(name)
        if name in self.managed_by_hooks or not isinstance(module, nn.Module) or self.device == self.offload_device:
            return super()._move(name, device)
        entering = torch.device(device) == self.device
        if name not in self.resident:  # an inner phase of an already placed component moves nothing
            depth = self._depth.get(name, 0) + (1 if entering else -1)
            self._depth[name] = max(depth, 0)
            if (entering and depth > 1) or (not entering and depth > 0):
                return
        if entering and name not in self.resident:
            self._host_params[name] = [(sub, key, p, p.data) for sub in module.modules()
                                       for key, p in sub._parameters.items() if p is not None]
            module.to(device)
        elif name in self._host_params:
            self._restore(name, module)
        else:
            super()._move(name, device)

    def _restore(self, name: str, module: nn.Module) -> None:
        # `.to()` either swapped each parameter's data or made new Parameters: undo both.
        for sub, key, param, data in self._host_params.pop(name):
            param.data = data
            sub._parameters[key] = param
        for sub in module.modules():
            for key, buf in sub._buffers.items():
                if buf is not None:
                    sub._buffers[key] = buf.to(self.offload_device)

    def __post_init__(self) -> None:
        for name in self.resident:
            if self.counter is not None and name in self.components:
                self.counter.load(name, module_bytes(self.components[name]), "resident")
        super().__post_init__()

    @contextlib.contextmanager
    def phase(self, *names: str) -> Iterator[None]:
        moved = [n for n in names if n in self.components and n not in self.resident
                 and n not in self.managed_by_hooks and isinstance(self.components[n], nn.Module)]
        counted: list[str] = []
        try:
            if self.counter is not None:
                for name in moved:  # count first: a virtual OOM is raised before anything moves
                    if self.counter.load(name, module_bytes(self.components[name])):
                        counted.append(name)
            with super().phase(*names):
                yield
        finally:
            for name in counted:
                self.counter.unload(name)

    def release(self) -> None:
        """Back to the host, hooks removed: what an OOM handler frees before reporting."""
        from diffusers.hooks import HookRegistry

        for name, module in self.components.items():
            if not isinstance(module, nn.Module):
                continue
            if name in self.managed_by_hooks:
                HookRegistry.check_if_exists_or_initialize(module).remove_hook(_GROUP_HOOK, recurse=True)
            for group in self._disk_groups.pop(name, ()):
                _restore_from_disk(group, self.offload_device)
            if name in self._host_params:
                self._restore(name, module)
            module.to(self.offload_device)
        self._depth.clear()
        if self.counter is not None:
            for key in list(self.counter._on):
                self.counter.unload(key)
        self.managed_by_hooks = set()
        self.resident = set()


# ------------------------------------------------------------------------------------------ streaming


def choose_pinned(group_bytes: list[int], pinned_budget: int) -> list[bool]:
    """Pin whole groups in execution order while they fit the budget (mmgp: about half of RAM)."""
    out, used = [], 0
    for nbytes in group_bytes:
        ok = used + nbytes <= pinned_budget
        out.append(ok)
        used += nbytes if ok else 0
    return out


def _module_names(module: nn.Module) -> dict[int, str]:
    return {id(m): n for n, m in module.named_modules()}


def _collect_groups(module: nn.Module) -> list[tuple[str, object, list[object]]]:
    """(module name of the onload leader, group, hooks) in execution order: the top-level group
    ("" = non-block weights) first, then the blocks of each ModuleList in order."""
    names = _module_names(module)
    found: dict[int, tuple[str, object, list[object]]] = {}
    for name, sub in module.named_modules():
        registry = getattr(sub, "_diffusers_hook", None)
        hook = registry.get_hook(_GROUP_HOOK) if registry is not None else None
        if hook is None:
            continue
        group = hook.group
        if id(group) not in found:
            leader = group.onload_leader if group.onload_leader is not None else sub
            found[id(group)] = (names.get(id(leader), name), group, [])
        found[id(group)][2].append(hook)
    return list(found.values())


def _group_tensors(group: object) -> list[torch.Tensor]:
    tensors = {id(t): t for m in group.modules for t in [*m.parameters(), *m.buffers()]}
    tensors.update({id(t): t for t in [*group.parameters, *group.buffers]})
    return list(tensors.values())


def _group_bytes(group: object) -> int:
    return sum(t.numel() * t.element_size() for t in _group_tensors(group))


def _group_key(component: str, leader: str, group: object, names: dict[int, str]) -> str:
    if leader == "":
        return f"{component}.other"
    mods = [names[id(m)] for m in group.modules]
    if len(mods) > 1:
        return f"{component}.{mods[0]}-{mods[-1].rsplit('.', 1)[-1]}"
    return f"{component}.{mods[0]}"


def _align_cpu_onload(group: object) -> None:
    """A disk group onloaded to a CPU device holds views into the mmap'd safetensors file
    (`_onload_from_disk`: `load_file(..., device="cpu")`, then `tensor_obj.data = loaded_tensors[key]`).
    Tensors are packed back to back there, so a view is often only 4- or 8-byte aligned, while the
    same weights in torch's allocator are 64-byte aligned. MKL picks its sgemm loops by operand
    alignment on some code paths (SSE4.2/AVX), which changes the summation order: the output then
    differs in the last bits from the resident module. Misaligned views are copied to allocator
    memory, as a copy to a real device would be; the group's offload frees them again."""
    if getattr(group, "offload_to_disk_path", None) is None:
        return
    for tensor in group.key_to_tensor.values():
        if tensor.device.type == "cpu" and tensor.data_ptr() % _CPU_ALIGNMENT:
            tensor.data = tensor.data.clone()


def _restore_from_disk(group: object, device: torch.device) -> None:
    """Every tensor of a disk group read back from its file onto `device`, then the file removed.
    diffusers' `_offload_to_disk` replaces each tensor's data with `torch.empty_like(...)` (its
    values live only in the file), so with the hooks removed the module would keep uninitialised
    memory. The copies are owned (not views into the file), so the scratch folder can go."""
    import safetensors.torch

    loaded = safetensors.torch.load_file(group.safetensors_file_path, device="cpu")
    for key, tensor in group.key_to_tensor.items():
        tensor.data = loaded[key].to(device, copy=True)
    del loaded
    os.remove(group.safetensors_file_path)


def _instrument(group: object, hooks: list[object], key: str, nbytes: int, counter: DeviceByteCounter | None) -> None:
    on, off = group.onload_, group.offload_
    state = {"on": False}
    tensors = _group_tensors(group)

    def onload_() -> None:
        # On CPU a prefetched group looks "not loaded" to diffusers (same device) and is onloaded
        # again by its own pre-forward; once is enough.
        if state["on"]:
            return
        if counter is not None:
            counter.load(key, nbytes, "load" if counter.active is group else "prefetch", tensors=tensors)
        on()
        _align_cpu_onload(group)
        state["on"] = True

    def offload_() -> None:
        off()
        state["on"] = False
        if counter is not None:
            counter.unload(key)

    group.onload_, group.offload_ = onload_, offload_
    if counter is None:
        return
    for hook in hooks:
        ref = hook.fn_ref
        pre = ref.pre_forward

        def pre_forward(module, *args, _pre=pre, **kwargs):
            previous, counter.active = counter.active, group
            try:
                return _pre(module, *args, **kwargs)
            finally:
                counter.active = previous

        ref.pre_forward = pre_forward


def stream_component(module: nn.Module, name: str, cp: ComponentPlan, device: torch.device,
                     counter: DeviceByteCounter | None = None, offload_dir: str | None = None,
                     pinned_bytes: int = 0, disk_groups: list[object] | None = None) -> list[tuple[str, object]]:
    """Hook `module` for block streaming as `cp` says; returns [(key, group)] in execution order.
    With `offload_dir`, every group (resident ones too) is appended to `disk_groups`."""
    from diffusers.hooks import HookRegistry, apply_group_offloading

    cuda = device.type == "cuda"
    disk_path = os.path.join(offload_dir, name) if offload_dir else None
    if disk_path:  # diffusers reuses a group file that exists (`_offload_to_disk`): stale weights
        for stale in glob.glob(os.path.join(glob.escape(disk_path), "group_*.safetensors")):
            os.remove(stale)
    from memory.sizes import block_containers, list_paths

    containers = block_containers(module)
    apply_group_offloading(
        module, onload_device=device, offload_device=torch.device("cpu"), offload_type="block_level",
        num_blocks_per_group=max(1, cp.blocks_per_group), use_stream=cuda, record_stream=cuda,
        # With a stream, False would pin every parameter up front; we pin up to the cap below.
        low_cpu_mem_usage=True,
        offload_to_disk_path=disk_path,
        # Layers kept below wrappers (a text encoder's encoder.block) are reached through them.
        **({"block_modules": containers} if containers else {}),
    )
    names = _module_names(module)
    collected = _collect_groups(module)
    if disk_path and disk_groups is not None:
        disk_groups.extend(group for _, group, _ in collected)
    block_order = [f"{path}.{i}" for path in list_paths(module) for i in range(len(module.get_submodule(path)))]
    resident_names = set(block_order[:cp.blocks_resident])
    top_registry = HookRegistry.check_if_exists_or_initialize(module)
    lazy = top_registry.get_hook(_LAZY_HOOK)

    out: list[tuple[str, object]] = []
    streamed: list[tuple[str, object, list[object]]] = []
    for leader, group, hooks in collected:
        key = _group_key(name, leader, group, names)
        members = [names[id(m)] for m in group.modules]
        if leader != "" and members and all(m in resident_names for m in members):
            group.onload_()  # stays: its hooks go, so nothing ever offloads it again
            if group.stream is not None:
                group.stream.synchronize()
            _align_cpu_onload(group)
            for m in group.modules:
                registry = HookRegistry.check_if_exists_or_initialize(m)
                registry.remove_hook(_GROUP_HOOK, recurse=False)
                registry.remove_hook(_TRACKER_HOOK, recurse=False)
                if lazy is not None:
                    lazy._layer_execution_tracker_module_names.discard(names[id(m)])
            if counter is not None:
                counter.load(key, _group_bytes(group), "resident", tensors=_group_tensors(group))
            continue
        _instrument(group, hooks, key, _group_bytes(group), counter)
        streamed.append((leader, group, hooks))
        out.append((key, group))

    # Pinned host copies for the first streamed groups, up to the plan's pinned bytes (CUDA only:
    # pinning needs a driver). diffusers uses a pinned tensor found in cpu_param_dict as it is.
    if cuda and pinned_bytes > 0:
        block_groups = [g for leader, g, _ in streamed if leader != ""]  # the top group has no stream
        for group, pin in zip(block_groups, choose_pinned([_group_bytes(g) for g in block_groups], pinned_bytes)):
            if pin and group.cpu_param_dict:
                for tensor, cpu in list(group.cpu_param_dict.items()):
                    group.cpu_param_dict[tensor] = cpu.pin_memory()

    # Without a CUDA stream diffusers does not prefetch. When counting, wire the chain its lazy
    # prefetch hook builds on CUDA (top-level group -> block groups in order).
    if not cuda and cp.prefetch > 0 and counter is not None and len(streamed) > 1:
        for (_, _, hooks), (_, nxt, _) in zip(streamed, streamed[1:]):
            for hook in hooks:  # only the onload leader's hook acts on it
                hook.next_group = nxt
            nxt.onload_self = False
    return out


# ------------------------------------------------------------------------------------------ apply


def apply_plan(plan: MemoryPlan, components: dict[str, nn.Module], device: torch.device | str, *,
               counter: DeviceByteCounter | None = None, offload_dir: str | None = None) -> PlannedPlacement:
    """Components placed as `plan` says, behind the `Placement` interface models use:
    `placement.phase(*names)` around each phase, `placement.get(name)` for the module."""
    device = torch.device(device)
    resident: set[str] = set()
    hooked: set[str] = set()
    groups: dict[str, list[tuple[str, object]]] = {}
    disk_groups: dict[str, list[object]] = {}
    for name, module in components.items():
        cp = plan.components.get(name)
        if cp is None or not isinstance(module, nn.Module):
            continue
        if cp.placement == "resident":
            resident.add(name)
        elif cp.placement == "streamed":
            disk = offload_dir if (offload_dir and cp.host != "ram") else None
            groups[name] = stream_component(module, name, cp, device, counter, disk, cp.pinned_bytes,
                                            disk_groups.setdefault(name, []))
            hooked.add(name)
        if plan.vae_tiling and name == plan.vae_tiling_component:
            # Tile sizes the plan's decode estimate assumed; callers still switch tiling on per decode.
            use = module.use_tiling
            module.enable_tiling(**plan.vae_tiling)
            module.use_tiling = use
    return PlannedPlacement(device=device, components=components, resident=resident, managed_by_hooks=hooked,
                            counter=counter, plan=plan, groups=groups, _disk_groups=disk_groups)
