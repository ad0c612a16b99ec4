"""Shared tiny-FramePack fixtures for tests/test_framepack_*.py.

The tiny kit is built and loaded once per test process (a module-level cache, because a fixture
imported into several test modules would otherwise be instantiated once per module). Tiny weights
produce noise: tests check shapes, counts, conditioning and parity, never looks.
"""
from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import ROOT

PRESETS = {"inverted": "framepack.toml", "f1": "framepack-f1.toml"}


def preset(variant: str) -> dict[str, Any]:
    with open(ROOT / "presets" / PRESETS[variant], "rb") as fh:
        return tomllib.load(fh)


@functools.lru_cache(maxsize=None)
def _kit(root: Path, variant: str) -> dict[str, Any]:
    from models.framepack.loading import load_components
    from models.framepack.tiny import build_tiny_repos, tiny_component_paths

    spec = preset(variant)
    build_tiny_repos(root, spec, seed=0)
    return load_components(tiny_component_paths(root, spec), {name: None for name in spec["components"]})




def _root(factory: pytest.TempPathFactory) -> Path:
    return factory.getbasetemp() / "framepack_tiny_kit"


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _root(tmp_path_factory)
    _kit(root, "inverted")
    _kit(root, "f1")
    return root


@pytest.fixture(scope="session")
def components(tiny_root: Path) -> dict[str, dict[str, Any]]:
    """variant -> loaded tiny components (shared; the pipeline never mutates them)."""
    return {variant: _kit(tiny_root, variant) for variant in PRESETS}


def placement(components: dict[str, Any]) -> Any:
    from memory import Placement

    return Placement(device=torch.device("cpu"), components=components)


def image(seed: int = 0, height: int = 64, width: int = 64) -> np.ndarray:
    """A smooth gradient with some texture (any content works; the weights are random)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
