"""Activation memory of one forward pass, from a ledger of the tensors that are alive at once.

Why a ledger and not a rule of thumb: the peak of a DiT forward is set by one line of one block
(here: the concat before `proj_out` of a single-stream block, or the fp32 temporaries of RoPE in
half precision), and the VAE peak by one upsampler conv. Counting which tensors are alive at those
lines gives a formula in L (tokens), D (width), r (MLP ratio) and the dtype that holds at any
size; docs/memory.md derives each term and tests/test_memory_activations.py checks the formulas
against peaks measured on CPU (torch.profiler's allocator events) for small configs.

Every estimate is for batch 1: FramePack runs its CFG passes one after the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# FramePack's conditioning (DESIGN §3): SigLIP so400m at 384 px -> 27 x 27 image tokens; the
# Llama prompt is cropped to at most 256 tokens after the template.
SIGLIP_TOKENS = 729
MAX_TEXT_TOKENS = 256
FRAMEPACK_CLEAN_LATENTS = {"1x": 2, "2x": 2, "4x": 16}  # start + clean-post; 2x; 4x history latents


@dataclass(frozen=True)
class ActivationEstimate:
    """Peak bytes of live activations during one call, with the terms that make it up."""

    what: str
    bytes: int
    terms: dict[str, int] = field(default_factory=dict)
    formula: str = ""

    def to_dict(self) -> dict:
        return {"what": self.what, "bytes": self.bytes, "terms": dict(self.terms), "formula": self.formula}


def _fp32_factor(itemsize: int) -> float:
    """Size of an fp32 temporary relative to a compute-dtype tensor (1 for fp32, 2 for bf16/fp16)."""
    return 4 / itemsize


# --------------------------------------------------------------------------- FramePack transformer


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
    f = _fp32_factor(itemsize)
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


# --------------------------------------------------------------------------- Wan transformer


def wan_tokens(width: int, height: int, frames: int, patch: tuple[int, int, int] = (1, 2, 2)) -> int:
    latent_frames = (frames - 1) // 4 + 1
    return (latent_frames // patch[0]) * (height // 8 // patch[1]) * (width // 8 // patch[2])


def wan_dit_activation(tokens: int, context_tokens: int, dim: int, ffn_dim: int, itemsize: int,
                       head_dim: int = 128, what: str = "Wan transformer forward") -> ActivationEstimate:
    """Peak of a diffusers Wan block (its norms and residual adds run in fp32, f = 4/s):
      FFN  : 4 + 2r     block input (held by the caller), hidden, modulated norm3, ffn proj, GELU
      norm : 2 + 2f     input, hidden, LayerNorm and modulation temporaries in fp32
      attn : 6 + 2f     input, norm, q, k, v, SDPA out; fp32 temporaries of RoPE / RMSNorm
    with r = ffn_dim / dim, plus the fp32 RoPE tables (cos, sin) and the cross-attention keys and
    values of `context_tokens`.
    """
    unit = tokens * dim * itemsize
    f = _fp32_factor(itemsize)
    r = ffn_dim / dim
    peaks = {"ffn": 4 + 2 * r, "norm": 2 + 2 * f, "attn": 6 + 2 * f}
    units = max(peaks.values())
    terms = {"block_peak": int(units * unit), "rope_tables": tokens * head_dim * 8,
             "context_kv": 2 * context_tokens * dim * itemsize}
    formula = (f"A*max(4+2r, 2+2f, 6+2f) + L*hd*8 + 2*Lctx*D*s; A={tokens}*{dim}*{itemsize}, "
               f"r={r:.2f}, f={f:g}")
    return ActivationEstimate(what, sum(terms.values()), terms, formula)


# --------------------------------------------------------------------------- HunyuanVideo VAE decode


def _conv_pad_factor(t: int, h: int, w: int) -> float:
    # Causal 3x3x3 conv pads 2 frames in front and 1 pixel on each side (replicate).
    return (t + 2) * (h + 2) * (w + 2) / (t * h * w)


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
        p = _conv_pad_factor(t, h, w)
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
            value = block_input + c_out * t * h * w * s + out * s * (3 + 2 * _conv_pad_factor(t2, h2, w2))
            if value > peak:
                peak, where = value, f"up block {i} upsampler"
            t, h, w = t2, h2, w2
    c0 = chans[-1]
    vox = t * h * w
    out_conv = c0 * vox * s * (2 + 2 * _conv_pad_factor(t, h, w))
    if out_conv > peak:
        peak, where = out_conv, "conv_out"
    return int(peak), where


@dataclass(frozen=True)
class VaeTiling:
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
                                  tiling: VaeTiling | None = VaeTiling(),
                                  output_fp32: bool = False) -> ActivationEstimate:
    """Peak of `vae.decode(latents)` for one FramePack section (framewise decoding is always on in
    diffusers; spatial tiling when `tiling` is given, as FramePack does below 60 GB).
    `output_fp32`: the caller converts the decoded video with `.float()` on the device
    (models/framepack/encode.vae_decode does), so the output exists twice for a moment."""
    scale_s = int(config.get("spatial_compression_ratio", 8))
    scale_t = int(config.get("temporal_compression_ratio", 4))
    h_lat, w_lat = height // scale_s, width // scale_s
    tiling = tiling or VaeTiling(tile_px=10**9, stride_px=10**9)
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
    conv_in = (3 * t * h * w) * (1 + 2 * _conv_pad_factor(t, h, w)) * s + c_prev * t * h * w * s
    peak, where = conv_in, "conv_in"
    n_spatial = int(math.log2(config.get("spatial_compression_ratio", 8)))
    for i, c_out in enumerate(chans):
        block_input = c_prev * t * h * w * s
        for j in range(layers):
            c_in = c_prev if j == 0 else c_out
            vox = t * h * w
            p = _conv_pad_factor(t, h, w)
            value = max(c_in * vox * (2 + 2 * p) + c_out * vox, c_in * vox + c_out * vox * (2 + 2 * p)) * s
            value += block_input if j > 0 else 0
            if value > peak:
                peak, where = value, f"down block {i} resnet {j}"
        c_prev = c_out
        if i < n_spatial:
            # Stride-2 causal conv: the block's last output, its padded copy, the kernel's input copy
            # and a workspace of about one more padded input (oneDNN measured 0.9-1.6x on CPU).
            p = _conv_pad_factor(t, h, w)
            h2, w2 = (h + 1) // 2, (w + 1) // 2
            value = block_input + c_out * t * h * w * s * (1 + 3 * p) + c_out * t * h2 * w2 * s
            if value > peak:
                peak, where = value, f"down block {i} downsampler"
            h, w = h2, w2
    terms = {"encoder_peak": int(peak)}
    return ActivationEstimate(f"VAE encode of {frames} frame(s) at {width}x{height}", int(peak), terms,
                              f"encoder conv ledger, peak at {where}")


# --------------------------------------------------------------------------- encoders


def text_encoder_activation(hidden: int, intermediate: int, layers: int, tokens: int, itemsize: int,
                            keep_hidden_states: bool = True, what: str = "text encoder") -> ActivationEstimate:
    """A pre-norm transformer layer peaks in its MLP: x, norm, gate, up, act*up (3 * intermediate)
    plus fp32 RMSNorm temporaries; HunyuanVideo asks for all hidden states (hidden_states[-3])."""
    unit = tokens * itemsize
    terms = {
        "layer_peak": unit * (3 * hidden + 3 * intermediate) + tokens * hidden * 4 * 2,
        "hidden_states_kept": unit * hidden * (layers + 1) if keep_hidden_states else 0,
    }
    return ActivationEstimate(what, sum(terms.values()), terms, "L*s*(3H+3I) + 8LH + (layers+1)*L*H*s")


def vision_encoder_activation(hidden: int, intermediate: int, tokens: int, itemsize: int,
                              what: str = "image encoder") -> ActivationEstimate:
    terms = {"layer_peak": tokens * itemsize * (4 * hidden + 2 * intermediate)}
    return ActivationEstimate(what, sum(terms.values()), terms, "L*s*(4H+2I)")


def generic_activation(weight_bytes: int, what: str) -> ActivationEstimate:
    """For components without a ledger: a quarter of their weights (stated as a guess in the plan)."""
    return ActivationEstimate(what, weight_bytes // 4, {"guess_quarter_of_weights": weight_bytes // 4},
                              "weights/4 (no ledger for this class)")
