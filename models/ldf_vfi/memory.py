"""LDF-VFI's memory profile: the ledger of the implementation that runs (tile grid, chunked blocks).

One DiT call covers a 60-frame window as `tiles` (nT, nH, nW) of `tok` tokens each, S = all of
them, D the width, s the bytes per element, A = S*D*s. With the chunked block runner
(models/wan/blocks.py) only these exist at full length at the block's peak, the attention call:

    x, q, k, v, attention output                                  5 A
    one spatial tile's neighbour box of keys and values gathered  2 * keys * D * s
    its queries gathered, their SDPA output, its copy back        3 * queries * D * s
    RoPE cos/sin tables (fp32, tile-major copies)                 2 * S * hd * 4
    the attention kernel's working memory (flash-style)           `attention_scratch`

(other moments — the patch embedding with the raster and tile-major copies of x, the chunked
FFN, the output head — stay below it at real sizes; all are computed and the largest wins).
A stock Wan block would hold ~9.5 A at its FFN (`wan_dit_activation`, chunked=False): the
chunked runner is what makes 1080p fit. tests/test_ldf_vfi_memory.py checks the ledger against
peaks measured on CPU.
"""
from __future__ import annotations

from typing import Any

from memory.activations import ActivationEstimate
from memory.profile import JobShape, MemoryProfile
from memory.sizes import ComponentSize

FPS = 30
WINDOW_FRAMES = 60
CHUNK_TILES = 8           # models/ldf_vfi/transformer.CHUNK_TILES


def attention_scratch(queries: int, keys: int, heads: int, head_dim: int) -> int:
    """Working memory of one flash-style SDPA call: PyTorch's CPU kernel keeps, per thread, a
    (q split x kv split) score block, row max and sum, an output block (float32), and returns the
    log-sum-exp of every query (q split 256 / 64 / 32 for >= 768 / >= 192 / fewer queries, kv split
    min(512, keys); measured exactly on CPU). CUDA kernels need only the log-sum-exp."""
    q_split = 256 if queries >= 768 else (64 if queries >= 192 else 32)
    kv_split = min(512, keys)
    return (q_split * kv_split + 2 * q_split + q_split * head_dim) * 4 + heads * queries * 4


def ldf_dit_activation(config: dict, tiles: tuple[int, int, int], tokens_per_tile: int, max_keys: int,
                       queries_per_call: int, itemsize: int, chunk_tiles: int = CHUNK_TILES,
                       in_channels: int = 36, window: tuple[int, int, int] = (2, 1, 1)) -> ActivationEstimate:
    """Peak of one LDF-VFI transformer forward (batch 1); see the module docstring."""
    heads, hd = int(config["num_attention_heads"]), int(config["attention_head_dim"])
    dim, ffn = heads * hd, int(config["ffn_dim"])
    patch = config.get("patch_size", (1, 2, 2))
    volume = int(patch[0]) * int(patch[1]) * int(patch[2])
    out_per_token = int(config.get("out_channels", 16)) * volume
    n_tiles = tiles[0] * tiles[1] * tiles[2]
    S, s = n_tiles * tokens_per_tile, itemsize
    A = S * dim * s
    c = min(S, chunk_tiles * tokens_per_tile)  # tokens per chunk
    rope = 2 * S * hd * 4
    fixed = rope + S * 8 + n_tiles * 7 * dim * 4  # + token -> tile index, per-tile modulation
    # A key box spanning every row and column of tiles is a view of k / v; a smaller one is gathered.
    box_is_view = all(min(n, 2 * r + 1) >= n for n, r in zip(tiles[1:], window[1:]))
    box = 0 if box_is_view else 2 * max_keys * dim * s
    scratch = attention_scratch(queries_per_call, max_keys, heads, hd)
    moments = {
        "attention": 5 * A + box + 3 * queries_per_call * dim * s + scratch + fixed,
        # the assembled input, patch embedding (raster + tile-major x) and both RoPE table pairs
        "embedding": S * volume * in_channels * s + 2 * A + 2 * rope,
        # projections: x, q, k, v being filled, and a chunk's fp32 norm/modulation/RoPE temporaries
        "projection": 4 * A + c * dim * (6 * 4 + 2 * s) + fixed,
        # FFN of one chunk: hidden + GELU, the fp32 norm and gated residual temporaries
        "ffn": A + c * (2 * ffn * s + dim * (4 * 4 + s)) + fixed,
        # output head and the reshape back to the tile grid
        "head": A + 2 * S * out_per_token * s + c * dim * 3 * 4 + fixed,
    }
    moment = max(moments, key=moments.get)
    terms = {"x_q_k_v_out": 5 * A, "key_value_box": box,
             "query_run": 3 * queries_per_call * dim * s, "rope_tables": rope, "attention_scratch": scratch,
             "index_and_modulation": fixed - rope}
    if moment != "attention":
        terms = {moment: moments[moment]}
    formula = (f"max(5A + 2*keys*D*s + 3*queries*D*s + 2*S*hd*4 + ..., embedding, projection, ffn, head); "
               f"A = S*D*s = {S}*{dim}*{s}, keys {max_keys}, queries {queries_per_call}; peak: {moment}")
    return ActivationEstimate(f"LDF-VFI transformer call, {tiles} tiles x {tokens_per_tile} tokens",
                              moments[moment], terms, formula)


def _layout(shape: JobShape) -> dict[str, Any]:
    from models.ldf_vfi.tiling import TileSpec, window_layout

    tile = int(shape.options.get("vae_tile_px", 256))
    return window_layout(shape.height, shape.width, TileSpec(tile_px=tile, stride_px=tile * 3 // 4),
                         shape.window or WINDOW_FRAMES)


def _dit(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    layout = _layout(shape)
    return ldf_dit_activation(size.config, layout["tiles"], layout["tokens_per_tile"],
                              layout["max_keys_per_query"], layout["queries_per_attention_call"], s,
                              in_channels=int(size.config.get("in_channels", 36)))


def _cond_vae(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    """One 256 px tile of one 5-frame piece (2 latent frames) at a time, through the Wan2.1 VAE
    ledger, plus the condition features of one causal chunk that the decoder adds (19 maps)."""
    from models.wan.ledger import wan_vae_decode_activation, wan_vae_encode_activation

    px = int(shape.options.get("vae_tile_px", 256))
    wan = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
           "temperal_downsample": [False, True, True], "scale_factor_spatial": 8, "scale_factor_temporal": 4}
    batch = int(shape.options.get("vae_batch", 1))
    if phase == "encode":
        est = wan_vae_encode_activation(wan, px, px, 5, s)
        return ActivationEstimate(f"conditional VAE encode, {batch} x {px} px tile x 5 frames",
                                  est.bytes * batch, est.terms, est.formula)
    est = wan_vae_decode_activation(wan, px, px, 5, s)
    # Zero-conv outputs of one chunk (4 frames), one per decoder stage: channels at their scale.
    dims = [96 * m for m in [4, 4, 4, 2, 1]]
    features = 4 * (px // 8) ** 2 * dims[0] * 4  # conv_in + middle (8x down)
    scale = 1
    for i, ch in enumerate(dims[1:]):
        features += 3 * 4 * (px // 8 * scale) ** 2 * ch + (4 * (px // 4 * scale) ** 2 * ch // 2 if i < 3 else 0)
        scale *= 2
    total = (est.bytes + features * s) * batch
    return ActivationEstimate(f"conditional VAE decode, {batch} x {px} px tile x 5 frames", total,
                              {"wan_decoder": est.bytes, "condition_features": features * s},
                              "Wan2.1 VAE decode ledger of one tile piece + 19 condition feature maps of one chunk")


def job_shape(width: int, height: int, seconds: float | None = None, frames: int | None = None,
              window: int | None = None, options: dict[str, Any] | None = None) -> JobShape:
    frames = int(frames) if frames is not None else int(round(seconds * FPS)) + 1
    return JobShape(width, height, frames, (frames - 1) // 4 + 1, window=int(window or WINDOW_FRAMES),
                    options=dict(options or {}))


PROFILE = MemoryProfile(
    name="ldf_vfi",
    phases=(("encode", ("cond_vae",)), ("denoise", ("transformer",)), ("decode", ("cond_vae",))),
    activations={"WanTransformer3DModel": _dit, "LDFVFITransformer3DModel": _dit, "WanCondVAE": _cond_vae},
    shape=job_shape,
    fps=FPS,
    host_terms=lambda shape, sizes: {"video_uint8": shape.frames * shape.height * shape.width * 3},
    preset_options=("vae_tile_px",),
)
