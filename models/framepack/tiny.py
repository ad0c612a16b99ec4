"""Tiny random-weight twins of the FramePack repos, written in the real repos' layout.

`build_tiny_repos(root, preset)` writes, for every component of a FramePack preset, a folder
`root/<owner>/<repo>/<subfolder>` holding what `from_pretrained` expects (config.json + safetensors,
tokenizer files, preprocessor config), built with the same classes as the real checkpoints. The
normal loader (`models.framepack.loading`) then loads them, so every code path except the size of
the numbers is the real one. Output of tiny weights is noise, by construction.

Sizes follow DESIGN §6 (transformer 2 heads x 10, 1+1 blocks; VAE latent 4 with 4 blocks of 8
channels; Llama hidden 16; CLIP hidden 8; SigLIP hidden 16), so a whole tiny generation at a 64 px
bucket takes seconds on a CPU.

The builds are seeded (same seed -> byte-identical safetensors) and idempotent: a component folder
carrying a marker file with the same seed and kit version is left alone. Each component is written
to a temporary sibling folder first and renamed into place, so a crash never leaves a folder that
looks complete.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable

from models.tiny_layout import (  # noqa: F401 (re-export)
    component_dir,
    component_seed,
    seeded_module,
    tiny_component_paths,
    write_folder_once,
)

# Bump when the tiny configs change: folders built by an older kit are rebuilt.
KIT_VERSION = 2

# HunyuanVideo prompt template (DESIGN §3, crop_start 95). Only needed here to give the tiny Llama
# tokenizer merges for the template's words, so that the template prefix is exactly 95 tokens
# like with the real Llama-3 tokenizer and cropping at 95 keeps the user's words.
_LLAMA_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
# Llama-3's pre-tokenizer split (words with an optional leading space/punctuation, 1-3 digits, ...).
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Facts of the real hunyuanvideo-community/HunyuanVideo repo: its pipeline index and scheduler.
_MODEL_INDEX = {
    "_class_name": "HunyuanVideoPipeline",
    "_diffusers_version": "0.32.0.dev0",
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "text_encoder": ["transformers", "LlamaModel"],
    "text_encoder_2": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "LlamaTokenizerFast"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "transformer": ["diffusers", "HunyuanVideoTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLHunyuanVideo"],
}
_SCHEDULER_CONFIG = {
    "_class_name": "FlowMatchEulerDiscreteScheduler",
    "_diffusers_version": "0.32.0.dev0",
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "invert_sigmas": False,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 7.0,
    "shift_terminal": None,
    "use_beta_sigmas": False,
    "use_dynamic_shifting": False,
    "use_exponential_sigmas": False,
    "use_karras_sigmas": False,
}

# Tiny sizes shared by the builders that must agree with each other.
TEXT_DIM = 16        # Llama hidden == transformer text_embed_dim
POOLED_DIM = 8       # CLIP-L hidden == transformer pooled_projection_dim
IMAGE_DIM = 16       # SigLIP hidden == transformer image_proj_dim
SIGLIP_SIZE = 32     # SigLIP input side (the real one is 384)
LATENT_CHANNELS = 4  # VAE latent channels == transformer in/out channels


def build_tiny_repos(root: Path, preset: dict[str, Any], seed: int = 0) -> None:
    """Write every component of `preset` (parsed framepack*.toml) as tiny random weights under `root`."""
    root = Path(root)
    components: dict[str, dict[str, Any]] = preset["components"]
    for name, spec in components.items():
        builder = _BUILDERS.get(spec["class"])
        if builder is None:
            raise ValueError(f"tiny kit: no builder for component {name!r} of class {spec['class']!r}")
        target = component_dir(root, spec)
        # Each component gets its own seed so that e.g. the inverted and F1 transformers differ.
        own_seed = component_seed(seed, spec)
        _write_once(target, own_seed, spec["class"], lambda folder: builder(folder, own_seed))
    # The text encoders and VAE live in one diffusers-format repo with a pipeline index, like the real one.
    vae_spec = components.get("vae")
    if vae_spec is not None:
        repo_root = Path(root) / vae_spec["repo"]
        _write_json_atomic(repo_root / "model_index.json", _MODEL_INDEX)
        _write_json_atomic(repo_root / "scheduler" / "scheduler_config.json", _SCHEDULER_CONFIG)


def _write_once(target: Path, seed: int, cls: str, write: Callable[[Path], None]) -> None:
    write_folder_once(target, {"kit": KIT_VERSION, "seed": seed, "class": cls}, write)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Builders, one per real class. Each writes into `folder` what the real repo has there.


def _build_transformer(folder: Path, seed: int) -> None:
    from diffusers import HunyuanVideoFramepackTransformer3DModel

    model = seeded_module(seed, lambda: HunyuanVideoFramepackTransformer3DModel(
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        num_attention_heads=2,
        attention_head_dim=10,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        mlp_ratio=4.0,
        patch_size=2,
        patch_size_t=1,
        qk_norm="rms_norm",
        guidance_embeds=True,
        text_embed_dim=TEXT_DIM,
        pooled_projection_dim=POOLED_DIM,
        rope_theta=256.0,
        rope_axes_dim=(2, 4, 4),  # sums to the head dim (10), like (16, 56, 56) sums to 128
        image_condition_type=None,
        has_image_proj=True,
        image_proj_dim=IMAGE_DIM,
        has_clean_x_embedder=True,
    ))
    model.save_pretrained(folder, safe_serialization=True)


def _build_vae(folder: Path, seed: int) -> None:
    from diffusers import AutoencoderKLHunyuanVideo

    # Four blocks keep the real 8x spatial / 4x temporal compression; the scaling factor is the real one.
    model = seeded_module(seed, lambda: AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        scaling_factor=0.476986,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    ))
    model.save_pretrained(folder, safe_serialization=True)


def _build_llama(folder: Path, seed: int) -> None:
    from transformers import LlamaConfig, LlamaModel

    tokenizer = _llama_tokenizer()
    config = LlamaConfig(
        vocab_size=_round_up(len(tokenizer), 64),
        hidden_size=TEXT_DIM,
        intermediate_size=32,
        num_hidden_layers=3,  # hidden_states[-3] is then the output of the first layer
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = seeded_module(seed, lambda: LlamaModel(config))
    model.save_pretrained(folder)


def _build_clip_text(folder: Path, seed: int) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _clip_tokenizer()
    config = CLIPTextConfig(
        vocab_size=_round_up(len(tokenizer), 64),
        hidden_size=POOLED_DIM,
        intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=POOLED_DIM,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,  # pooling reads the hidden state at the first EOS
        pad_token_id=tokenizer.pad_token_id,
    )
    model = seeded_module(seed, lambda: CLIPTextModel(config))
    model.save_pretrained(folder)


def _build_siglip(folder: Path, seed: int) -> None:
    from transformers import SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(
        hidden_size=IMAGE_DIM,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=SIGLIP_SIZE,
        patch_size=8,
    )
    model = seeded_module(seed, lambda: SiglipVisionModel(config))
    model.save_pretrained(folder)


def _build_siglip_processor(folder: Path, seed: int) -> None:
    del seed  # no weights
    import importlib.util

    import transformers

    # Without torchvision (never installed here) transformers 5 uses the PIL processor anyway;
    # naming it avoids a warning. Both save the same preprocessor_config.json.
    name = "SiglipImageProcessor" if importlib.util.find_spec("torchvision") else "SiglipImageProcessorPil"
    processor = getattr(transformers, name)(
        size={"height": SIGLIP_SIZE, "width": SIGLIP_SIZE},
        resample=3,  # bicubic, as the real flux_redux_bfl processor
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor.save_pretrained(folder)


def _build_llama_tokenizer(folder: Path, seed: int) -> None:
    del seed
    tokenizer = _llama_tokenizer()
    tokenizer.save_pretrained(folder)
    # The real repo names the class LlamaTokenizerFast; keep that so the loader sees the real config.
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "LlamaTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _build_clip_tokenizer(folder: Path, seed: int) -> None:
    del seed
    _clip_tokenizer().save_pretrained(folder)


def _round_up(n: int, multiple: int) -> int:
    return (n + multiple - 1) // multiple * multiple


def _llama_tokenizer() -> Any:
    """A byte-level BPE tokenizer shaped like Llama-3's, built in code (no files, no hub).

    Its merges spell out exactly the words of the HunyuanVideo template, so the template prefix is
    95 tokens (BOS + 94) as with the real tokenizer; any other text falls back to single bytes or
    partial merges, so different prompts still give different token ids.
    """
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
    )
    from transformers import PreTrainedTokenizerFast

    from models.framepack.encode import PROMPT_TEMPLATE

    pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    vocab: dict[str, int] = {}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    merges: list[tuple[str, str]] = []
    special_split = "|".join(re.escape(s) for s in _LLAMA_SPECIALS)
    for segment in re.split(special_split, PROMPT_TEMPLATE.replace("{}", "")):
        for word, _ in pre_tokenizer.pre_tokenize_str(segment):
            merged = word[0]
            for char in word[1:]:
                if merged + char not in vocab:
                    vocab[merged + char] = len(vocab)
                    merges.append((merged, char))
                merged += char
    for special in _LLAMA_SPECIALS:
        vocab[special] = len(vocab)

    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizer
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(_LLAMA_SPECIALS)
    bos = "<|begin_of_text|>"
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token="<|end_of_text|>",
        pad_token="<|end_of_text|>",
        padding_side="right",  # the HunyuanVideo crop assumes right padding
        model_max_length=131072,
    )


def _clip_tokenizer() -> Any:
    """CLIP's tokenizer class with a character-level vocabulary (no merges)."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


_BUILDERS: dict[str, Callable[[Path, int], None]] = {
    "HunyuanVideoFramepackTransformer3DModel": _build_transformer,
    "AutoencoderKLHunyuanVideo": _build_vae,
    "LlamaModel": _build_llama,
    "CLIPTextModel": _build_clip_text,
    "SiglipVisionModel": _build_siglip,
    "SiglipImageProcessor": _build_siglip_processor,
    "LlamaTokenizerFast": _build_llama_tokenizer,
    "CLIPTokenizer": _build_clip_tokenizer,
}
