"""Every Wan preset's tiny twin: built in the real repo's layout with the real classes, loaded back
through the Wan loader (fp32 files -> the dtype cache), with the real structure (channels, image
conditioning, VACE layers, Wan 2.2's 48-channel VAE) at tiny widths. Outputs of tiny weights are noise."""
from __future__ import annotations

import json

import pytest

from core.presets import read_presets

WAN = sorted(pid for pid, p in read_presets().items() if p.get("family") == "wan" and "tiny_of" not in p)


def test_every_wan_preset_has_a_tiny_twin() -> None:
    presets = read_presets()
    assert len(WAN) >= 8
    for pid in WAN:
        assert presets[pid]["tiny"] == f"{pid}-tiny" and presets[f"{pid}-tiny"]["tiny_of"] == pid


@pytest.mark.parametrize("pid", WAN)
def test_tiny_twin_layout_classes_and_structure(pid: str, tmp_path) -> None:
    import torch

    from models.tiny_layout import tiny_component_paths
    from models.wan.loading import load_components
    from models.wan.tiny import build_tiny_repos, real_config

    preset = read_presets()[pid]
    build_tiny_repos(tmp_path, preset)
    repo = next(iter(preset["components"].values()))["repo"]
    assert (tmp_path / repo / "model_index.json").is_file()
    paths = tiny_component_paths(tmp_path, preset)
    components = load_components(paths, {"transformer": "bfloat16", "vae": "float32", "text_encoder": "float32",
                                         "image_encoder": "float32"})
    for name, spec in preset["components"].items():
        cls = type(components[name]).__name__
        assert cls == spec["class"] or (name in ("tokenizer", "image_processor")), (name, cls)
    transformer, vae = components["transformer"], components["vae"]
    real = real_config(preset["components"]["transformer"])
    for key in ("in_channels", "out_channels", "patch_size", "vace_in_channels"):
        if key in real:
            assert list(transformer.config[key]) == list(real[key]) if key == "patch_size" else \
                transformer.config[key] == real[key], key
    assert (transformer.config.get("image_dim") is None) == (real.get("image_dim") is None)
    assert (transformer.config.get("pos_embed_seq_len") is None) == (real.get("pos_embed_seq_len") is None)
    real_vae = real_config(preset["components"]["vae"])
    assert vae.config.z_dim == real_vae["z_dim"] and vae.config.scale_factor_spatial == real_vae.get("scale_factor_spatial", 8)
    assert list(vae.config.latents_mean) == list(real_vae["latents_mean"])
    # The real scheduler config, bf16 transformer from the fp32 files (keep-in-fp32 modules stay fp32).
    assert json.loads((paths["scheduler"] / "scheduler_config.json").read_text())["flow_shift"] == \
        components["scheduler"].config.flow_shift
    assert transformer.proj_out.weight.dtype == torch.bfloat16
    assert transformer.scale_shift_table.dtype == torch.float32
