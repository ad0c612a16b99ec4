"""Budget probes, and that importing the memory layer touches no CUDA API."""
from __future__ import annotations

import subprocess
import sys

import psutil
import pytest
from conftest import ROOT

from memory.budget import GIB, default_pinned_cap, probe_device, probe_host


def test_probes() -> None:
    host = probe_host()
    assert 0 < host.available_bytes <= host.total_bytes == psutil.virtual_memory().total
    assert probe_host(16).available_bytes == 16 * GIB
    dev = probe_device(6)
    assert dev.free_bytes == 6 * GIB and dev.kind in {"virtual", "cuda"}
    assert default_pinned_cap(32 * GIB) == 16 * GIB
    with pytest.raises(ValueError):
        probe_device(0)


def test_no_cuda_means_the_caller_sets_the_device_budget(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert probe_device(None).kind == "cpu"
    assert probe_device(4).kind == "virtual"


def test_importing_the_memory_layer_calls_no_cuda_api() -> None:
    code = (
        "import torch\n"
        "def boom(*a, **k):\n"
        "    raise AssertionError('CUDA API called at import')\n"
        "for name in ('is_available', 'mem_get_info', 'init', 'device_count', 'get_device_properties',"
        " 'is_bf16_supported', 'empty_cache', 'current_device'):\n"
        "    setattr(torch.cuda, name, boom)\n"
        "import memory, memory.budget, memory.sizes, memory.activations, memory.plan, memory.profile\n"
        "import memory.executor, memory.attention, memory.precision, memory.oom, memory.loading, memory.measure\n"
        "import sys\n"
        "assert not any(m.split('.')[0] in ('sageattention', 'xformers', 'flash_attn') for m in sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
