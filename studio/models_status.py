"""Rows for the Models tab and `python -m studio models`: what each preset needs and has."""
from __future__ import annotations

from typing import Any

from studio.env import StudioEnv


def preset_rows(env: StudioEnv) -> list[dict[str, Any]]:
    rows = []
    for preset in env.presets.values():
        if preset.is_tiny:
            continue
        status = env.resolver.status(preset)
        wheres = sorted({c.where for c in status.components if c.where})
        rows.append({
            "preset": preset.id,
            "title": preset.title,
            "task": preset.task,
            "state": status.state if preset.components else "ready",
            "size_gb": preset.size_gb,
            "licence": preset.licence,
            "vram": preset.vram_note,
            "where": ", ".join(wheres) if wheres else ("built in" if not preset.components else None),
            "repos": ", ".join(preset.repos) or "(no weights)",
            "components": [
                {"name": c.spec.name, "repo": c.spec.repo, "subfolder": c.spec.subfolder, "state": c.state,
                 "size_gb": c.spec.size_gb, "where": c.where, "path": str(c.path) if c.path else None,
                 "missing": list(c.missing) if c.state != "ready" else []}
                for c in status.components
            ],
        })
    return rows
