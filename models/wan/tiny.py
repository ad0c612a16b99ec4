"""Tiny random-weight twins of the Wan repos, written in each real repo's layout.

`build_tiny_repos(root, preset)` writes under `root/<owner>/<repo>/` what the real diffusers repo
holds: `model_index.json`, `transformer/`, `vae/`, `text_encoder/`, `tokenizer/`, `scheduler/` and,
for image-conditioned models, `image_encoder/` and `image_processor/`, built with the real classes.
The real configs (presets/configs) decide the structure: input channels, image conditioning
(`image_dim`, `added_kv_proj_dim`, FLF2V's two-image `pos_embed_seq_len`), VACE layers, the Wan2.2
VAE (48 channels, residual, patch 2, 16x); only widths and depths shrink (DESIGN §6). Transformers
and VAEs are saved in float32 like the real repos, so loading exercises the dtype cache. The
scheduler config and model index are the real files. Output of tiny weights is noise.

Seeded and idempotent (a marker per component, written last; folders renamed into place).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from core.presets import PRESETS_DIR
from models.tiny_layout import (
    component_dir,
    component_seed,
    seeded_module,
    write_folder_once,
)

KIT_VERSION = 1
CONFIGS = PRESETS_DIR / "configs"

TEXT_DIM = 16            # UMT5 d_model == transformer text_dim
CLIP_DIM = 8             # CLIP vision hidden == transformer image_dim
CLIP_SIZE = 32           # CLIP input side (224 for the real one); patch 8 -> 16 + 1 tokens
CLIP_TOKENS = (CLIP_SIZE // 8) ** 2 + 1
HEADS, HEAD_DIM = 2, 12  # transformer width 24


def real_config(spec: dict[str, Any], filename: str = "config.json") -> dict[str, Any]:
    path = CONFIGS / spec["repo"] / spec["subfolder"] / filename
    return json.loads(path.read_text())


def build_tiny_repos(root: Path, preset: dict[str, Any], seed: int = 0) -> None:
    """Write every component of `preset` (a parsed wan-*.toml) as tiny random weights under `root`."""
    root = Path(root)
    for name, spec in preset["components"].items():
        builder = _BUILDERS.get(spec["class"])
        if builder is None:
            raise ValueError(f"tiny kit: no builder for component {name!r} of class {spec['class']!r}")
        own_seed = component_seed(seed, spec)
        write_folder_once(component_dir(root, spec), {"kit": KIT_VERSION, "seed": own_seed, "class": spec["class"]},
                          lambda folder, b=builder, s=spec: b(folder, own_seed, s))
    first = next(iter(preset["components"].values()))
    index = CONFIGS / first["repo"] / "model_index.json"
    if index.is_file():
        (root / first["repo"]).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(index, root / first["repo"] / "model_index.json")


def _tiny_transformer_kwargs(real: dict[str, Any]) -> dict[str, Any]:
    dim = HEADS * HEAD_DIM
    kwargs: dict[str, Any] = dict(patch_size=tuple(real["patch_size"]), num_attention_heads=HEADS,
                                  attention_head_dim=HEAD_DIM, in_channels=real["in_channels"],
                                  out_channels=real["out_channels"], text_dim=TEXT_DIM, freq_dim=16, ffn_dim=32,
                                  num_layers=2, cross_attn_norm=real.get("cross_attn_norm", True),
                                  qk_norm=real.get("qk_norm", "rms_norm_across_heads"), eps=real.get("eps", 1e-6),
                                  rope_max_seq_len=real.get("rope_max_seq_len", 1024))
    if real.get("image_dim") is not None:
        kwargs["image_dim"] = CLIP_DIM
    if real.get("added_kv_proj_dim") is not None:
        kwargs["added_kv_proj_dim"] = dim
    if real.get("pos_embed_seq_len") is not None:
        kwargs["pos_embed_seq_len"] = 2 * CLIP_TOKENS  # FLF2V: the tokens of two images
    return kwargs


def _build_wan_transformer(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    from diffusers import WanTransformer3DModel

    kwargs = _tiny_transformer_kwargs(real_config(spec))
    seeded_module(seed, lambda: WanTransformer3DModel(**kwargs)).save_pretrained(folder, safe_serialization=True)


def _build_vace_transformer(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    from diffusers import WanVACETransformer3DModel

    real = real_config(spec)
    kwargs = {**_tiny_transformer_kwargs(real), "num_layers": 3, "vace_layers": [0, 2],
              "vace_in_channels": real["vace_in_channels"]}
    seeded_module(seed, lambda: WanVACETransformer3DModel(**kwargs)).save_pretrained(folder, safe_serialization=True)


def _build_animate_transformer(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    from diffusers import WanAnimateTransformer3DModel

    real = real_config(spec)
    kwargs = {**_tiny_transformer_kwargs(real), "latent_channels": real["latent_channels"],
              "motion_encoder_size": 16, "motion_encoder_channel_sizes": {"4": 8, "8": 8, "16": 8},
              "motion_style_dim": 8, "motion_dim": 4, "motion_encoder_dim": 8, "face_encoder_hidden_dim": 8,
              "face_encoder_num_heads": 2, "inject_face_latents_blocks": 1, "motion_encoder_batch_size": 2}
    seeded_module(seed, lambda: WanAnimateTransformer3DModel(**kwargs)).save_pretrained(folder, safe_serialization=True)


def _build_vae(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    from diffusers import AutoencoderKLWan

    real = real_config(spec)
    keys = ("z_dim", "dim_mult", "num_res_blocks", "attn_scales", "temperal_downsample", "latents_mean",
            "latents_std", "is_residual", "in_channels", "out_channels", "patch_size", "scale_factor_temporal",
            "scale_factor_spatial")
    kwargs = {k: real[k] for k in keys if k in real}
    kwargs["base_dim"] = 4  # the real 96 (Wan2.1) / 160 (Wan2.2)
    if real.get("decoder_base_dim") is not None:
        kwargs["decoder_base_dim"] = 8  # the real 256
    seeded_module(seed, lambda: AutoencoderKLWan(**kwargs)).save_pretrained(folder, safe_serialization=True)


def _tokenizer() -> Any:
    """T5's tokenizer class with a character-level unigram vocabulary (no files, no hub)."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(chr(c), -3.0) for c in range(33, 127)] + [("\u2581" + chr(c), -2.5) for c in range(97, 123)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


def _build_tokenizer(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    del seed, spec
    _tokenizer().save_pretrained(folder)


def _build_umt5(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    from transformers import UMT5Config, UMT5EncoderModel

    real = real_config(spec)
    config = UMT5Config(vocab_size=len(_tokenizer()), d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                        relative_attention_num_buckets=real.get("relative_attention_num_buckets", 32),
                        relative_attention_max_distance=real.get("relative_attention_max_distance", 128),
                        feed_forward_proj=real.get("feed_forward_proj", "gated-gelu"),
                        dropout_rate=0.0, pad_token_id=0, eos_token_id=1)
    seeded_module(seed, lambda: UMT5EncoderModel(config)).save_pretrained(folder)


def _build_clip_vision(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    import transformers
    from transformers import CLIPVisionConfig

    config = CLIPVisionConfig(hidden_size=CLIP_DIM, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                              image_size=CLIP_SIZE, patch_size=8, projection_dim=CLIP_DIM)
    cls = getattr(transformers, spec["class"])
    seeded_module(seed, lambda: cls(config)).save_pretrained(folder)


def _build_image_processor(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    del seed
    from transformers import CLIPImageProcessor

    real = real_config(spec, "preprocessor_config.json")
    processor = CLIPImageProcessor(size={"shortest_edge": CLIP_SIZE}, crop_size={"height": CLIP_SIZE, "width": CLIP_SIZE},
                                   image_mean=real.get("image_mean"), image_std=real.get("image_std"),
                                   resample=real.get("resample", 3))
    processor.save_pretrained(folder)


def _copy_scheduler(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    del seed
    shutil.copyfile(CONFIGS / spec["repo"] / spec["subfolder"] / "scheduler_config.json",
                    folder / "scheduler_config.json")


_BUILDERS: dict[str, Callable[[Path, int, dict[str, Any]], None]] = {
    "WanTransformer3DModel": _build_wan_transformer,
    "WanVACETransformer3DModel": _build_vace_transformer,
    "WanAnimateTransformer3DModel": _build_animate_transformer,
    "AutoencoderKLWan": _build_vae,
    "UMT5EncoderModel": _build_umt5,
    "T5TokenizerFast": _build_tokenizer,
    "UniPCMultistepScheduler": _copy_scheduler,
    "CLIPVisionModelWithProjection": _build_clip_vision,
    "CLIPVisionModel": _build_clip_vision,
    "CLIPImageProcessor": _build_image_processor,
}
