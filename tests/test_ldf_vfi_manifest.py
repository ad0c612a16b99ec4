"""Our LDF-VFI classes, built on `meta` with the real configs, have exactly the released checkpoints'
keys and shapes (../shared/manifests: ldf_vfi_transformer.json, ldf_vfi_cond_vae.json)."""
from __future__ import annotations

import json
import math

import torch
from conftest import SHARED, require_shared

MANIFESTS = SHARED / "manifests"


def _manifest(name: str) -> dict:
    return json.loads(require_shared(MANIFESTS / name).read_text())


def _config(manifest: dict) -> dict:
    return {k: v for k, v in manifest["config"].items() if not k.startswith("_")}


def _shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def test_transformer_matches_manifest() -> None:
    from models.ldf_vfi.transformer import LDFVFITransformer3DModel

    manifest = _manifest("ldf_vfi_transformer.json")
    with torch.device("meta"):
        model = LDFVFITransformer3DModel(**_config(manifest))
    shapes = _shapes(model)
    assert shapes == manifest["params"]  # same keys, same shapes: no renaming at all
    assert len(shapes) == manifest["num_tensors"] == 821
    assert sum(math.prod(s) for s in shapes.values()) == manifest["total_params"]
    assert not any(k.startswith("condition_embedder.text_embedder") for k in shapes)
    assert shapes["patch_embedding.weight"] == [1536, 36, 1, 2, 2]  # 16 noise + 16 LQ latent + 4 mask


def test_transformer_is_diffusers_wan_minus_text_embedder() -> None:
    """The mapping to diffusers' WanTransformer3DModel is the identity on every key we have."""
    from diffusers import WanTransformer3DModel

    manifest = _manifest("ldf_vfi_transformer.json")
    config = {k: v for k, v in _config(manifest).items() if k != "attention_type"}
    with torch.device("meta"):
        stock = WanTransformer3DModel(**config)
    stock_shapes = _shapes(stock)
    ours = manifest["params"]
    assert set(stock_shapes) - set(ours) == set(manifest["comparison_to_diffusers_WanTransformer3DModel"]
                                                 ["diffusers_keys_absent_here"])
    assert all(stock_shapes[k] == v for k, v in ours.items())


def test_cond_vae_matches_manifest() -> None:
    from models.ldf_vfi.cond_vae import REAL_CONFIG, WanCondVAE

    manifest = _manifest("ldf_vfi_cond_vae.json")
    assert _config(manifest) == REAL_CONFIG
    with torch.device("meta"):
        model = WanCondVAE(**_config(manifest))
    # The file's layout (original Wan names): what loading reads and the tiny kit writes.
    shapes = {k: list(v.shape) for k, v in model.checkpoint_state_dict().items()}
    assert shapes == manifest["params"]
    assert len(shapes) == 337
    by_top: dict[str, int] = {}
    for key, shape in shapes.items():
        by_top[key.split(".")[0]] = by_top.get(key.split(".")[0], 0) + math.prod(shape)
    assert by_top == manifest["params_by_top_level_module"]
    assert len(model.zero_convs) == 19
    # The latent statistics are buffers, not checkpoint entries.
    assert "latent_mean" not in shapes and model.latent_mean.shape == (16,)


def test_cond_vae_base_maps_to_diffusers_autoencoder_kl_wan() -> None:
    """The Wan part (encoder, conv1, conv2, decoder) maps 1:1 onto diffusers' AutoencoderKLWan by the
    manifest's key map (used by tests/test_ldf_vfi_vae.py for the numerical parity check)."""
    from diffusers import AutoencoderKLWan

    manifest = _manifest("ldf_vfi_cond_vae.json")
    key_map = manifest["key_map_to_diffusers_AutoencoderKLWan"]
    with torch.device("meta"):
        stock = AutoencoderKLWan(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                                 attn_scales=[], temperal_downsample=[False, True, True])
    stock_shapes = _shapes(stock)
    mapped = {key_map[k]: v for k, v in manifest["params"].items() if key_map.get(k)}
    assert mapped == stock_shapes
    unmapped = {k for k, v in key_map.items() if v is None}
    assert unmapped == {k for k in manifest["params"] if k.startswith(("cond_encoder.", "zero_convs."))}
