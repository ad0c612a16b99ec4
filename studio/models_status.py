"""Rows for the Models tab and `python -m studio models`: what each preset needs and has.

Under --tiny each preset's tiny twin follows it: random weights built on this machine on first use,
listed with the folder they live in.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.env import StudioEnv
from studio.presets import Preset, PresetStatus

TINY_REPOS = "random weights, built here on first use (nothing to download)"
NOT_BUILT = "not built"


def preset_rows(env: StudioEnv) -> list[dict[str, Any]]:
    twins = {p.tiny_of: p for p in env.presets.values() if p.is_tiny} if env.tiny else {}
    rows = []
    for preset in env.presets.values():
        if preset.is_tiny:
            continue
        rows.append(_row(env, preset))
        if preset.id in twins:
            rows.append(_tiny_row(env, twins[preset.id]))
    return rows


def _components(status: PresetStatus) -> list[dict[str, Any]]:
    return [
        {"name": c.spec.name, "repo": c.spec.repo, "subfolder": c.spec.subfolder, "state": c.state,
         "size_gb": c.spec.size_gb, "where": c.where, "path": str(c.path) if c.path else None,
         "missing": list(c.missing) if c.state != "ready" else []}
        for c in status.components
    ]


def _row(env: StudioEnv, preset: Preset) -> dict[str, Any]:
    status = env.resolver.status(preset)
    wheres = sorted({c.where for c in status.components if c.where})
    return {
        "preset": preset.id,
        "title": preset.title,
        "task": preset.task,
        "state": status.state if preset.components else "ready",
        "size_gb": preset.size_gb,
        "licence": preset.licence,
        "vram": preset.vram_note,
        "where": ", ".join(wheres) if wheres else ("built in" if not preset.components else None),
        "repos": ", ".join(preset.repos) or "(no weights)",
        "tiny_of": None,
        "components": _components(status),
    }


def _tiny_row(env: StudioEnv, twin: Preset) -> dict[str, Any]:
    """A tiny twin: its own folder and size on disk (its components are its parent's names)."""
    folder = env.resolver.tiny_dir / twin.id
    status = env.resolver.status(twin)
    return {
        "preset": twin.id,
        "title": twin.title,
        "task": twin.task,
        "state": "ready" if status.state == "ready" else NOT_BUILT,
        "size_gb": round(_bytes_under(folder) / 2**30, 3),
        "licence": "n/a (random weights)",
        "vram": "tiny",
        "where": str(folder),
        "repos": TINY_REPOS,
        "tiny_of": twin.tiny_of,
        "components": [{**c, "size_gb": None, "missing": []} for c in _components(status)],  # sizes: the parent's
    }


def _bytes_under(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
