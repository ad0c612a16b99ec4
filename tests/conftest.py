"""Shared fixtures: synthetic videos, an isolated environment, and a live `python app.py --tiny`."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.video_io import write_mp4  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_hf(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's HF cache or reaches the hub; tiny weights are built once per run."""
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FRAME_STUDIO_TINY_DIR", str(tmp_path_factory.getbasetemp() / "tiny_weights"))


SHARED = ROOT.parent / "shared"


def require_shared(path: Path) -> Path:
    """`path` under ../shared/: CI always has it (a missing file fails there); a lone clone skips."""
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI runs with ../shared beside the repo")
        pytest.skip(f"{path} not present (clone without ../shared)")
    return path


@pytest.fixture
def one_thread():
    """One intra-op thread for tiny tensors: two spinning OpenMP threads on a shared 2-core machine
    can run 10x slower while another process holds a core, and kernel choices stay the same."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def moving_square_frames(n: int = 6, h: int = 48, w: int = 64, step: int = 3, seed: int = 0) -> list[np.ndarray]:
    """A textured square sliding right over a textured background (real motion to interpolate)."""
    rng = np.random.default_rng(seed)
    background = (rng.random((h, w, 3)) * 80 + 40).astype(np.uint8)
    patch = (rng.random((16, 16, 3)) * 120 + 120).astype(np.uint8)
    frames = []
    for i in range(n):
        frame = background.copy()
        x = 4 + i * step
        frame[16:32, x:x + 16] = patch
        frames.append(frame)
    return frames


@pytest.fixture
def square_video(tmp_path: Path) -> Path:
    return write_mp4(moving_square_frames(), tmp_path / "square.mp4", fps=10, crf=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path_factory: pytest.TempPathFactory, script: Path, *extra_args: str):
    """`python <script> --tiny [extra_args]` on a free loopback port; yields (url, outputs folder)."""
    port = free_port()
    outputs = tmp_path_factory.mktemp("server_outputs")
    env = {**os.environ, "HF_HOME": str(tmp_path_factory.mktemp("server_hf")), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False",
           "FRAME_STUDIO_TINY_DIR": str(tmp_path_factory.mktemp("server_tiny"))}
    log = open(outputs.parent / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(script), "--tiny", "--offline", "--port", str(port),
                             "--outputs", str(outputs), *extra_args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(outputs.parent / 'server.log').read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("server did not start in 120 s")
    time.sleep(1.0)
    try:
        yield url, outputs
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory):
    """`python app.py --tiny` on a free loopback port; yields (url, outputs folder)."""
    yield from start_server(tmp_path_factory, ROOT / "app.py")
