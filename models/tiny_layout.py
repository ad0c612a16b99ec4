"""Where a tiny kit puts each component: the real repo layout under a local root.

`root/<owner>/<repo>/<subfolder>`, the same layout `--models-dir` uses, so tiny weights are found
by the normal resolver and read by the normal loader.
"""
from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path
from typing import Any, Callable

import torch


def component_dir(root: Path, spec: dict[str, Any]) -> Path:
    """Folder of one component (the subfolder may be empty: files at the repo root)."""
    folder = Path(root) / spec["repo"]
    return folder / spec["subfolder"] if spec.get("subfolder") else folder


def tiny_component_paths(root: Path, preset: dict[str, Any]) -> dict[str, Path]:
    """The `paths` argument of a family's `load_components` for a kit built under `root`."""
    return {name: component_dir(root, spec) for name, spec in preset["components"].items()}


MARKER = ".frame-studio-tiny.json"


def component_seed(seed: int, spec: dict[str, Any]) -> int:
    """A per-component seed: components of one kit differ, and the same kit is byte-identical."""
    key = f"{spec['repo']}/{spec.get('subfolder', '')}/{spec.get('class', '')}".encode()
    return (int(seed) * 1_000_003 + zlib.crc32(key)) % (2**62)


def seeded_module(seed: int, make: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """Build a module from a fixed seed without touching the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make().eval()


def write_folder_once(target: Path, marker: dict[str, Any], write: Callable[[Path], None]) -> None:
    """Fill `target` with `write(tmp)` unless it already carries the same marker.

    The folder is written under a temp name and renamed, so a killed build never leaves a folder
    that looks complete; a marker from another kit version or seed triggers a rebuild.
    """
    marker_path = target / MARKER
    try:
        if json.loads(marker_path.read_text()) == marker:
            return
    except (OSError, ValueError):
        pass  # absent or unreadable marker: (re)build
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        (tmp / MARKER).write_text(json.dumps(marker, sort_keys=True))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
