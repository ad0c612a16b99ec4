"""Which attention kernel runs: native SDPA unless CUDA is there and a faster backend proves itself.

- Without CUDA the answer is "native" and nothing else is imported or probed (sageattention needs
  Triton and a GPU; xformers imports on CPU but raises at call time).
- With CUDA, each candidate must be installed (checked with `find_spec`, no import) and pass a
  one-shot call through diffusers' dispatcher on real CUDA tensors; results are cached per process.
- It is applied per call with `diffusers.attention_backend(name)` (a context manager), never with
  the process-wide setter, and the chosen name is returned so a job can record what ran.
"""
from __future__ import annotations

import contextlib
import importlib.util
from typing import Iterator

import torch

from memory.budget import cuda_available

NATIVE = "native"
CANDIDATES = ("sage", "flash", "xformers")
PACKAGES = {"sage": "sageattention", "flash": "flash_attn", "xformers": "xformers"}
_probed: dict[tuple[str, int, torch.dtype], bool] = {}


def installed(name: str) -> bool:
    package = PACKAGES.get(name)
    return package is None or importlib.util.find_spec(package) is not None


def probe_backend(name: str, head_dim: int = 128, dtype: torch.dtype = torch.bfloat16) -> bool:
    """True when `name` runs one small attention call correctly on this machine's GPU."""
    if name == NATIVE:
        return True
    if not cuda_available() or not installed(name):
        return False
    key = (name, head_dim, dtype)
    if key not in _probed:
        _probed[key] = _try_call(name, head_dim, dtype)
    return _probed[key]


def _try_call(name: str, head_dim: int, dtype: torch.dtype) -> bool:
    try:
        import diffusers
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        gen = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(1, 64, 2, head_dim, device="cuda", dtype=dtype, generator=gen) for _ in range(3))
        with diffusers.attention_backend(name):
            out = dispatch_attention_fn(q, k, v)
        ref = dispatch_attention_fn(q, k, v, backend="native")
        torch.cuda.synchronize()
        return out.shape == ref.shape and bool(torch.allclose(out.float(), ref.float(), atol=5e-2, rtol=5e-2))
    except Exception:  # any failure (import, kernel, shape) means: not this backend
        return False


def choose_attention_backend(preferred: tuple[str, ...] = CANDIDATES, head_dim: int = 128,
                             dtype: torch.dtype = torch.bfloat16) -> str:
    """The backend name that will run (record it per job)."""
    if not cuda_available():
        return NATIVE
    for name in preferred:
        if probe_backend(name, head_dim, dtype):
            return name
    return NATIVE


@contextlib.contextmanager
def attention_backend(name: str = NATIVE) -> Iterator[str]:
    """Wrap each model call: `with attention_backend(chosen): transformer(...)`."""
    import diffusers

    with diffusers.attention_backend(name):
        yield name
