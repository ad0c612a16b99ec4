"""The Models tab's Download: never hangs, says why it cannot fetch."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from conftest import ROOT

from core.errors import StudioError
from studio.downloads import download_preset
from studio.env import StudioEnv


def test_offline_mode_refuses_at_once(tmp_path) -> None:
    env = StudioEnv(outputs=tmp_path, offline=True)
    started = time.monotonic()
    with pytest.raises(StudioError) as err:
        download_preset(env, "ldf-vfi")
    assert "Offline" in str(err.value) and time.monotonic() - started < 1.0


def test_unreachable_hub_fails_fast_with_a_clear_message(tmp_path) -> None:
    # An endpoint on a closed loopback port: the connect is refused immediately.
    code = ("import time; from studio.env import StudioEnv; from studio.downloads import download_preset\n"
            "t = time.monotonic()\n"
            "try:\n    download_preset(StudioEnv(outputs='out'), 'ldf-vfi')\n"
            "except Exception as e:\n    print(type(e).__name__, '|', e, '|', round(time.monotonic() - t, 2))\n")
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    name, message, seconds = out.stdout.strip().split(" | ")
    assert name == "StudioError" and "cannot be reached" in message
    assert float(seconds) < 5.0


def test_presets_without_weights_need_no_download(tmp_path) -> None:
    messages: list[str] = []
    download_preset(StudioEnv(outputs=tmp_path, offline=True), "interpolation-flow", log=messages.append)
    assert messages == ["interpolation-flow: nothing to download"]
