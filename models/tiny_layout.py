"""Where a tiny kit puts each component: the real repo layout under a local root.

`root/<owner>/<repo>/<subfolder>`, the same layout `--models-dir` uses, so tiny weights are found
by the normal resolver and read by the normal loader.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def component_dir(root: Path, spec: dict[str, Any]) -> Path:
    """Folder of one component (the subfolder may be empty: files at the repo root)."""
    folder = Path(root) / spec["repo"]
    return folder / spec["subfolder"] if spec.get("subfolder") else folder


def tiny_component_paths(root: Path, preset: dict[str, Any]) -> dict[str, Path]:
    """The `paths` argument of a family's `load_components` for a kit built under `root`."""
    return {name: component_dir(root, spec) for name, spec in preset["components"].items()}
