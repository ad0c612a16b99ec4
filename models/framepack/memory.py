"""FramePack's memory profile: its phases, its activation ledgers and what it holds on the host.

The ledgers (docs/memory.md derives every term; tests/test_memory_activations.py checks them against
peaks measured on CPU) cover the HunyuanVideo-Framepack DiT, the HunyuanVideo causal VAE and the
three encoders. Sizes come from the real configs built on `meta` (memory.sizes); this module only
says how much activation memory one call needs and which components each phase uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from memory.activations import (
    ActivationEstimate,
    conv_pad_factor,
    fp32_factor,
    text_encoder_activation,
    vision_encoder_activation,
)
from memory.profile import JobShape, MemoryProfile, VaeTiling
from memory.sizes import ComponentSize
from models.framepack.schedule import HISTORY_LATENTS, section_count, total_frames

FPS = 30
# FramePack's conditioning (DESIGN §3): SigLIP so400m at 384 px -> 27 x 27 image tokens; the
# Llama prompt is cropped to at most 256 tokens after the template (95 tokens).
SIGLIP_TOKENS = 729
MAX_TEXT_TOKENS = 256
TEMPLATE_TOKENS = 95
FRAMEPACK_CLEAN_LATENTS = {"1x": 2, "2x": 2, "4x": 16}  # start + clean-post; 2x; 4x history latents
VAE_TILES_PX = (256, 192, 128)


# --------------------------------------------------------------------------- transformer


def framepack_tokens(width: int, height: int, window: int = 9, text_tokens: int = MAX_TEXT_TOKENS,
                     image_tokens: int = SIGLIP_TOKENS, patch: int = 2) -> dict[str, int]:
    """Tokens of one FramePack step. The history is always 1x/2x/4x packed to a fixed size, so this
    does not depend on the video length: that is FramePack's point."""
    h, w = height // 8, width // 8  # latent grid (VAE: 8x spatial)
    noisy = window * (h // patch) * (w // patch)
    clean_1x = FRAMEPACK_CLEAN_LATENTS["1x"] * (h // patch) * (w // patch)
    # 2x and 4x embedders pad up to their kernels (2,4,4) and (4,8,8) before the strided conv.
    clean_2x = math.ceil(FRAMEPACK_CLEAN_LATENTS["2x"] / 2) * math.ceil(h / 4) * math.ceil(w / 4)
    clean_4x = math.ceil(FRAMEPACK_CLEAN_LATENTS["4x"] / 4) * math.ceil(h / 8) * math.ceil(w / 8)
    latent_tokens = noisy + clean_1x + clean_2x + clean_4x
    context = text_tokens + image_tokens
    return {"noisy": noisy, "clean_1x": clean_1x, "clean_2x": clean_2x, "clean_4x": clean_4x,
            "latent": latent_tokens, "context": context, "total": latent_tokens + context}


def hunyuan_dit_activation(l_img: int, l_ctx: int, dim: int, head_dim: int, mlp_ratio: float, itemsize: int,
                           l_history: int = 0, rope_tokens: int | None = None,
                           what: str = "transformer forward") -> ActivationEstimate:
    """Peak of a HunyuanVideo(-Framepack) forward: max over the three peaks of a single-stream
    block (dual-stream blocks peak lower), plus what the top-level forward keeps alive.

    Units of A = L*D*s (L = l_img + l_ctx tokens, s = bytes per element, f = 4/s):
      MLP   : 3 + 2r          caller's input, concat X (residual), norm, proj_mlp out, GELU out
      RoPE  : 7 + r + (1+3f)*l_img/L   ... + attention concat, q, k, v; fp32 temporaries of RoPE
      out   : 8 + 2r          ... + SDPA out, attn concat, [attn, mlp] concat, proj_out, gate*
    plus RoPE tables (cos, sin: head_dim fp32 each per token of `rope_tokens`, default l_img) and
    the embedded history tokens that the top-level forward holds (l_history*D*s). SDPA
    memory-efficient/flash kernels keep O(L) extra (logsumexp) only, so no L^2 term.
    """
    rope_tokens = l_img if rope_tokens is None else rope_tokens
    length = l_img + l_ctx
    unit = length * dim * itemsize
    f = fp32_factor(itemsize)
    r = mlp_ratio
    peaks = {
        "single_mlp": 3 + 2 * r,
        "single_rope": 7 + r + (1 + 3 * f) * l_img / length,
        "single_out": 8 + 2 * r,
        "dual_ff": 4 + 2 * r,
    }
    block_units = max(peaks.values())
    terms = {
        "block_peak": int(block_units * unit),
        "rope_tables": rope_tokens * head_dim * 4 * 2,
        "history_tokens": l_history * dim * itemsize,
    }
    formula = (f"A*max(3+2r, 7+r+(1+3f)*Limg/L, 8+2r) + Lrope*hd*8 + Lhist*D*s; "
               f"A=L*D*s={length}*{dim}*{itemsize}, r={r:g}, f={f:g}, units={block_units:.2f}")
    return ActivationEstimate(what, sum(terms.values()), terms, formula)


def framepack_transformer_activation(config: dict, width: int, height: int, itemsize: int, window: int = 9,
                                     text_tokens: int = MAX_TEXT_TOKENS,
                                     image_tokens: int = SIGLIP_TOKENS) -> ActivationEstimate:
    tok = framepack_tokens(width, height, window, text_tokens, image_tokens, int(config.get("patch_size", 2)))
    heads, head_dim = int(config["num_attention_heads"]), int(config["attention_head_dim"])
    # diffusers computes the RoPE of every history scale at the full patch grid (then pools it for
    # 2x/4x) and keeps those tables alive for the whole forward: 2 + 2 + 16 frames of the grid.
    grid = (height // 8 // 2) * (width // 8 // 2)
    rope_tokens = tok["latent"] + sum(FRAMEPACK_CLEAN_LATENTS.values()) * grid
    est = hunyuan_dit_activation(tok["latent"], tok["context"], heads * head_dim, head_dim,
                                 float(config.get("mlp_ratio", 4.0)), itemsize,
                                 l_history=tok["latent"] - tok["noisy"], rope_tokens=rope_tokens,
                                 what=f"transformer step at {width}x{height}, {tok['total']} tokens")
    return est


def hunyuan_vae_decoder_peak(config: dict, t_lat: int, h_lat: int, w_lat: int, itemsize: int) -> tuple[int, str]:
    """Peak bytes of one `decoder(tile)` call, walking the decoder's stages.

    Per causal conv the input, its padded copy and one more padded-size copy (the conv kernel's own
    input layout: oneDNN reorders on CPU, cuDNN takes a workspace) are alive with the output.
    ResNet:    x + SiLU(norm(x)) + 2*pad(x) + conv_out            (conv1; conv2 likewise)
    Upsampler: x + interpolated + cat + 2*pad(cat) + conv_out     (nearest 2x, then conv)
    and, from a block's second layer on, the block's input that the decoder still holds.
    Mid attention: q, k, v, out over N = t*h*w tokens and the N^2 causal mask (bool + dtype).
    """
    chans = list(reversed(config["block_out_channels"]))
    layers = int(config.get("layers_per_block", 2)) + 1
    n_spatial = int(math.log2(config.get("spatial_compression_ratio", 8)))
    n_time = int(math.log2(config.get("temporal_compression_ratio", 4)))
    s = itemsize
    peak, where = 0, ""

    def resnet(c_in: int, c_out: int, t: int, h: int, w: int) -> float:
        vox = t * h * w
        p = conv_pad_factor(t, h, w)
        conv1 = c_in * vox * (2 + 2 * p) + c_out * vox
        conv2 = c_in * vox + c_out * vox * (2 + 2 * p)
        return max(conv1, conv2) * s

    t, h, w = t_lat, h_lat, w_lat
    c = chans[0]
    n = t * h * w
    mid_attn = (c * n * 6 + n * n) * s + n * n  # x, norm, q, k, v, out; mask in dtype + bool
    for value, name in ((resnet(c, c, t, h, w), "mid resnet"), (mid_attn, "mid attention")):
        if value > peak:
            peak, where = value, name
    c_prev = c
    for i, c_out in enumerate(chans):
        # The decoder's frame keeps the up block's input alive while the block runs its 2nd+ layer.
        block_input = c_prev * t * h * w * s
        for j in range(layers):
            value = resnet(c_prev if j == 0 else c_out, c_out, t, h, w) + (block_input if j > 0 else 0)
            if value > peak:
                peak, where = value, f"up block {i} resnet {j}"
        c_prev = c_out
        final = i == len(chans) - 1
        up_hw = i < n_spatial
        up_t = (i >= len(chans) - 1 - n_time) and not final
        if up_hw or up_t:
            t2 = 2 * t - 1 if up_t else t
            h2, w2 = (2 * h, 2 * w) if up_hw else (h, w)
            out = c_out * t2 * h2 * w2
            value = block_input + c_out * t * h * w * s + out * s * (3 + 2 * conv_pad_factor(t2, h2, w2))
            if value > peak:
                peak, where = value, f"up block {i} upsampler"
            t, h, w = t2, h2, w2
    c0 = chans[-1]
    vox = t * h * w
    out_conv = c0 * vox * s * (2 + 2 * conv_pad_factor(t, h, w))
    if out_conv > peak:
        peak, where = out_conv, "conv_out"
    return int(peak), where


@dataclass(frozen=True)
class TileSettings:
    """diffusers' HunyuanVideo VAE tiling (defaults: 256 px tiles, stride 192, 16 frames, stride 12)."""

    tile_px: int = 256
    stride_px: int = 192
    tile_frames: int = 16
    stride_frames: int = 12

    def to_dict(self) -> dict:
        return {"tile_sample_min_height": self.tile_px, "tile_sample_min_width": self.tile_px,
                "tile_sample_stride_height": self.stride_px, "tile_sample_stride_width": self.stride_px,
                "tile_sample_min_num_frames": self.tile_frames, "tile_sample_stride_num_frames": self.stride_frames}


def hunyuan_vae_decode_activation(config: dict, width: int, height: int, latent_frames: int, itemsize: int,
                                  tiling: TileSettings | None = TileSettings(),
                                  output_fp32: bool = False) -> ActivationEstimate:
    """Peak of `vae.decode(latents)` for one FramePack section (framewise decoding is always on in
    diffusers; spatial tiling when `tiling` is given, as FramePack does below 60 GB).
    `output_fp32`: the caller converts the decoded video with `.float()` on the device
    (models/framepack/encode.vae_decode does), so the output exists twice for a moment."""
    scale_s = int(config.get("spatial_compression_ratio", 8))
    scale_t = int(config.get("temporal_compression_ratio", 4))
    h_lat, w_lat = height // scale_s, width // scale_s
    tiling = tiling or TileSettings(tile_px=10**9, stride_px=10**9)
    tile_lat_t = tiling.tile_frames // scale_t
    t_tile = min(latent_frames, tile_lat_t + 1)
    tile_lat = tiling.tile_px // scale_s
    th, tw = min(h_lat, tile_lat), min(w_lat, tile_lat)
    call_peak, where = hunyuan_vae_decoder_peak(config, t_tile, th, tw, itemsize)
    frames = (latent_frames - 1) * scale_t + 1
    out_bytes = 3 * frames * height * width * itemsize
    tile_frames_px = (t_tile - 1) * scale_t + 1
    n_temporal = max(1, math.ceil(latent_frames / max(1, tile_lat_t - 1))) if latent_frames > tile_lat_t else 1
    # Spatial tiles are decoded to their full (overlapping) size and all kept until blended.
    stride_lat = max(1, tiling.stride_px // scale_s)
    ext_h = sum(min(tile_lat, h_lat - i) for i in range(0, h_lat, stride_lat)) * scale_s
    ext_w = sum(min(tile_lat, w_lat - j) for j in range(0, w_lat, stride_lat)) * scale_s
    per_px = 3 * tile_frames_px * itemsize  # bytes per pixel of one decoded temporal tile
    tiled = ext_h * ext_w > th * tw * scale_s * scale_s
    prev_temporal = out_bytes * (n_temporal - 1) // n_temporal
    prev_spatial = per_px * (ext_h * ext_w - th * tw * scale_s * scale_s) if tiled else 0
    candidates = {
        "during last decoder call": call_peak + prev_temporal + prev_spatial,
        "joining spatial tiles": prev_temporal + (per_px * (ext_h * ext_w + 2 * height * width) if tiled else 0),
        "final concat": 2 * out_bytes,
        "output .float()": out_bytes + out_bytes * 4 // itemsize if output_fp32 else 0,
    }
    moment = max(candidates, key=candidates.get)
    terms = {"decoder_call": call_peak, "earlier_temporal_tiles": prev_temporal, "earlier_spatial_tiles": prev_spatial}
    if moment != "during last decoder call":
        terms = {moment.replace(" ", "_"): candidates[moment]}
    formula = (f"max(decoder({t_tile}x{th}x{tw} latent tile) peak at {where} + decoded tiles kept, "
               f"tiles joined, 2*3*F*H*W*s{', 3*F*H*W*(s+4)' if output_fp32 else ''}); F={frames} frames; "
               f"peak: {moment}")
    return ActivationEstimate(f"VAE decode of {latent_frames} latent frames at {width}x{height}",
                              candidates[moment], terms, formula)


def hunyuan_vae_encode_activation(config: dict, width: int, height: int, frames: int,
                                  itemsize: int) -> ActivationEstimate:
    """Peak of `vae.encode(pixels)` without tiling (FramePack encodes single images): the
    full-resolution ResNets of the first down block dominate. Same conv ledger as the decoder; a
    1-frame input is tripled by the causal time padding, which is why one frame costs this much."""
    chans = list(config["block_out_channels"])
    layers = int(config.get("layers_per_block", 2))
    s = itemsize
    t, h, w = frames, height, width
    peak, where = 0.0, ""
    c_prev = chans[0]
    conv_in = (3 * t * h * w) * (1 + 2 * conv_pad_factor(t, h, w)) * s + c_prev * t * h * w * s
    peak, where = conv_in, "conv_in"
    n_spatial = int(math.log2(config.get("spatial_compression_ratio", 8)))
    for i, c_out in enumerate(chans):
        block_input = c_prev * t * h * w * s
        for j in range(layers):
            c_in = c_prev if j == 0 else c_out
            vox = t * h * w
            p = conv_pad_factor(t, h, w)
            value = max(c_in * vox * (2 + 2 * p) + c_out * vox, c_in * vox + c_out * vox * (2 + 2 * p)) * s
            value += block_input if j > 0 else 0
            if value > peak:
                peak, where = value, f"down block {i} resnet {j}"
        c_prev = c_out
        if i < n_spatial:
            # Stride-2 causal conv: the block's last output, its padded copy, the kernel's input copy
            # and a workspace of about one more padded input (oneDNN measured 0.9-1.6x on CPU).
            p = conv_pad_factor(t, h, w)
            h2, w2 = (h + 1) // 2, (w + 1) // 2
            value = block_input + c_out * t * h * w * s * (1 + 3 * p) + c_out * t * h2 * w2 * s
            if value > peak:
                peak, where = value, f"down block {i} downsampler"
            h, w = h2, w2
    terms = {"encoder_peak": int(peak)}
    return ActivationEstimate(f"VAE encode of {frames} frame(s) at {width}x{height}", int(peak), terms,
                              f"encoder conv ledger, peak at {where}")


# --------------------------------------------------------------------------- the profile


def _transformer(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    return framepack_transformer_activation(size.config, shape.width, shape.height, s, window=shape.window)


def _vae(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    if phase == "encode":
        return hunyuan_vae_encode_activation(size.config, shape.width, shape.height, 1, s)
    tiling = TileSettings(tile, tile * 3 // 4) if tile else None
    return hunyuan_vae_decode_activation(size.config, shape.width, shape.height, 2 * shape.window + 1, s, tiling,
                                         output_fp32=True)


def _llama(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    cfg = size.config
    return text_encoder_activation(cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"],
                                   TEMPLATE_TOKENS + MAX_TEXT_TOKENS, s, what="Llama text encoder (351 tokens)")


def _clip_text(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    cfg = size.config
    return text_encoder_activation(cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], 77, s,
                                   keep_hidden_states=False, what="CLIP text encoder (77 tokens)")


def _siglip(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    cfg = size.config
    tokens = (cfg.get("image_size", 384) // cfg.get("patch_size", 14)) ** 2
    return vision_encoder_activation(cfg["hidden_size"], cfg["intermediate_size"], tokens, s,
                                     what=f"SigLIP image encoder ({tokens} tokens)")


def job_shape(width: int, height: int, seconds: float | None = None, frames: int | None = None,
              window: int | None = None, options: dict[str, Any] | None = None) -> JobShape:
    window = int(window or 9)
    if seconds is None:
        seconds = (int(frames) - 1) / FPS
    sections = section_count(seconds, window, FPS)
    return JobShape(width, height, total_frames(sections, window),
                    latent_frames=1 + HISTORY_LATENTS + sections * window + 1, sections=sections, window=window,
                    options=dict(options or {}))


def host_terms(shape: JobShape, sizes: Any = None) -> dict[str, int]:
    """History latents are fp32, the video is a preallocated uint8 buffer (pipeline.py), and a
    decoded section arrives on the host as fp32."""
    w, h = shape.width, shape.height
    return {"video_uint8": shape.frames * h * w * 3,
            "history_latents_fp32": 16 * shape.latent_frames * (h // 8) * (w // 8) * 4,
            "decoded_section_fp32": 3 * ((2 * shape.window) * 4 + 1) * h * w * 4}


PROFILE = MemoryProfile(
    name="framepack",
    phases=(("encode", ("text_encoder", "text_encoder_2", "image_encoder", "vae")),
            ("denoise", ("transformer",)),
            ("decode", ("vae",))),
    activations={"HunyuanVideoFramepackTransformer3DModel": _transformer, "AutoencoderKLHunyuanVideo": _vae,
                 "LlamaModel": _llama, "CLIPTextModel": _clip_text, "SiglipVisionModel": _siglip},
    shape=job_shape,
    fps=FPS,
    host_terms=host_terms,
    vae_tiling=VaeTiling("vae", VAE_TILES_PX, lambda tile: TileSettings(tile, tile * 3 // 4).to_dict()),
    tips=("pick a smaller bucket (e.g. 544x704 or 480x832 -> fewer tokens)",),
    large_pixels=544 * 704,
)
