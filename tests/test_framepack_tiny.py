"""Tiny kit round trip: build -> load through loading.py -> one transformer forward; determinism."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from framepack_fixtures import components, preset, tiny_root  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("one_thread")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".safetensors", ".json")}


def test_build_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    from models.framepack.tiny import build_tiny_repos

    spec = preset("inverted")
    build_tiny_repos(tmp_path / "a", spec, seed=0)
    build_tiny_repos(tmp_path / "b", spec, seed=0)
    build_tiny_repos(tmp_path / "c", spec, seed=1)
    a, b, c = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert a == b and any(k.endswith(".safetensors") for k in a)
    weights = [k for k in a if k.endswith(".safetensors")]
    assert all(a[k] != c[k] for k in weights)  # another seed: other numbers

    # Real-repo layout: nested owner/repo folders, pipeline index at the HunyuanVideo root.
    hv = tmp_path / "a" / "hunyuanvideo-community" / "HunyuanVideo"
    index = json.loads((hv / "model_index.json").read_text())
    assert index["vae"] == ["diffusers", "AutoencoderKLHunyuanVideo"]
    assert (hv / "scheduler" / "scheduler_config.json").is_file()
    assert (tmp_path / "a" / "lllyasviel" / "FramePackI2V_HY" / "config.json").is_file()

    # Idempotent: a second build with the same seed rewrites nothing.
    weight_file = tmp_path / "a" / weights[0]
    before = weight_file.stat().st_mtime_ns
    build_tiny_repos(tmp_path / "a", spec, seed=0)
    assert weight_file.stat().st_mtime_ns == before


def test_inverted_and_f1_transformers_differ(components) -> None:  # noqa: F811
    a = components["inverted"]["transformer"].state_dict()
    b = components["f1"]["transformer"].state_dict()
    assert a.keys() == b.keys()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    # Shared repos (text encoders, VAE, SigLIP) are the same folders, hence the same numbers.
    va, vb = components["inverted"]["vae"].state_dict(), components["f1"]["vae"].state_dict()
    assert all(torch.equal(va[k], vb[k]) for k in va)


def test_loaded_classes_and_one_forward_pass(components) -> None:  # noqa: F811
    from models.framepack import encode, schedule

    comps = components["inverted"]
    assert type(comps["transformer"]).__name__ == "HunyuanVideoFramepackTransformer3DModel"
    assert type(comps["vae"]).__name__ == "AutoencoderKLHunyuanVideo"
    assert type(comps["text_encoder"]).__name__ == "LlamaModel"
    assert type(comps["image_encoder"]).__name__ == "SiglipVisionModel"

    # The tiny tokenizer reproduces the real template crop: the prefix is exactly 95 tokens.
    ids = comps["tokenizer"]([encode.PROMPT_TEMPLATE.format("")]).input_ids[0]
    prefix = comps["tokenizer"]([encode.PROMPT_TEMPLATE.split("{}")[0]]).input_ids[0]
    assert len(prefix) == encode.CROP_START == 95 and len(ids) == 96  # + the closing <|eot_id|>

    text = encode.encode_text("a cat walks", comps["tokenizer"], comps["text_encoder"],
                              comps["tokenizer_2"], comps["text_encoder_2"])
    assert text.llama.shape[2] == 16 and text.mask.all() and text.pooled.shape == (1, 8)
    embeds = encode.encode_image(__import__("framepack_fixtures").image(), comps["feature_extractor"],
                                 comps["image_encoder"])
    window, height, width = 3, 64, 64
    index = schedule.inverted_indices(window, padding=1)
    seen = []
    hook = comps["transformer"].transformer_blocks[0].register_forward_pre_hook(
        lambda module, args: seen.append(args[0].shape[1]))
    try:
        with torch.no_grad():
            out = comps["transformer"](
                hidden_states=torch.randn(1, 4, window, 8, 8), timestep=torch.tensor([1000.0]),
                encoder_hidden_states=text.llama, encoder_attention_mask=text.mask, pooled_projections=text.pooled,
                image_embeds=embeds, indices_latents=index.latents, guidance=torch.tensor([10000.0]),
                latents_clean=torch.randn(1, 4, 2, 8, 8), indices_latents_clean=index.clean,
                latents_history_2x=torch.randn(1, 4, 2, 8, 8), indices_latents_history_2x=index.history_2x,
                latents_history_4x=torch.randn(1, 4, 16, 8, 8), indices_latents_history_4x=index.history_4x,
                return_dict=False)[0]
    finally:
        hook.remove()
    assert out.shape == (1, 4, window, 8, 8) and torch.isfinite(out).all()
    assert seen == [schedule.token_counts(height, width, window)["total"]]
