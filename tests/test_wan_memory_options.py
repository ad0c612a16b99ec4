"""The VACE / Animate memory options of models/wan/blocks.py give the stock forward's numbers.

Chunked WanVACETransformerBlock (hints written to the host), chunked Animate face adapters and the
Animate forward that drops used tensors are compared with the stock diffusers forwards on tiny
fp32 models built with the real classes: the tiny twins of models/wan/tiny.py, loaded as the app
loads them (hooks installed at load), and a few direct configs with more VACE layers, a shorter
control video, CFG batches and face adapters every other block. Max abs difference <= 1e-5.

Hints on the host are checked on CPU with numpy-backed host buffers, which torch's CPU allocator
(what memory.measure counts) does not see, as a GPU's allocator does not see host memory.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from memory.measure import peak_allocated_bytes
from models.wan import blocks
from models.wan.blocks import install_chunking, set_chunking

pytestmark = pytest.mark.usefixtures("one_thread")

TOL = 1e-5
HEADS, HEAD_DIM, TEXT_DIM = 2, 12, 16


def numpy_host_buffer(shape, dtype, device):
    n = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    return torch.from_numpy(np.empty(n, dtype=np.uint8)).view(dtype).view(shape)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.fixture(scope="module")
def kit_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.nn.Module]:
    """The tiny twins' transformers, loaded by models.wan.loading (which installs the hooks)."""
    from core.presets import read_presets
    from models.tiny_layout import tiny_component_paths
    from models.wan.loading import load_component
    from models.wan.tiny import build_tiny_repos

    presets = read_presets()
    out = {}
    for pid in ("wan-vace-14b", "wan-animate-14b"):
        only = {"components": {"transformer": presets[pid]["components"]["transformer"]}}
        root = tmp_path_factory.mktemp(pid)
        build_tiny_repos(root, only)
        out[pid] = load_component("transformer", tiny_component_paths(root, only)["transformer"], "float32").eval()
    return out


def _vace(vace_layers=(0, 1, 3), layers: int = 4, seed: int = 0):
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(seed)
    model = WanVACETransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=HEADS, attention_head_dim=HEAD_DIM,
                                      in_channels=16, out_channels=16, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=40,
                                      num_layers=layers, vace_layers=list(vace_layers), vace_in_channels=20).eval()
    assert install_chunking(model) == layers + len(vace_layers)
    return model


def _animate(layers: int = 4, inject: int = 2, seed: int = 0):
    from diffusers import WanAnimateTransformer3DModel

    torch.manual_seed(seed)
    model = WanAnimateTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, in_channels=36, out_channels=16,
        text_dim=TEXT_DIM, freq_dim=16, ffn_dim=40, num_layers=layers, image_dim=8, added_kv_proj_dim=HEADS * HEAD_DIM,
        latent_channels=16, motion_encoder_size=16, motion_encoder_channel_sizes={"4": 8, "8": 8, "16": 8},
        motion_style_dim=8, motion_dim=4, motion_encoder_dim=8, face_encoder_hidden_dim=8, face_encoder_num_heads=2,
        inject_face_latents_blocks=inject, motion_encoder_batch_size=3).eval()
    assert install_chunking(model) == layers + layers // inject + 1   # blocks, face adapters, the model
    return model


def _vace_inputs(model, batch: int = 1, frames: int = 3, control_frames: int = 3, h: int = 8, w: int = 10,
                 scale: bool = True, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    kwargs = dict(hidden_states=torch.randn(batch, cfg.in_channels, frames, h, w, generator=g),
                  timestep=torch.full((batch,), 400.0),
                  encoder_hidden_states=torch.randn(batch, 7, cfg.text_dim, generator=g),
                  control_hidden_states=torch.randn(batch, cfg.vace_in_channels, control_frames, h, w, generator=g),
                  return_dict=False)
    if scale:
        kwargs["control_hidden_states_scale"] = torch.linspace(0.5, 1.5, len(cfg.vace_layers))
    return kwargs


def _animate_inputs(model, batch: int = 1, frames: int = 4, h: int = 6, w: int = 8, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    size = cfg.motion_encoder_size
    return dict(hidden_states=torch.randn(batch, cfg.in_channels, frames, h, w, generator=g),
                timestep=torch.full((batch,), 400.0),
                encoder_hidden_states=torch.randn(batch, 7, cfg.text_dim, generator=g),
                encoder_hidden_states_image=torch.randn(batch, 5, cfg.image_dim, generator=g),
                pose_hidden_states=torch.randn(batch, cfg.latent_channels, frames - 1, h, w, generator=g),
                face_pixel_values=torch.randn(batch, 3, 4 * (frames - 2) + 1, size, size, generator=g),
                return_dict=False)


def _run(model, kwargs: dict, chunk: int | None, **options) -> torch.Tensor:
    set_chunking(model, chunk, **options)
    try:
        with torch.no_grad():
            return model(**kwargs)[0]
    finally:
        set_chunking(model, None)


# ----------------------------------------------------------------------------------------- VACE


@pytest.mark.parametrize("chunk", [1, 7, 33, 10_000])
def test_tiny_kit_vace_chunked_with_hints_on_the_host_equals_stock(kit_models, chunk: int) -> None:
    model = kit_models["wan-vace-14b"]
    kwargs = _vace_inputs(model)
    stock = _run(model, kwargs, None)
    assert max_diff(_run(model, kwargs, chunk), stock) <= TOL
    assert max_diff(_run(model, kwargs, chunk, hint_device=None), stock) <= TOL


@pytest.mark.parametrize("batch,control_frames,scale", [(1, 3, True), (2, 3, False), (1, 2, True)],
                         ids=["scaled", "cfg-batch", "short-control"])
def test_vace_chunked_equals_stock(batch: int, control_frames: int, scale: bool) -> None:
    model = _vace()
    kwargs = _vace_inputs(model, batch=batch, control_frames=control_frames, scale=scale)
    stock = _run(model, kwargs, None)
    for chunk in (5, 24):
        assert max_diff(_run(model, kwargs, chunk), stock) <= TOL


@pytest.mark.parametrize("index", [0, 1], ids=["with-proj_in", "without-proj_in"])
def test_vace_block_returns_the_stock_hint_and_control(index: int) -> None:
    model = _vace()
    block = model.vace_blocks[index]
    g = torch.Generator().manual_seed(3)
    tokens, dim = 40, HEADS * HEAD_DIM
    x, control = torch.randn(1, tokens, dim, generator=g), torch.randn(1, tokens, dim, generator=g)
    context, temb = torch.randn(1, 7, dim, generator=g), torch.randn(1, 6, dim, generator=g)
    rope = model.rope(torch.zeros(1, 16, 2, 8, 10))  # 2 frames x 4 x 5 patches = 40 tokens
    with torch.no_grad():
        hint, out = block(x, context, control.clone(), temb, rope)
        set_chunking(model, 6)
        mine_hint, mine_out = block(x, context, control.clone(), temb, rope)
        set_chunking(model, None)
    assert mine_hint.device.type == "cpu" and max_diff(mine_hint, hint) <= TOL and max_diff(mine_out, out) <= TOL


def test_vace_hints_wait_on_the_host_not_in_device_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the hints in host buffers the measured (device-allocator) peak drops by the n_vace hints
    that the stock order keeps alive while main block 0 runs; each VACE block's hint is such a buffer."""
    made: list[int] = []

    def host(shape, dtype, device):
        t = numpy_host_buffer(shape, dtype, device)
        made.append(t.data_ptr())
        return t

    monkeypatch.setattr(blocks, "host_buffer", host)
    model = _vace(vace_layers=(0, 1, 2, 3), layers=4)
    kwargs = _vace_inputs(model, frames=4, control_frames=4, h=16, w=24, scale=False)
    tokens, dim = 4 * 8 * 12, HEADS * HEAD_DIM
    A = tokens * dim * 4
    seen: list[int] = []
    handles = [b.register_forward_hook(lambda m, i, o: seen.append(o[0].data_ptr())) for b in model.vace_blocks]
    try:
        kept, stock = peak_allocated_bytes(lambda: _run(model, kwargs, 64, hint_device=None))
        assert not made
        on_host, chunked = peak_allocated_bytes(lambda: _run(model, kwargs, 64))
    finally:
        for handle in handles:
            handle.remove()
    assert seen[4:] == made and len(made) == 4           # the second run's hints are the host buffers
    assert max_diff(chunked, stock) <= TOL
    assert kept - on_host >= 3.5 * A, (kept / A, on_host / A)


def test_chunking_off_and_gradients_run_the_stock_forward() -> None:
    model = _vace()
    kwargs = _vace_inputs(model)
    stock = _run(model, kwargs, None)
    set_chunking(model, 5)
    with torch.enable_grad():
        out = model(**kwargs)[0]
    set_chunking(model, None)
    assert out.requires_grad and max_diff(out.detach(), stock) <= TOL


# ----------------------------------------------------------------------------------------- Animate


@pytest.mark.parametrize("chunk", [1, 7, 12, 25, 10_000])
def test_tiny_kit_animate_chunked_equals_stock(kit_models, chunk: int) -> None:
    model = kit_models["wan-animate-14b"]
    kwargs = _animate_inputs(model)
    stock = _run(model, kwargs, None)
    assert max_diff(_run(model, kwargs, chunk), stock) <= TOL


@pytest.mark.parametrize("batch,frames", [(1, 5), (2, 4)], ids=["5-frames", "cfg-batch"])
def test_animate_chunked_equals_stock(batch: int, frames: int) -> None:
    model = _animate()
    kwargs = _animate_inputs(model, batch=batch, frames=frames)
    stock = _run(model, kwargs, None)
    for chunk in (5, 24, 50):
        assert max_diff(_run(model, kwargs, chunk), stock) <= TOL
    set_chunking(model, 24)
    with torch.no_grad():
        dict_out = model(**{**kwargs, "return_dict": True}).sample
    set_chunking(model, None)
    assert max_diff(dict_out, stock) <= TOL


@pytest.mark.parametrize("chunk", [1, 12, 30, 47, 1000])
def test_face_adapter_on_frame_chunks_equals_stock(chunk: int) -> None:
    """12 tokens per latent frame: chunks of 1 frame (chunk < 24), of 2 or 3 frames, or all 5."""
    from diffusers.models.transformers.transformer_wan_animate import (
        WanAnimateFaceBlockCrossAttention,
    )

    torch.manual_seed(0)
    dim = HEADS * HEAD_DIM
    adapter = WanAnimateFaceBlockCrossAttention(dim, HEADS, HEAD_DIM, 1e-6, cross_attention_dim_head=HEAD_DIM).eval()
    assert install_chunking(adapter) == 1
    g = torch.Generator().manual_seed(2)
    x, motion = torch.randn(2, 5 * 12, dim, generator=g), torch.randn(2, 5, 3, dim, generator=g)
    with torch.no_grad():
        stock = adapter(x, motion)
        set_chunking(adapter, chunk)
        mine = adapter(x, motion)
        set_chunking(adapter, None)
    assert max_diff(mine, stock) <= TOL


def test_face_adapter_keeps_the_stock_errors() -> None:
    """Tokens that are not whole frames: the stock processor's unflatten error, chunking on or off."""
    from diffusers.models.transformers.transformer_wan_animate import (
        WanAnimateFaceBlockCrossAttention,
    )

    dim = HEADS * HEAD_DIM
    adapter = WanAnimateFaceBlockCrossAttention(dim, HEADS, HEAD_DIM, 1e-6, cross_attention_dim_head=HEAD_DIM).eval()
    install_chunking(adapter)
    set_chunking(adapter, 8)
    with torch.no_grad(), pytest.raises(RuntimeError):
        adapter(torch.randn(1, 31, dim), torch.randn(1, 5, 3, dim))
