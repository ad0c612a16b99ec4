"""The one reader of `presets/*.toml` (data only; studio/presets.py turns them into Preset objects).

A tiny preset (`tiny_of = "parent"`) inherits its parent's tables; its own `defaults` override the
parent's key by key, and it keeps its own `id`, `tiny_of` and `builder`.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


def read_presets(directory: Path = PRESETS_DIR) -> dict[str, dict[str, Any]]:
    """{preset id: merged table} for every TOML file in `directory`."""
    raw = {p.stem: tomllib.loads(p.read_text()) for p in sorted(Path(directory).glob("*.toml"))}
    merged: dict[str, dict[str, Any]] = {}
    for stem, data in raw.items():
        parent = raw.get(data["tiny_of"], {}) if "tiny_of" in data else {}
        table = {**parent, **{k: v for k, v in data.items() if k != "defaults"}}
        table["defaults"] = {**parent.get("defaults", {}), **data.get("defaults", {})}
        table["id"] = data.get("id", stem)
        if parent:
            table.pop("tiny", None)  # a twin has no twin of its own
        merged[stem] = table
    return merged
