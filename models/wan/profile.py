"""The Wan families' memory profile: phases, activation ledgers per component class, frames.

Every Wan preset (T2V, I2V, FLF2V, TI2V, VACE, Animate) plans with this one profile: a component
absent from a preset is simply skipped. What differs between them comes from the component's own
config (channels, heads, `image_dim`, the VAE's compression) and from two preset defaults the plan
reads as options: `vae_spatial` (16 for Wan 2.2's VAE) and `expand_timesteps` (per-token
timesteps). The memory option `chunked` (models/wan/blocks.py) is chosen by the plan when the
stock blocks do not fit (`fallbacks`): DiT and VACE blocks run over token chunks, VACE hints are
parked in host RAM (counted in `host_terms`), Animate's face adapters and head run per latent
frame.
"""
from __future__ import annotations

from typing import Any

from core.dtypes import itemsize, parse_dtype
from memory.activations import ActivationEstimate
from memory.profile import JobShape, MemoryProfile, VaeTiling
from memory.sizes import ComponentSize

FPS = 16
TEXT_TOKENS = 512
CLIP_TOKENS = 257      # CLIP-H/14 at 224 px: 16 x 16 patches + class token
CHUNK_TOKENS = 4096    # models/wan/blocks.DEFAULT_CHUNK_TOKENS
VAE_TILES_PX = (256, 192, 128)


def _ledger():
    from models.wan import ledger  # the checked formulas (tests/test_wan_ledger.py)

    return ledger


def _tokens(size: ComponentSize, shape: JobShape) -> int:
    spatial = int(shape.options.get("vae_spatial", 8))
    return _ledger().wan_tokens(shape.width, shape.height, shape.frames,
                                tuple(size.config.get("patch_size", (1, 2, 2))), spatial=spatial)


def _image_tokens(size: ComponentSize) -> int:
    if size.config.get("image_dim") is None:
        return 0
    return int(size.config.get("pos_embed_seq_len") or CLIP_TOKENS)


def _dit(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    image = _image_tokens(size)
    return _ledger().wan_dit_activation(size.config, _tokens(size, shape), TEXT_TOKENS + image, s,
                                        chunked=bool(shape.options.get("chunked")), chunk_tokens=CHUNK_TOKENS,
                                        per_token_timesteps=bool(shape.options.get("expand_timesteps")),
                                        image_tokens=image)


def _with_reference_frame(size: ComponentSize, shape: JobShape) -> int:
    """Tokens of the latents plus one latent frame: VACE and Animate prepend the reference image's
    latent on the time axis (diffusers' WanVACEPipeline / WanAnimatePipeline.prepare_latents)."""
    tokens = _tokens(size, shape)
    return tokens + tokens // ((shape.frames - 1) // 4 + 1)


def _vace(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    return _ledger().wan_vace_activation(size.config, _with_reference_frame(size, shape), TEXT_TOKENS, s,
                                         chunked=bool(shape.options.get("chunked")), chunk_tokens=CHUNK_TOKENS)


def _animate(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    """Planned per segment (`frames` = the segment's 77): segments run one after another."""
    tokens = _with_reference_frame(size, shape)
    return _ledger().wan_animate_activation(size.config, tokens, TEXT_TOKENS + CLIP_TOKENS, s,
                                            face_frames=shape.frames, chunked=bool(shape.options.get("chunked")),
                                            chunk_tokens=CHUNK_TOKENS)


def _vae(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    """Encode: the I2V / FLF2V condition is a whole video ([image, zeros..., last]); TI2V encodes
    one frame. The plan's tile size applies to both (diffusers' `use_tiling` covers encode too)."""
    ledger = _ledger()
    if phase == "encode":
        frames = 1 if shape.options.get("expand_timesteps") else shape.frames
        return ledger.wan_vae_encode_activation(size.config, shape.width, shape.height, frames, s, tile)
    return ledger.wan_vae_decode_activation(size.config, shape.width, shape.height, shape.frames, s, tile)


def _umt5(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    return _ledger().umt5_activation(size.config, TEXT_TOKENS, s)


def _clip(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    # One image at a time would do, but the pipeline encodes first and last frame in one batch.
    one = _ledger().clip_vision_activation(size.config, s)
    return ActivationEstimate(f"{one.what} x 2 images", 2 * one.bytes, {"per_image": one.bytes}, one.formula)


def host_terms(shape: JobShape, sizes: dict[str, ComponentSize]) -> dict[str, int]:
    """The output video; with `chunked`, VACE's hints too: the chunked VACE blocks write every
    layer's hint (tokens x inner dim) into host buffers (models/wan/blocks.py) until the main blocks
    add them."""
    terms = {"video_uint8": shape.frames * shape.height * shape.width * 3}
    dit = sizes.get("transformer")
    if dit is not None and dit.cls == "WanVACETransformer3DModel" and shape.options.get("chunked"):
        c = dit.config
        inner = int(c["num_attention_heads"]) * int(c["attention_head_dim"])
        s = itemsize(parse_dtype(dit.dtype.split("+")[0]))
        terms["vace_hints_on_host"] = len(c.get("vace_layers") or ()) * _with_reference_frame(dit, shape) * inner * s
    return terms


def job_shape(width: int, height: int, seconds: float | None = None, frames: int | None = None,
              window: int | None = None, options: dict[str, Any] | None = None) -> JobShape:
    options = dict(options or {})
    fps = float(options.get("fps", FPS))
    if frames is None:
        frames = int(round(seconds * fps / 4)) * 4 + 1  # Wan generates 4k + 1 frames
    frames = int(frames)
    return JobShape(width, height, frames, (frames - 1) // 4 + 1, options=options)


PROFILE = MemoryProfile(
    name="wan",
    # One phase per encoder: the loop onloads them one at a time (placement.phase(name)).
    phases=(("text", ("text_encoder",)), ("image", ("image_encoder",)), ("encode", ("vae",)),
            ("denoise", ("transformer",)),
            ("decode", ("vae",))),
    activations={"WanTransformer3DModel": _dit, "WanVACETransformer3DModel": _vace,
                 "WanAnimateTransformer3DModel": _animate, "AutoencoderKLWan": _vae,
                 "UMT5EncoderModel": _umt5, "CLIPVisionModel": _clip, "CLIPVisionModelWithProjection": _clip},
    shape=job_shape,
    fps=FPS,
    host_terms=host_terms,
    vae_tiling=VaeTiling("vae", VAE_TILES_PX,
                         lambda tile: {"tile_sample_min_height": tile, "tile_sample_min_width": tile,
                                       "tile_sample_stride_height": tile * 3 // 4,
                                       "tile_sample_stride_width": tile * 3 // 4}),
    tips=("pick a smaller resolution (832x480 instead of 1280x720: 2.3x fewer tokens)",),
    large_pixels=832 * 480,
    preset_options=("fps", "vae_spatial", "expand_timesteps"),
    fallbacks=({"chunked": True},),
)


def run_options(plan: Any) -> dict[str, Any]:
    """What a Wan loop must do for a plan made with this profile: `WanParams` fields."""
    return {"chunk_tokens": CHUNK_TOKENS if plan.options.get("chunked") else None,
            "vae_tiling": plan.vae_tiling is not None}
