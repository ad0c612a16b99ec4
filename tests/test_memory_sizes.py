"""Exact parameter bytes from the real configs (presets/configs) built on the meta device."""
from __future__ import annotations

import json
import tomllib

import pytest
import torch
from conftest import ROOT, SHARED, require_shared

from memory.sizes import build_on_meta, component_size, load_config

MANIFESTS = SHARED / "manifests"
FP = ("HunyuanVideoFramepackTransformer3DModel", "lllyasviel/FramePackI2V_HY", "")
HV = "hunyuanvideo-community/HunyuanVideo"


def test_framepack_transformer_is_12_9b_and_25_7_gb_in_bf16() -> None:
    s = component_size("transformer", *FP, "bfloat16")
    assert s.params == 12_874_314_816
    assert s.bytes == 2 * s.params and round(s.bytes / 1e9, 1) == 25.7
    dual, single = s.block_lists
    assert (dual.path, len(dual.block_params)) == ("transformer_blocks", 20)
    assert (single.path, len(single.block_params)) == ("single_transformer_blocks", 40)
    assert set(dual.block_params) == {339_831_296} and set(single.block_params) == {141_591_808}
    # Everything outside the blocks (embedders, token refiner, image projection, norm_out) travels as one group.
    assert s.other_params == 414_016_576 and s.other_bytes == 2 * 414_016_576


def test_f1_checkpoint_has_the_same_architecture() -> None:
    a = component_size("transformer", *FP, "bfloat16")
    b = component_size("transformer", FP[0], "lllyasviel/FramePack_F1_I2V_HY_20250503", "", "bfloat16")
    assert a.params == b.params and a.block_lists == b.block_lists


def test_text_and_image_encoders_match_their_published_sizes() -> None:
    llama = component_size("text_encoder", "LlamaModel", HV, "text_encoder", "float16")
    assert llama.params == 7_505_186_816 and round(llama.bytes / 1e9, 1) == 15.0
    assert [(b.path, len(b.block_params)) for b in llama.block_lists] == [("layers", 32)]
    clip = component_size("text_encoder_2", "CLIPTextModel", HV, "text_encoder_2", "float16")
    assert clip.params == 123_060_480
    siglip = component_size("image_encoder", "SiglipVisionModel", "lllyasviel/flux_redux_bfl", "image_encoder", "float16")
    assert siglip.params == 428_225_600  # so400m: ~0.43B
    # Its one stack of layers sits below a wrapper: streamable through it (`block_modules`), as
    # UMT5-XXL's must be (10.6 GB bf16 cannot be loaded whole into 8 GB next to anything).
    assert [(b.path, len(b.block_params)) for b in siglip.block_lists] == [("encoder.layers", 27)]
    umt5 = component_size("text_encoder", "UMT5EncoderModel", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "text_encoder",
                          "bfloat16")
    assert [(b.path, len(b.block_params)) for b in umt5.block_lists] == [("encoder.block", 24)]
    vae = component_size("vae", "AutoencoderKLHunyuanVideo", HV, "vae", "float16")
    assert vae.block_lists == ()  # several interleaved nested lists: a VAE is loaded whole, never streamed


def test_vae_is_0_99_gb_on_disk_and_half_that_in_fp16() -> None:
    vae = component_size("vae", "AutoencoderKLHunyuanVideo", HV, "vae", "float16")
    assert vae.params == 246_478_803
    assert vae.file_bytes == 4 * vae.params and round(vae.file_bytes / 1e9, 2) == 0.99
    assert vae.bytes == 2 * vae.params


def test_ldf_vfi_meta_build_equals_the_manifest() -> None:
    s = component_size("transformer", "WanTransformer3DModel", "onecat-ai/LDF-VFI", "transformer", "bfloat16")
    assert s.params == 1_410_465_856  # manifest total_params
    assert [(b.path, len(b.block_params)) for b in s.block_lists] == [("blocks", 30)]
    data = json.loads(require_shared(MANIFESTS / "ldf_vfi_transformer.json").read_text())
    model = build_on_meta("WanTransformer3DModel", load_config("onecat-ai/LDF-VFI", "transformer"))
    del model.condition_embedder.text_embedder  # as presets/configs/.../frame_studio.json says
    shapes = {k: list(v.shape) for k, v in model.named_parameters()}
    assert shapes == data["params"]  # key for key, shape for shape
    assert data["total_params"] == s.params


def test_ldf_vfi_conditional_vae_counts_come_from_its_manifest() -> None:
    s = component_size("cond_vae", "WanCondVAE", "onecat-ai/LDF-VFI", "", "float32")
    assert s.params == 200_222_227 and s.bytes == 4 * s.params


def test_meta_builds_allocate_nothing() -> None:
    model = build_on_meta(FP[0], load_config(FP[1]))
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_sizes_agree_with_the_presets_size_gb() -> None:
    """Cross-check with the sizes the presets state (GB = 1e9 here: file sizes on the hub)."""
    checked = 0
    for path in sorted((ROOT / "presets").glob("*.toml")):
        preset = tomllib.loads(path.read_text())
        for name, spec in (preset.get("components") or {}).items():
            if spec.get("size_gb", 0) < 0.1:
                continue
            s = component_size(name, spec["class"], spec["repo"], spec.get("subfolder", ""), spec.get("dtype"))
            on_disk = s.file_bytes or s.bytes
            assert abs(on_disk / 1e9 - spec["size_gb"]) / spec["size_gb"] < 0.03, (path.name, name, on_disk)
            checked += 1
    assert checked >= 10


def test_unknown_config_fails_with_the_path() -> None:
    with pytest.raises(FileNotFoundError, match="presets/configs"):
        component_size("x", "LlamaModel", "nobody/nothing", "", "float16")


def test_a_live_module_is_counted_as_stored() -> None:
    from memory.sizes import module_size

    lin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2)).to(torch.bfloat16)
    s = module_size("m", lin)
    assert s.bytes == 2 * (4 * 8 + 8 + 8 * 2 + 2)
