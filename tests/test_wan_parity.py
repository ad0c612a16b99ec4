"""Our Wan loop (models/wan/pipeline.py) against diffusers' own Wan pipelines on the same tiny
random weights (the tiny twins of the real repos; outputs are noise), seed, steps and scheduler:
latents within 1e-4. Also: the chunked block option equals the stock forward."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from memory.placement import Placement
from models.wan.pipeline import WanParams, generate

W, H, FRAMES, STEPS = 64, 48, 9, 3
TI2V_W, TI2V_H = 64, 64  # Wan2.2's VAE is 16x and the patch 2: sides divisible by 32


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    from core.presets import read_presets
    from models.tiny_layout import tiny_component_paths
    from models.wan.loading import load_components
    from models.wan.tiny import build_tiny_repos

    presets = read_presets()
    out = {}
    for pid in ("wan-t2v-1.3b", "wan-flf2v-14b", "wan-i2v-14b-480p", "wan-ti2v-5b"):
        root = tmp_path_factory.mktemp(pid)
        build_tiny_repos(root, presets[pid])
        dtypes = {name: "float32" for name in ("transformer", "vae", "text_encoder", "image_encoder")}
        out[pid] = load_components(tiny_component_paths(root, presets[pid]), dtypes)
    return out


def _image(seed: int, w: int = W, h: int = H) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def _ours(components: dict, **kw) -> torch.Tensor:
    params = WanParams(prompt="a red fox runs through snow", negative_prompt="blurry", steps=STEPS, seed=7,
                       frames=FRAMES, **kw)
    return generate(Placement(torch.device("cpu"), dict(components)), params).latents


def _call(pipe, **kw) -> torch.Tensor:
    with torch.no_grad():
        return pipe(prompt="a red fox runs through snow", negative_prompt="blurry", num_inference_steps=STEPS,
                    num_frames=FRAMES, generator=torch.Generator().manual_seed(7), output_type="latent",
                    max_sequence_length=512, **kw).frames


def _wan_pipeline(c: dict, expand: bool = False):
    from diffusers import WanPipeline

    return WanPipeline(tokenizer=c["tokenizer"], text_encoder=c["text_encoder"], vae=c["vae"],
                       scheduler=c["scheduler"], transformer=c["transformer"], expand_timesteps=expand)


def _i2v_pipeline(c: dict, expand: bool = False):
    from diffusers import WanImageToVideoPipeline

    return WanImageToVideoPipeline(tokenizer=c["tokenizer"], text_encoder=c["text_encoder"], vae=c["vae"],
                                   scheduler=c["scheduler"], transformer=c["transformer"],
                                   image_encoder=c.get("image_encoder"), image_processor=c.get("image_processor"),
                                   expand_timesteps=expand)


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    assert float((ours - theirs.float()).abs().max()) <= 1e-4


def test_t2v_equals_wan_pipeline(kits) -> None:
    c = kits["wan-t2v-1.3b"]
    _close(_ours(c, width=W, height=H, guidance=5.0), _call(_wan_pipeline(c), width=W, height=H, guidance_scale=5.0))


def test_flf2v_equals_wan_image_to_video_with_last_image(kits) -> None:
    c = kits["wan-flf2v-14b"]
    first, last = _image(1), _image(2)
    ours = _ours(c, width=W, height=H, guidance=4.0, image=first, last_image=last)
    theirs = _call(_i2v_pipeline(c), width=W, height=H, guidance_scale=4.0, image=Image.fromarray(first),
                   last_image=Image.fromarray(last))
    _close(ours, theirs)


def test_i2v_equals_wan_image_to_video_without_last_image(kits) -> None:
    c = kits["wan-i2v-14b-480p"]
    first = _image(3)
    ours = _ours(c, width=W, height=H, guidance=1.0, image=first)  # guidance 1: no negative pass
    theirs = _call(_i2v_pipeline(c), width=W, height=H, guidance_scale=1.0, image=Image.fromarray(first))
    _close(ours, theirs)


def test_ti2v_image_equals_expand_timesteps_pipeline(kits) -> None:
    c = kits["wan-ti2v-5b"]
    first = _image(4, TI2V_W, TI2V_H)
    ours = _ours(c, width=TI2V_W, height=TI2V_H, guidance=5.0, image=first, expand_timesteps=True)
    theirs = _call(_i2v_pipeline(c, expand=True), width=TI2V_W, height=TI2V_H, guidance_scale=5.0,
                   image=Image.fromarray(first))
    _close(ours, theirs)


def test_ti2v_text_only_equals_expand_timesteps_wan_pipeline(kits) -> None:
    c = kits["wan-ti2v-5b"]
    ours = _ours(c, width=TI2V_W, height=TI2V_H, guidance=5.0, expand_timesteps=True)
    theirs = _call(_wan_pipeline(c, expand=True), width=TI2V_W, height=TI2V_H, guidance_scale=5.0)
    _close(ours, theirs)


@pytest.mark.parametrize("pid,kw", [("wan-t2v-1.3b", {}), ("wan-flf2v-14b", {"first": 1, "last": 2}),
                                    ("wan-ti2v-5b", {"first": 4, "expand_timesteps": True})])
def test_chunked_blocks_give_the_stock_result(kits, pid: str, kw: dict) -> None:
    c = kits[pid]
    size = (TI2V_W, TI2V_H) if pid == "wan-ti2v-5b" else (W, H)
    extra = {"expand_timesteps": kw.get("expand_timesteps", False)}
    if "first" in kw:
        extra["image"] = _image(kw["first"], *size)
    if "last" in kw:
        extra["last_image"] = _image(kw["last"], *size)
    stock = _ours(c, width=size[0], height=size[1], **extra)
    chunked = _ours(c, width=size[0], height=size[1], chunk_tokens=5, **extra)
    assert float((stock - chunked).abs().max()) <= 1e-5


def test_flf2v_model_refuses_a_missing_last_frame(kits) -> None:
    from core.errors import InputError

    with pytest.raises(InputError, match="last_image"):
        _ours(kits["wan-flf2v-14b"], width=W, height=H, image=_image(1))
