"""Where model components live while a job runs.

`memory/` is the single owner of device placement: model code asks a `Placement` for a component
for one phase ("encode text", "denoise", "decode") and never calls `.to(device)` itself.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn


@dataclass
class Placement:
    """Moves named components onto `device` for a phase and back to host afterwards.

    `resident` components stay on the device for the whole job; every other component is on the
    device only inside `phase(...)` (FramePack's "load only for its phase"). Policies that stream
    blocks are attached by `memory.executor` and keep this same interface.
    """

    device: torch.device
    components: dict[str, nn.Module]
    resident: set[str] = field(default_factory=set)
    offload_device: torch.device = torch.device("cpu")
    # Components whose movement is handled by hooks (streamed): phase() leaves them alone.
    managed_by_hooks: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for name in self.resident:
            self._move(name, self.device)

    def get(self, name: str) -> nn.Module:
        return self.components[name]

    def _move(self, name: str, device: torch.device) -> None:
        if name in self.managed_by_hooks:
            return
        module = self.components.get(name)
        if module is not None:
            module.to(device)

    @contextlib.contextmanager
    def phase(self, *names: str) -> Iterator[None]:
        """Components `names` are usable on `self.device` inside the block."""
        moved = [n for n in names if n not in self.resident and n in self.components]
        try:
            for name in moved:
                self._move(name, self.device)
            yield
        finally:
            for name in moved:
                self._move(name, self.offload_device)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
