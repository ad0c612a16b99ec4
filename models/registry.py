"""Model families by name (the `family` field of a preset): where each keeps its memory profile and
its loader. Entries are import paths, so looking a family up imports only that family."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


def _resolve(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Family:
    name: str
    profile_path: str   # "module:attr" of its memory.profile.MemoryProfile
    loader_path: str    # "module:attr" of load_components(paths, dtypes) -> {name: component}

    @property
    def profile(self) -> Any:
        return _resolve(self.profile_path)

    @property
    def load_components(self) -> Callable[[dict, dict], dict[str, Any]]:
        return _resolve(self.loader_path)


FAMILIES: dict[str, Family] = {
    "framepack": Family("framepack", "models.framepack.memory:PROFILE", "models.framepack.loading:load_components"),
    "ldf_vfi": Family("ldf_vfi", "models.ldf_vfi.memory:PROFILE", "models.ldf_vfi.loading:load_components"),
    "wan": Family("wan", "models.wan.profile:PROFILE", "models.wan.loading:load_components"),
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise KeyError(f"no model family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]
