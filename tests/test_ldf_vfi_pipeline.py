"""Tiny LDF-VFI end to end: build the random-weight twin -> load it through loading.py -> interpolate.

Tiny weights produce noise frames; what is checked is the contract: the frame count
(n-1)*factor + 1, the exact originals at i*factor, determinism, lazy reading, stopping, progress,
and that devices are reached only through memory.Placement. Small 64 px VAE tiles keep it fast.
"""
from __future__ import annotations

import contextlib
import json
import tomllib
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from core.errors import InputError, JobStopped
from memory.placement import Placement

ROOT = Path(__file__).resolve().parents[1]
FAST = {"steps": 2, "tile_px": 64, "vae_batch": 4}  # 64 px tiles at a 48 px stride: 3x3 tokens per tile


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def preset() -> dict:
    return tomllib.loads((ROOT / "presets" / "ldf-vfi.toml").read_text())


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory, preset: dict) -> Path:
    from models.ldf_vfi.tiny import build_tiny_repos

    root = tmp_path_factory.mktemp("ldf_vfi_tiny")
    build_tiny_repos(root, preset, seed=0)
    return root


@pytest.fixture(scope="module")
def components(kit: Path, preset: dict) -> dict:
    from models.ldf_vfi.loading import load_components
    from models.ldf_vfi.tiny import tiny_component_paths

    return load_components(tiny_component_paths(kit, preset), {"transformer": "float32", "cond_vae": "float32"})


class StrictPlacement(Placement):
    """Records phases, and fails the test if anything moves a module outside `Placement._move`."""

    phases: list[tuple[str, ...]]

    def __post_init__(self) -> None:
        self.phases = []
        self._moving = False
        super().__post_init__()

    def _move(self, name: str, device: torch.device) -> None:
        self._moving = True
        try:
            super()._move(name, device)
        finally:
            self._moving = False

    @contextlib.contextmanager
    def phase(self, *names: str) -> Iterator[None]:
        self.phases.append(names)
        with super().phase(*names):
            yield


@pytest.fixture
def placement(components: dict, monkeypatch: pytest.MonkeyPatch) -> StrictPlacement:
    pl = StrictPlacement(torch.device("cpu"), dict(components))
    original = torch.nn.Module.to

    def guarded_to(module, *args, **kwargs):
        assert pl._moving, "a model was moved outside memory.Placement"
        return original(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", guarded_to)
    return pl


def _frames(n: int, height: int = 32, width: int = 40, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n)]


# ---------------------------------------------------------------------------------------------


def test_tiny_repo_layout_and_idempotent_build(kit: Path, preset: dict, tmp_path: Path) -> None:
    from models.ldf_vfi.loading import read_cond_vae_state
    from models.ldf_vfi.tiny import build_tiny_repos

    repo = kit / "onecat-ai" / "LDF-VFI"
    config = json.loads((repo / "transformer" / "config.json").read_text())
    assert config["_class_name"] == "WanTransformer3DModel" and config["in_channels"] == 36
    assert (repo / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    assert (repo / "Wan2.1_VAE_cond_v2.pth").is_file()

    weights = repo / "transformer" / "diffusion_pytorch_model.safetensors"
    stamps = weights.stat().st_mtime_ns, (repo / "Wan2.1_VAE_cond_v2.pth").stat().st_mtime_ns
    build_tiny_repos(kit, preset, seed=0)  # complete: nothing is rewritten
    assert (weights.stat().st_mtime_ns, (repo / "Wan2.1_VAE_cond_v2.pth").stat().st_mtime_ns) == stamps

    build_tiny_repos(tmp_path / "same", preset, seed=0)
    build_tiny_repos(tmp_path / "other", preset, seed=1)
    same = tmp_path / "same" / "onecat-ai" / "LDF-VFI"
    other = tmp_path / "other" / "onecat-ai" / "LDF-VFI"
    assert (same / "transformer" / weights.name).read_bytes() == weights.read_bytes()
    a, b, c = (read_cond_vae_state(r) for r in (repo, same, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_loader(kit: Path, preset: dict, components: dict, tmp_path: Path) -> None:
    from models.ldf_vfi.cond_vae import WanCondVAE
    from models.ldf_vfi.loading import load_components, load_cond_vae, load_transformer
    from models.ldf_vfi.tiny import tiny_component_paths
    from models.ldf_vfi.transformer import LDFVFITransformer3DModel

    assert isinstance(components["transformer"], LDFVFITransformer3DModel)
    assert isinstance(components["cond_vae"], WanCondVAE)
    paths = tiny_component_paths(kit, preset)
    assert paths["cond_vae"] == kit / "onecat-ai" / "LDF-VFI"
    typed = load_components(paths, {"transformer": "bfloat16", "cond_vae": None})
    assert typed["transformer"].proj_out.weight.dtype == torch.bfloat16
    assert typed["transformer"].condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32  # kept fp32
    assert typed["cond_vae"].wan.decoder.conv_in.weight.dtype == torch.float32
    assert typed["cond_vae"].latent_mean.device.type == "cpu"  # constants re-created after the meta build

    # The reference reads <download>/transformer with subfolder="transformer": accept that nesting too.
    nested = tmp_path / "transformer"
    (nested / "transformer").mkdir(parents=True)
    for f in paths["transformer"].iterdir():
        (nested / "transformer" / f.name).write_bytes(f.read_bytes())
    assert isinstance(load_transformer(nested), LDFVFITransformer3DModel)

    # A .pth that is not the conditional VAE is refused, not half-loaded.
    state = {k: v for k, v in components["cond_vae"].checkpoint_state_dict().items() if not k.startswith("zero_convs.")}
    torch.save(state, tmp_path / "Wan2.1_VAE_cond_v2.pth")
    with pytest.raises(ValueError, match="missing keys"):
        load_cond_vae(tmp_path)


def test_resolver_builds_and_finds_the_tiny_twin(tmp_path: Path) -> None:
    """The studio's resolver runs our builder for `ldf-vfi-tiny` and finds every required file."""
    from models.ldf_vfi.loading import load_components
    from studio.presets import Resolver

    paths = Resolver(tiny_dir=tmp_path).paths("ldf-vfi-tiny")
    assert paths["cond_vae"] == tmp_path / "ldf-vfi-tiny" / "onecat-ai" / "LDF-VFI"
    assert paths["transformer"] == paths["cond_vae"] / "transformer"
    loaded = load_components(paths, {"transformer": "float32", "cond_vae": "float32"})
    assert set(loaded) == {"transformer", "cond_vae"}


@pytest.mark.parametrize("n, factor, size", [(2, 2, (40, 56)), (3, 5, (56, 72)), (12, 4, (32, 40)),
                                             (6, 16, (32, 40))])
def test_frame_count_and_originals(placement: StrictPlacement, n: int, factor: int, size: tuple[int, int]) -> None:
    from models.ldf_vfi.pipeline import interpolate
    from models.ldf_vfi.schedule import chunk_schedule

    frames = _frames(n, *size)
    progress: list[tuple] = []
    out = list(interpolate(placement, frames, factor, on_progress=lambda *a: progress.append(a), **FAST))
    assert len(out) == (n - 1) * factor + 1
    assert all(f.shape == (*size, 3) and f.dtype == np.uint8 for f in out)
    for i, frame in enumerate(frames):
        assert out[i * factor] is frame  # the exact input frame, not a re-encoded copy
    assert all(not np.array_equal(out[1], f) for f in frames)  # generated (noise with tiny weights)
    chunks = chunk_schedule(n, factor)
    assert progress[-1][0] == progress[-1][1] == 2 * len(chunks)
    assert {p for p in placement.phases} == {("cond_vae",), ("transformer",)}
    assert placement.phases.count(("transformer",)) == len(chunks)


def test_seeded_and_deterministic(placement: StrictPlacement) -> None:
    from models.ldf_vfi.pipeline import interpolate

    frames = _frames(3)
    a = list(interpolate(placement, frames, 2, seed=7, **FAST))
    b = list(interpolate(placement, frames, 2, seed=7, **FAST))
    c = list(interpolate(placement, frames, 2, seed=8, **FAST))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert any(not np.array_equal(x, y) for x, y in zip(a, c))


def test_lazy_input_and_stop(placement: StrictPlacement) -> None:
    from models.ldf_vfi.pipeline import interpolate

    frames = _frames(30)
    read: list[int] = []

    def lazily() -> Iterator[np.ndarray]:
        for i, f in enumerate(frames):
            read.append(i)
            yield f

    stream = interpolate(placement, lazily(), 4, **FAST)  # 120 slots: 5 chunks
    first = next(stream)
    assert first is frames[0] and max(read) < 20  # the first window (60 slots) needs 15 frames, not 30
    stream.close()

    # Same frames from a list or an iterator: same output.
    eager = list(interpolate(placement, frames[:4], 3, **FAST))
    lazy = list(interpolate(placement, iter(frames[:4]), 3, **FAST))
    assert all(np.array_equal(x, y) for x, y in zip(eager, lazy)) and len(eager) == len(lazy) == 10

    # Stopping raises the one stop error after what was already produced, which the caller keeps.
    produced: list[np.ndarray] = []
    with pytest.raises(JobStopped) as stop:
        for frame in interpolate(placement, frames[:12], 4, should_stop=lambda: len(produced) >= 40, **FAST):
            produced.append(frame)
    assert len(produced) == 40  # the first chunk's 40 frames; 45 without the stop
    assert stop.value.done == 40 and stop.value.unit == "frames"


def test_validation(placement: StrictPlacement) -> None:
    from models.ldf_vfi.pipeline import interpolate

    for factor in (1, 17):
        with pytest.raises(InputError, match="factor"):
            interpolate(placement, _frames(3), factor)
    with pytest.raises(InputError, match="frames"):
        interpolate(placement, _frames(1), 2)
    with pytest.raises(InputError, match="one size"):
        list(interpolate(placement, _frames(2) + _frames(1, 48, 40), 2, **FAST))
    with pytest.raises(InputError):
        interpolate(placement, _frames(3), 2, window_frames=50)
