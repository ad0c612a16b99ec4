"""Attention backend choice: native SDPA without CUDA, and nothing CUDA-only is imported or called."""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys

import pytest
import torch

from memory import attention


class _Forbid(importlib.abc.MetaPathFinder):
    """Fails the test if anything imports one of these packages."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.attempts: list[str] = []

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.names:
            self.attempts.append(fullname)
            raise ImportError(f"{fullname} must not be imported without CUDA")
        return None


def test_cpu_chooses_native_even_when_faster_backends_look_installed(monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec

    def fake_find_spec(name, *args, **kwargs):  # pretend sageattention/xformers/flash_attn are installed
        if name in attention.PACKAGES.values():
            return importlib.machinery.ModuleSpec(name, loader=None)
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", fake_find_spec)
    forbid = _Forbid(set(attention.PACKAGES.values()))
    monkeypatch.setattr(sys, "meta_path", [forbid, *sys.meta_path])
    assert attention.choose_attention_backend() == "native"
    assert not attention.probe_backend("sage") and not attention.probe_backend("xformers")
    assert forbid.attempts == []


def test_with_cuda_a_failing_probe_falls_back_to_native(monkeypatch) -> None:
    monkeypatch.setattr(attention, "cuda_available", lambda: True)
    monkeypatch.setattr(attention, "installed", lambda name: True)
    calls: list[str] = []

    def probe(name, head_dim, dtype):
        calls.append(name)
        return name == "xformers"

    monkeypatch.setattr(attention, "_try_call", probe)
    attention._probed.clear()
    try:
        assert attention.choose_attention_backend() == "xformers"  # sage and flash failed their probe
        assert calls == ["sage", "flash", "xformers"]
        assert attention.choose_attention_backend() == "xformers" and len(calls) == 3  # cached per process
        monkeypatch.setattr(attention, "_try_call", lambda *a: False)
        attention._probed.clear()
        assert attention.choose_attention_backend() == "native"
    finally:
        attention._probed.clear()


def test_native_backend_context_runs_a_model_call() -> None:
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    q = torch.randn(1, 8, 2, 16)
    with attention.attention_backend("native") as name:
        out = dispatch_attention_fn(q, q, q)
    assert name == "native" and out.shape == q.shape
    ref = torch.nn.functional.scaled_dot_product_attention(*(q.transpose(1, 2),) * 3).transpose(1, 2)
    assert torch.allclose(out, ref, atol=1e-5)


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError):
        with attention.attention_backend("no-such-backend"):
            pass
