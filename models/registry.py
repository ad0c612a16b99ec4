"""Model families by name (the `family` field of a preset): where each keeps its memory profile and
its loader. Entries are import paths, so looking a family up imports only that family."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


def resolve_path(path: str) -> Any:
    """"package.module:attr" -> the object (imported on first use)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Family:
    name: str
    profile_path: str   # "module:attr" of its memory.profile.MemoryProfile
    loader_path: str    # "module:attr" of load_components(paths, dtypes) -> {name: component}

    @property
    def profile(self) -> Any:
        return resolve_path(self.profile_path)

    @property
    def load_components(self) -> Callable[[dict, dict], dict[str, Any]]:
        return resolve_path(self.loader_path)


FAMILIES: dict[str, Family] = {
    "framepack": Family("framepack", "models.framepack.memory:PROFILE", "models.framepack.loading:load_components"),
    "ldf_vfi": Family("ldf_vfi", "models.ldf_vfi.memory:PROFILE", "models.ldf_vfi.loading:load_components"),
    "wan": Family("wan", "models.wan.profile:PROFILE", "models.wan.loading:load_components"),
    "flashi2v": Family("flashi2v", "models.flashi2v.memory:PROFILE", "models.flashi2v.loading:load_components"),
    "frameino": Family("frameino", "models.frameino.memory:PROFILE", "models.frameino.loading:load_components"),
    "rife": Family("rife", "models.rife.memory:PROFILE", "models.rife.loading:load_components"),
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise KeyError(f"no model family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]
