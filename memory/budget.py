"""How much memory this job may use: free device memory and host RAM.

Importing this module touches no CUDA API; `torch.cuda` is only asked when a caller probes and did
not give a number. On a machine without CUDA the device budget is whatever the caller sets (that is
how every policy is tested on CPU: by counting bytes against a virtual budget).

Units: "GB" in this package means GiB (2**30 bytes), the unit `torch.cuda.mem_get_info`,
nvidia-smi and FramePack's `get_cuda_free_memory_gb` use. A "6 GB" card has 6 GiB.
"""
from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


def gb(nbytes: float) -> float:
    """Bytes -> GiB (for display and the `_gb` fields of a plan)."""
    return nbytes / GIB


def to_bytes(gigabytes: float) -> int:
    return int(round(gigabytes * GIB))


@dataclass(frozen=True)
class DeviceMemory:
    """Device memory this process may use. `kind` is "cuda", "virtual" (a number the caller set)
    or "cpu" (no accelerator and no number: the model runs on the host)."""

    kind: str
    free_bytes: int
    total_bytes: int
    source: str


@dataclass(frozen=True)
class HostMemory:
    available_bytes: int
    total_bytes: int
    source: str


def cuda_available() -> bool:
    # Imported here, not at module level, so importing `memory` never initialises anything.
    import torch

    return torch.cuda.is_available()


def probe_device(vram_gb: float | None = None, index: int = 0) -> DeviceMemory:
    """`vram_gb` wins when given (a virtual budget, also on CUDA machines: "plan as if 6 GB")."""
    if vram_gb is not None:
        if vram_gb <= 0:
            raise ValueError("vram_gb must be > 0")
        kind = "cuda" if cuda_available() else "virtual"
        return DeviceMemory(kind, to_bytes(vram_gb), to_bytes(vram_gb), "set by caller")
    if cuda_available():
        import torch

        free, total = torch.cuda.mem_get_info(index)
        return DeviceMemory("cuda", int(free), int(total), f"torch.cuda.mem_get_info({index})")
    return DeviceMemory("cpu", 0, 0, "no CUDA device and no --vram given")


def probe_host(ram_gb: float | None = None) -> HostMemory:
    """`ram_gb` is a cap the caller chooses (e.g. 16 on a 64 GB box shared with other work)."""
    import psutil

    vm = psutil.virtual_memory()
    if ram_gb is not None:
        if ram_gb <= 0:
            raise ValueError("ram_gb must be > 0")
        return HostMemory(to_bytes(ram_gb), to_bytes(ram_gb), "set by caller")
    return HostMemory(int(vm.available), int(vm.total), "psutil.virtual_memory()")


def default_pinned_cap(host_total_bytes: int) -> int:
    """mmgp's rule: pin at most about half of RAM; pinning everything crashes 32 GB machines
    because pinned pages can neither be swapped nor reclaimed."""
    return host_total_bytes // 2
