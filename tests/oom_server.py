"""Test-only launcher: `python app.py` with a device OOM injected into FramePack's second section.

The production code is untouched; the fault is patched in here, in the server process, so a test
can drive a real server through gradio_client and watch it recover.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import models.framepack.pipeline as pipeline  # noqa: E402

_real = pipeline._denoise_section
_calls = {"n": 0}


def _flaky(*args, **kwargs):
    _calls["n"] += 1
    if _calls["n"] == 2:  # only once: the next job must run normally
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
    return _real(*args, **kwargs)


pipeline._denoise_section = _flaky

if __name__ == "__main__":
    import app

    app.main(sys.argv[1:])
