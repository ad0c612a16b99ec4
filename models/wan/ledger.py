"""Activation ledgers of the Wan family: DiT (stock and chunked blocks), VACE, Animate, the Wan VAEs,
UMT5 and CLIP-H.

Every number is the sum of the tensors alive at the peak line of one forward (batch 1), read from
diffusers 0.42.1 / transformers 5.23 (a comment per term names the tensor) and checked against peaks
measured on CPU (tests/test_wan_ledger.py). The docs section at the end of this file lists the
formulas.

Notation: L tokens, D = heads x head_dim, s bytes per element, A = L*D*s, f = 4/s (an fp32 tensor
in units of A), c = f when s < 4 else 0 (`x.float()` is a copy only in half precision), r = ffn_dim/D,
rho = c + 2f (torch's RMSNorm: the fp32 upcast, its square and the normalised fp32 tensor).

What is counted and what not:
- tensors the model code creates, including the intermediates of composite ops (RMSNorm, GELU-tanh,
  F.normalize), as measured on CPU. CUDA's fused RMSNorm likely skips the fp32 temporaries (rho ~ 1);
  where RMSNorm sets the peak (the Animate face adapter, the bf16 cross-attention tie) the ledger
  is then an upper bound;
- for convolutions one copy of the input and one of the output in the kernel's own layout (oneDNN's
  blocked reorders on CPU, cuDNN's NDHWC transposes on CUDA), as the HunyuanVideo ledger does;
- not counted: the copies CPU's nearest-exact upsampling makes for inputs of at most ~32x32 pixels
  (none at real sizes, none on CUDA), and attention kernels' private buffers: CUDA's flash /
  memory-efficient kernels keep O(L) (logsumexp), CPU's fp32 flash kernel ~1 MB of per-thread
  blocks, CPU's bf16 flash kernel also packs K and V (2 more L x D copies, no GPU does that; this
  is why the chunked path, whose peak is the attention call, is checked in fp32).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from memory.activations import ActivationEstimate

TEXT_TOKENS = 512     # UMT5 context; diffusers' WanAttnProcessor splits image/text at shape[1] - 512
CLIP_TOKENS = 257     # CLIP-H/14 at 224 px: 16 x 16 patches + class token, per image
F32 = 4


def wan_tokens(width: int, height: int, frames: int, patch: tuple[int, int, int] = (1, 2, 2), spatial: int = 8,
               temporal: int = 4) -> int:
    """Video tokens of the DiT: latent frames (frames-1)//temporal+1 at (height/spatial, width/spatial), patched."""
    latent_frames = (frames - 1) // temporal + 1
    return (latent_frames // patch[0]) * (height // spatial // patch[1]) * (width // spatial // patch[2])


# ============================================================================ DiT


@dataclass(frozen=True)
class _Dit:
    dim: int
    head_dim: int
    ffn: int
    image_kv: bool        # cross-attention has add_k_proj / add_v_proj (Wan 2.1 I2V / FLF2V, Animate)

    @classmethod
    def of(cls, config: dict) -> _Dit:
        heads, head_dim = int(config["num_attention_heads"]), int(config["attention_head_dim"])
        return cls(heads * head_dim, head_dim, int(config["ffn_dim"]), config.get("added_kv_proj_dim") is not None)


def _units(s: int) -> tuple[float, float, float]:
    f = F32 / s
    c = f if s < F32 else 0.0
    return f, c, c + 2 * f


def _stock_block(d: _Dit, L: int, s: int, lt: int, li: int, per_token: bool) -> dict[str, float]:
    """Moments of diffusers' WanTransformerBlock.forward, bytes above what the model forward keeps.

    The caller's loop variable keeps the block input x0 alive for the whole block; every unit below
    includes it. Locals (norm_hidden_states, attn_output) live until they are rebound."""
    A = L * d.dim * s
    f, c, rho = _units(s)
    r = d.ffn / d.dim
    kv_text = 2 * lt * d.dim * s       # to_k / to_v of the text context in attn2
    kv_img = 2 * li * d.dim * s        # add_k_proj / add_v_proj of the CLIP tokens
    img = 1 if li else 0
    mod = 6 * f if per_token else 0.0  # per-token modulation (B, L, 6, D) fp32, alive through the block
    norm_mod = 3 * f if per_token else 2 * f   # LN out, (1 + scale) when per token, product
    units = {
        # x0, LayerNorm(x0.float()) fp32, its product with (1 + scale_msa)
        "norm1": 1 + norm_mod,
        # x0, norm_hidden_states, q, k, v + RMSNorm(q) temporaries
        "self-attention q/k RMSNorm": 5 + rho,
        # x0, norm, q, k, v, empty_like(q) + x1*cos, x2*sin, their difference (fp32, half width each)
        "self-attention RoPE": 6 + 1.5 * f,
        # x0, norm, q, k, v, SDPA output, to_out
        "self-attention output": 7,
        # x0, norm, attn_output + x0.float(), attn_output * gate (fp32), the sum (fp32)
        "gated residual (attention)": 3 + c + 2 * f,
        # x0, x1, old norm, attn_output + x1.float(), norm2 (fp32) -> its cast
        "norm2": max(4 + c + f, 5 + f),
        # x0, x1, norm2, attn_output (attn1's, until rebound), q + RMSNorm(q) temporaries
        "cross-attention q RMSNorm": 5 + rho,
        # x0, x1, norm2, attn_output, q, SDPA out, to_out (+ image branch output and the sum)
        "cross-attention output": 7 + img,
        # x0, x2, norm2, attn_output + norm3 (fp32) and its modulated product
        "norm3": 4 + norm_mod,
        # x0, x2, attn_output, norm3 + FFN proj (r) and GELU-tanh (r)
        "FFN": 4 + 2 * r,
        # x0, x2, attn_output, norm3, ff_output + x2.float(), product with c_gate (fp32), the sum (fp32)
        "gated residual (FFN)": 5 + c + 2 * f,
    }
    extra = {"cross-attention q RMSNorm": kv_text, "cross-attention output": kv_text + kv_img}
    moments = {k: (u + mod) * A + extra.get(k, 0) for k, u in units.items()}
    if per_token:
        # block start: x0, temb.float() (a copy in half precision) and scale_shift_table + it, both (L, 6, D) fp32
        moments["per-token modulation"] = (1 + 6 * c + 6 * f) * A
    return moments


def _chunked_block(d: _Dit, L: int, s: int, lt: int, li: int, per_token: bool, chunk_tokens: int) -> dict[str, float]:
    """Moments of models/wan/blocks.run_block: x (updated in place), q, k, v and the attention output
    are the only full-length tensors; everything else exists for one chunk of n tokens (unit a)."""
    A = L * d.dim * s
    n = max(1, min(int(chunk_tokens), L))
    a = n * d.dim * s
    f, c, rho = _units(s)
    r = d.ffn / d.dim
    pre = 3 * f if per_token else 2 * f     # LayerNorm(x_c) fp32, (1 + part) per token, the product
    kv = 2 * lt * d.dim * s + 2 * li * d.dim * s
    img = 1 if li else 0
    return {
        # x, q, k, v (full) + chunk: h, q, k, v, rope(q), rope(k) + fp32 RoPE temporaries (or h, q, to_k + RMSNorm)
        "chunked q/k/v projection": 4 * A + max(pre, 3 + rho, 6 + 1.5 * f) * a,
        # x, q, k, v and the SDPA output
        "attention": 5 * A,
        # x, attention output + chunk: to_out, x_c.float(), y * gate (fp32), the sum (fp32)
        "chunked attention output": 2 * A + (1 + c + 2 * f) * a,
        # x + chunk: norm2, q + RMSNorm temporaries / SDPA out (+ image out, sum), to_out; context K/V
        "chunked cross-attention": A + max(c + f, 1 + f, 2 + rho, 4 + img) * a + kv,
        # x + chunk: h, x_c.float(), FFN proj and GELU (r each) / ff.float(), gate part, product, sum
        "chunked FFN": A + max(pre, 1 + c + 2 * r, 1 + c + (3 * f if per_token else 2 * f)) * a,
    }


def _top_terms(d: _Dit, L: int, s: int, lt: int, li: int, per_token: bool) -> dict[str, int]:
    """What WanTransformer3DModel.forward keeps alive around the blocks."""
    A = L * d.dim * s
    return {
        # rotary_emb: freqs_cos, freqs_sin (1, L, 1, head_dim) fp32
        "rope_tables": L * d.head_dim * F32 * 2,
        # text_embedder output concatenated with the image embedder output (which stays referenced)
        "context": (lt + 2 * li) * d.dim * s,
        # temb (L, D) and timestep_proj (L, 6D) per token (Wan 2.2 TI2V), else one row each
        "timestep_embedding": int(7 * A) if per_token else 7 * d.dim * s,
    }


def _head_moments(d: _Dit, L: int, s: int, per_token: bool) -> dict[str, float]:
    A = L * d.dim * s
    f = F32 / s
    return {
        # x, norm_out(x.float()) fp32, its product; per token also shift/scale (L, 2, D) fp32 and (1 + scale)
        "output norm": (1 + 5 * f) * A if per_token else (1 + 2 * f) * A,
        # conv output, its contiguous (L, D) copy and the kernel's output-layout copy
        "patch embedding": 3 * A,
    }


def wan_block_moments(config: dict, tokens: int, context_tokens: int, itemsize: int, *, chunked: bool = False,
                      chunk_tokens: int = 4096, per_token_timesteps: bool = False,
                      image_tokens: int = 0) -> dict[str, int]:
    """Bytes at each peak candidate of one Wan block (above what the model forward keeps)."""
    d = _Dit.of(config)
    li = image_tokens if d.image_kv else 0
    if chunked:
        moments = _chunked_block(d, tokens, itemsize, context_tokens, li, per_token_timesteps, chunk_tokens)
    else:
        moments = _stock_block(d, tokens, itemsize, context_tokens, li, per_token_timesteps)
    return {k: int(v) for k, v in moments.items()}


def _estimate(what: str, persistent: dict[str, int], moments: dict[str, float], formula: str) -> ActivationEstimate:
    moment = max(moments, key=moments.get)
    terms = dict(persistent)
    terms[f"peak: {moment}"] = int(moments[moment])
    return ActivationEstimate(what, sum(terms.values()), terms, f"{formula}; peak at {moment}")


def wan_dit_activation(config: dict, tokens: int, context_tokens: int, itemsize: int, *, chunked: bool = False,
                       chunk_tokens: int = 4096, per_token_timesteps: bool = False,
                       image_tokens: int = 0) -> ActivationEstimate:
    """Peak of one WanTransformer3DModel forward: kept tensors + the largest block / head moment.

    Stock block (units of A, plus 6f throughout with per-token timesteps, whose block start holds
    1 + 6c + 6f): max(5 + rho, 6 + 1.5f, 7 (+1 with image K/V), 3 + c + 2f, 4 + 2r, 5 + c + 2f);
    chunked block: max(5, 4 + (6 + 1.5f) n/L, 1 + (1 + c + 2r) n/L) with n = chunk_tokens.
    Kept: RoPE 8*L*hd, context (Lt + 2*Li)*D*s, per-token timestep embeddings 7A."""
    d = _Dit.of(config)
    li = image_tokens if d.image_kv else 0
    persistent = _top_terms(d, tokens, itemsize, context_tokens, li, per_token_timesteps)
    moments = {**wan_block_moments(config, tokens, context_tokens, itemsize, chunked=chunked, chunk_tokens=chunk_tokens,
                                   per_token_timesteps=per_token_timesteps, image_tokens=image_tokens),
               **_head_moments(d, tokens, itemsize, per_token_timesteps)}
    A = tokens * d.dim * itemsize
    formula = (f"kept + max(block moments); A=L*D*s={tokens}*{d.dim}*{itemsize}={A}, r={d.ffn / d.dim:.2f}, "
               f"{'chunked n=' + str(min(chunk_tokens, tokens)) if chunked else 'stock block'}"
               f"{', per-token timesteps' if per_token_timesteps else ''}")
    return _estimate(f"Wan DiT forward, {tokens} tokens{' (chunked)' if chunked else ''}", persistent, moments, formula)


def wan_vace_activation(config: dict, tokens: int, context_tokens: int, itemsize: int, *, chunked: bool = False,
                        chunk_tokens: int = 4096, control_tokens: int | None = None) -> ActivationEstimate:
    """Peak of one WanVACETransformer3DModel forward.

    Stock: the VACE blocks run first and each appends its hint (proj_out, L x D) to a list that lives
    until the main block of that layer pops it; the last control stream stays referenced too. So the
    main block 0 runs with n_vace hints + 1 control alive, the last VACE block with x + (n_vace - 1)
    hints (+ its own hint from proj_out).

    Chunked (models/wan/blocks: run_block for the main blocks, run_vace_block for the VACE blocks,
    hints written chunk by chunk to the host): no hint is alive on the device except the transfer
    buffer `control_hint.to(device)` of the one being added. A VACE block runs with the main x
    alive (its input), a main block with the last control stream (the forward's local); both cost one
    A above the chunked block. The hint addition `x + hint.to(device) * scale` holds x, the control
    stream, the transfer buffer and the product (then the sum)."""
    d = _Dit.of(config)
    A = tokens * d.dim * itemsize
    a = max(1, min(int(chunk_tokens), tokens)) * d.dim * itemsize
    n_vace = len(config.get("vace_layers") or [0])
    lv = tokens if control_tokens is None else int(control_tokens)
    persistent = _top_terms(d, tokens, itemsize, context_tokens, 0, False)
    # zeros padding the control tokens up to L (kept as a local for the whole forward)
    persistent["control_padding"] = max(0, tokens - lv) * d.dim * itemsize
    moments: dict[str, float] = {}
    if chunked:
        block = wan_block_moments(config, tokens, context_tokens, itemsize, chunked=True, chunk_tokens=chunk_tokens)
        # main x + the control stream (the block's x) in every VACE block; the last control stream in every main block
        moments.update({f"VACE block {k}": v + A for k, v in block.items()})
        moments.update({f"main block {k}": v + A for k, v in block.items()})
        # x, the control stream (updated in place) + chunk: proj_in output and the sum / proj_out output
        moments["VACE proj_in / proj_out"] = 2 * A + 2 * a
        # x, the last control stream, hint.to(device) (transfer buffer), hint * scale / x + it
        moments["hint addition"] = 4 * A
        how = "chunked blocks, hints on the host"
        formula = f"kept + A + max(chunked block moments), hint addition 4A; n_vace={n_vace}, A={A}"
    else:
        stock = wan_block_moments(config, tokens, context_tokens, itemsize)
        moments.update({f"main {k}": v + (n_vace + 1) * A for k, v in stock.items()})
        # VACE block i: main x + i hints (+ the caller's control input for block 0, whose proj_in makes a new one)
        moments.update({f"last VACE block {k}": v + (1 + max(1, n_vace - 1)) * A for k, v in stock.items()})
        how = "stock"
        formula = (f"kept + max(main block + (n_vace+1)*A, stock VACE block + (1+max(1, n_vace-1))*A); "
                   f"n_vace={n_vace}, A={A}")
    # the head runs with the last control stream still referenced
    moments.update({k: v + A for k, v in _head_moments(d, tokens, itemsize, False).items()})
    return _estimate(f"Wan VACE forward, {tokens} tokens ({how})", persistent, moments, formula)


def _face_tokens_frames(face_frames: int) -> int:
    """Frames after WanAnimateFaceEncoder: a causal stride-1 conv, then two causal stride-2 convs."""
    t = int(face_frames)
    for _ in range(2):
        t = (t + 2 - 3) // 2 + 1
    return t


_MOTION_CHANNELS = {"4": 512, "8": 512, "16": 512, "32": 512, "64": 256, "128": 128, "256": 64, "512": 32,
                    "1024": 16}


def _motion_encoder_peak(config: dict, face_frames: int, s: int) -> int:
    """WanAnimateMotionEncoder on one batch of face crops: conv1 of a res block holds its input, the
    conv output, +bias, leaky_relu and the scaled result (5 tensors of the block input's size)."""
    size = int(config.get("motion_encoder_size", 512))
    channels = config.get("motion_encoder_channel_sizes") or _MOTION_CHANNELS
    batch = min(int(config.get("motion_encoder_batch_size", 8)), int(face_frames))
    largest = max(int(channels[str(2 ** i)]) * (2 ** i) ** 2 for i in range(3, int(math.log2(size)) + 1))
    return 5 * batch * largest * s


def _face_chunk_tokens(tokens: int, latent_frames: int, chunk_tokens: int) -> int:
    """Tokens of one chunk of models/wan/blocks.run_face_adapter: whole latent frames, at least one."""
    per = max(1, tokens // max(1, latent_frames))
    return min(tokens, max(1, int(chunk_tokens) // per) * per)


def wan_face_adapter_moments(config: dict, tokens: int, itemsize: int, latent_frames: int, *, chunked: bool = False,
                             chunk_tokens: int = 4096) -> dict[str, int]:
    """Bytes at each peak candidate of one WanAnimateFaceBlockCrossAttention call on x (L tokens of
    `latent_frames` frames), above its inputs (x and the motion vectors, which the caller holds).

    Stock (WanAnimateFaceBlockAttnProcessor): pre_norm_q(x), to_q + RMSNorm temporaries; then the
    pre-norm, query and SDPA output, then query, SDPA output and to_out (full length each).
    Chunked (models/wan/blocks.run_face_adapter, whole frames per chunk, a_f bytes): the output
    + chunk: to_q + RMSNorm temporaries, then query and SDPA output, then SDPA output and to_out."""
    d = _Dit.of(config)
    A = tokens * d.dim * itemsize
    _, _, rho = _units(itemsize)
    if chunked:
        af = _face_chunk_tokens(tokens, latent_frames, chunk_tokens) * d.dim * itemsize
        return {"chunked face adapter q RMSNorm": int(A + (1 + rho) * af),
                "chunked face adapter attention / to_out": int(A + 2 * af)}
    return {"face adapter q RMSNorm": int((2 + rho) * A), "face adapter attention / to_out": int(3 * A)}


def wan_animate_activation(config: dict, tokens: int, context_tokens: int, itemsize: int, *, face_frames: int,
                           chunked: bool = False, chunk_tokens: int = 4096) -> ActivationEstimate:
    """Peak of one WanAnimateTransformer3DModel forward.

    Stock: kept besides the DiT's: the pose embedding (the forward keeps `pose_hidden_states`,
    (T-1)/T of L tokens), the permuted copy of the face video (3*F*S^2*s), the face-adapter output of
    the last adapter (L x D, alive through the next blocks and the head) and the motion vectors
    (small). Moments: a block (+ that adapter output), a face adapter (x, previous adapter output,
    pre_norm_q, q + RMSNorm temporaries), the motion encoder (one batch of face crops at full size)
    before the blocks, and the head, which keeps the fp32 norm output as `hidden_states` while its
    modulated product and the sum exist (1 + 3f A, + the last adapter output).

    Chunked (models/wan/blocks.run_animate_forward): the same steps with the pose embedding, the face
    video copy and each adapter output dropped once used; blocks by run_block, face adapters by
    run_face_adapter (whole latent frames per chunk), the head on chunks of tokens."""
    d = _Dit.of(config)
    s = itemsize
    A = tokens * d.dim * s
    n = max(1, min(int(chunk_tokens), tokens))
    a = n * d.dim * s
    li = CLIP_TOKENS if config.get("image_dim") is not None else 0
    latent_frames = _face_tokens_frames(face_frames) + 1
    size = int(config.get("motion_encoder_size", 512))
    f, c, _ = _units(s)
    pose = tokens * (latent_frames - 1) // latent_frames * d.dim * s
    faces = 3 * int(face_frames) * size * size * s
    out_dim = int(config.get("out_channels", 16)) * math.prod(config.get("patch_size", (1, 2, 2)))
    persistent = _top_terms(d, tokens, s, context_tokens, li, False)
    blocks = wan_block_moments(config, tokens, context_tokens, s, chunked=chunked, chunk_tokens=chunk_tokens,
                               image_tokens=li)
    moments: dict[str, float] = {}
    if chunked:
        moments.update(blocks)
        # x + the adapter's own moments (its new output + one chunk of frames)
        moments.update({k: v + A for k, v in wan_face_adapter_moments(
            config, tokens, s, latent_frames, chunked=True, chunk_tokens=chunk_tokens).items()})
        # x, the adapter output, their sum
        moments["face adapter addition"] = 3 * A
        # x + the pose embedding and x[:, :, 1:] + it; then x, its contiguous copy and the conv's layout copy
        moments["patch and pose embedding"] = max(A + 2 * pose, 3 * A)
        # x, the permuted face video + the motion encoder's largest moment
        moments["motion encoder"] = A + faces + _motion_encoder_peak(config, face_frames, s)
        # x, the projected output + chunk: the fp32 norm output, its product with (1 + scale), the sum
        moments["chunked output norm"] = A + tokens * out_dim * s + 3 * f * a
        formula = (f"kept + max(chunked block, face adapter 2A + (1+rho)a_f, addition 3A, A + motion encoder); "
                   f"A={A}, n={n}, latent frames {latent_frames}, face frames {face_frames}")
    else:
        persistent["pose_embedding"] = pose
        persistent["face_video_copy"] = faces
        moments.update({k: v + A for k, v in blocks.items()})   # + the previous face_adapter_output
        # x, previous adapter output + the adapter's own moments
        moments.update({k: v + 2 * A for k, v in wan_face_adapter_moments(config, tokens, s, latent_frames).items()})
        # x, the adapter output, their sum
        moments["face adapter addition"] = 3 * A
        # x (patch embedded) + the motion encoder's largest moment, before any block runs
        moments["motion encoder"] = A + _motion_encoder_peak(config, face_frames, s)
        moments["patch embedding"] = 3 * A
        # the last adapter output + x, x.float() and the norm (1 + c + f), then the norm, product and sum (3f)
        moments["output norm"] = A + max(1 + c + f, 3 * f) * A
        formula = (f"kept + max(block + A, face adapter (4+rho)A, A + motion encoder 5*b*C*S^2*s, head "
                   f"(1 + 3f)A); A={A}, latent frames {latent_frames}, face frames {face_frames}")
    return _estimate(f"Wan Animate forward, {tokens} tokens{' (chunked)' if chunked else ''}", persistent, moments,
                     formula)


# ============================================================================ VAE


class _Mem:
    """Live bytes in time order; `part` separates the feature cache and kept outputs from work tensors."""

    def __init__(self) -> None:
        self.parts = {"feature_cache": 0, "kept_output": 0, "work": 0}
        self.peak = 0
        self.at_peak: dict[str, int] = dict(self.parts)
        self.where = ""

    def add(self, nbytes: float, where: str, part: str = "work") -> None:
        self.parts[part] += int(nbytes)
        now = sum(self.parts.values())
        if now > self.peak:
            self.peak, self.at_peak, self.where = now, dict(self.parts), where

    def sub(self, nbytes: float, part: str = "work") -> None:
        self.parts[part] -= int(nbytes)

    def touch(self, nbytes: float, where: str) -> None:
        self.add(nbytes, where)
        self.sub(nbytes)


class _WanVae:
    """Replays AutoencoderKLWan's allocations (diffusers 0.42.1), tensor by tensor, in code order.

    Sizes are bytes; a tensor is (channels, frames, height, width). Inputs of a call are held by the
    caller until it returns and rebinds its variable, so they stay counted inside the callee."""

    def __init__(self, config: dict, s: int, kernel_copies: bool = True) -> None:
        self.s = s
        self.z = int(config.get("z_dim", 16))
        self.base = int(config.get("base_dim", 96))
        self.dec_base = int(config.get("decoder_base_dim") or self.base)
        self.mult = list(config.get("dim_mult", [1, 2, 4, 4]))
        self.res = int(config.get("num_res_blocks", 2))
        self.tdown = list(config.get("temperal_downsample", [False, True, True]))
        self.residual = bool(config.get("is_residual", False))
        self.patch = config.get("patch_size") or 1
        self.in_ch = int(config.get("in_channels", 3))
        self.out_ch = int(config.get("out_channels", 3))
        self.kernel_copies = kernel_copies
        self.mem = _Mem()
        self.cache: dict[str, object] = {}
        self._calls: dict[tuple, tuple] = {}

    def replayed(self, fn, *args):
        """Run one encoder/decoder call, or replay its recorded effect when the same call already ran
        from the same feature-cache state. A call's allocations depend only on its arguments and the
        cache, so the replay is exact; it turns a per-frame, per-tile replay of a long video from
        minutes into milliseconds."""
        key = (fn.__name__, args, tuple(sorted(self.cache.items())))
        mem = self.mem
        start = dict(mem.parts)
        base = sum(start.values())
        hit = self._calls.get(key)
        if hit is None:
            outer = (mem.peak, mem.at_peak, mem.where)
            mem.peak, mem.at_peak, mem.where = base, dict(start), ""
            result = fn(*args)
            hit = (result, mem.peak - base, {k: mem.at_peak[k] - start[k] for k in start}, mem.where,
                   {k: mem.parts[k] - start[k] for k in start}, dict(self.cache))
            self._calls[key] = hit
            if outer[0] >= mem.peak:
                mem.peak, mem.at_peak, mem.where = outer
            return result
        result, rise, rise_parts, where, net, cache = hit
        if base + rise > mem.peak:
            mem.peak, mem.where = base + rise, where
            mem.at_peak = {k: start[k] + rise_parts[k] for k in start}
        for k, v in net.items():
            mem.parts[k] += v
        self.cache = dict(cache)
        return result

    # ------------------------------------------------------------------ primitives
    def b(self, c: int, t: int, h: int, w: int) -> int:
        return c * t * h * w * self.s

    def clear_cache(self) -> None:
        for v in self.cache.values():
            if isinstance(v, int):
                self.mem.sub(v, "feature_cache")
        self.cache = {}

    def conv_kernel(self, n_in: int, n_out: int, where: str) -> None:
        """The output, plus the kernel's own-layout copies of input and output while it runs."""
        self.mem.add(n_out, where)
        if self.kernel_copies:
            self.mem.touch(n_in + n_out, where)

    def causal_conv(self, c_in: int, c_out: int, t: int, h: int, w: int, where: str, kt: int = 3, khw: int = 3,
                    cache_key: str | None = None, stride_t: int = 1, pad_t: int | None = None) -> tuple[int, int]:
        """WanCausalConv3d.forward(x, feat_cache[key]): cat with the cached frames, F.pad (always a
        copy), conv. Returns (output bytes, output frames)."""
        prev = self.cache.get(cache_key) if cache_key else None
        pt, ph = (kt // 2 if pad_t is None else pad_t), khw // 2
        cat = 0
        if isinstance(prev, int) and prev and 2 * pt > 0:
            cat = prev + self.b(c_in, t, h, w)
            self.mem.add(cat, f"{where} cat(cache, x)")
        frames = t + 2 * pt                      # cache frames + causal zeros make 2*pt in front
        padded = self.b(c_in, frames, h + 2 * ph, w + 2 * ph)
        self.mem.add(padded, f"{where} F.pad")
        self.mem.sub(cat)
        t_out = (frames - kt) // stride_t + 1
        out = self.b(c_out, t_out, h, w)
        self.conv_kernel(padded, out, f"{where} conv")
        self.mem.sub(padded)
        return out, t_out

    def new_cache(self, key: str, c: int, t: int, h: int, w: int, where: str) -> int:
        """cache_x = x[:, :, -2:].clone(), with the previous call's last frame prepended if t < 2."""
        one = self.b(c, min(t, 2), h, w)
        self.mem.add(one, f"{where} cache clone", "feature_cache")
        if t < 2 and isinstance(self.cache.get(key), int):
            two = self.b(c, 2, h, w)
            self.mem.add(two, f"{where} cache cat", "feature_cache")
            self.mem.sub(one, "feature_cache")
            return two
        return one

    def set_cache(self, key: str, new: int) -> None:
        old = self.cache.get(key)
        if isinstance(old, int):
            self.mem.sub(old, "feature_cache")
        self.cache[key] = new

    def rms(self, c: int, t: int, h: int, w: int, where: str) -> int:
        """WanRMS_norm: F.normalize(x.float()) (norm, clamp, div), .to(dtype), * scale * gamma + 0.0."""
        n = c * t * h * w
        s = self.s
        if s < F32:
            self.mem.add(F32 * n, f"{where} x.float()")
        self.mem.add(2 * F32 * n / c, f"{where} norm")          # the norm over channels and its clamp
        self.mem.add(F32 * n, f"{where} normalize")
        self.mem.sub(2 * F32 * n / c)
        if s < F32:
            self.mem.sub(F32 * n)
            self.mem.add(s * n, f"{where} .to(dtype)")
            self.mem.sub(F32 * n)
        self.mem.add(s * n, f"{where} * scale")
        self.mem.add(s * n, f"{where} * gamma")
        self.mem.sub(s * n)
        self.mem.add(s * n, f"{where} + bias")
        self.mem.sub(s * n)
        self.mem.sub(s * n)                                       # `normalized` freed at return
        return s * n

    def silu(self, n: int, where: str) -> int:
        self.mem.add(n, where)
        self.mem.sub(n)                                           # the norm output it replaces
        return n

    # ------------------------------------------------------------------ blocks
    def resnet(self, key: str, c_in: int, c_out: int, t: int, h: int, w: int) -> int:
        """WanResidualBlock with the feature cache; the input is held by the caller."""
        n_out = self.b(c_out, t, h, w)
        shortcut = 0
        if c_in != c_out:
            shortcut, _ = self.causal_conv(c_in, c_out, t, h, w, f"{key} shortcut", kt=1, khw=1)
        x = self.rms(c_in, t, h, w, f"{key} norm1")
        x = self.silu(x, f"{key} silu1")
        new = self.new_cache(f"{key}.conv1", c_in, t, h, w, key)
        out1, _ = self.causal_conv(c_in, c_out, t, h, w, f"{key} conv1", cache_key=f"{key}.conv1")
        self.mem.sub(x)
        self.set_cache(f"{key}.conv1", new)
        x = self.rms(c_out, t, h, w, f"{key} norm2")
        self.mem.sub(out1)
        x = self.silu(x, f"{key} silu2")
        new = self.new_cache(f"{key}.conv2", c_out, t, h, w, key)
        out2, _ = self.causal_conv(c_out, c_out, t, h, w, f"{key} conv2", cache_key=f"{key}.conv2")
        self.mem.sub(x)
        self.set_cache(f"{key}.conv2", new)
        self.mem.add(n_out, f"{key} x + h")
        self.mem.sub(out2)
        self.mem.sub(shortcut)
        return n_out

    def attention(self, key: str, c: int, t: int, h: int, w: int) -> int:
        """WanAttentionBlock (single head over h*w tokens per frame); input held by the caller."""
        n = self.b(c, t, h, w)
        self.mem.add(n, f"{key} permute copy")
        x = self.rms(c, t, h, w, f"{key} norm")
        self.mem.sub(n)
        self.conv_kernel(x, 3 * n, f"{key} to_qkv")
        self.mem.add(3 * n, f"{key} qkv contiguous")
        self.mem.sub(3 * n)
        self.mem.add(n, f"{key} SDPA")
        self.mem.sub(x)
        self.mem.add(n, f"{key} reshape copy")
        self.mem.sub(n)
        self.conv_kernel(n, n, f"{key} proj")
        self.mem.sub(n)
        self.mem.add(n, f"{key} x + identity")
        self.mem.sub(n)
        self.mem.sub(3 * n)                                       # qkv freed at return
        return n

    def mid(self, key: str, c: int, t: int, h: int, w: int) -> int:
        r0 = self.resnet(f"{key}.res0", c, c, t, h, w)
        a = self.attention(f"{key}.attn", c, t, h, w)
        self.mem.sub(r0)
        r1 = self.resnet(f"{key}.res1", c, c, t, h, w)
        self.mem.sub(a)
        return r1

    def upsample(self, key: str, mode: str, c: int, c_out: int, t: int, h: int, w: int) -> tuple[int, int]:
        """WanResample up: (3d: causal time conv doubling the frames), permute copy, fp32 nearest-exact
        2x, cast, Conv2d 3x3. Input held by the caller. Returns (output bytes, frames)."""
        s = self.s
        owned = 0
        if mode == "upsample3d":
            state = self.cache.get(key)
            if state is None:
                self.cache[key] = "Rep"                           # first chunk: no time conv
            else:
                one = self.b(c, min(t, 2), h, w)
                self.mem.add(one, f"{key} cache clone", "feature_cache")
                new = one
                if t < 2:
                    if state == "Rep":
                        self.mem.touch(self.b(c, t, h, w), f"{key} zeros_like")
                    two = self.b(c, 2, h, w)
                    self.mem.add(two, f"{key} cache cat", "feature_cache")
                    self.mem.sub(one, "feature_cache")
                    new = two
                conv, _ = self.causal_conv(c, 2 * c, t, h, w, f"{key} time_conv", kt=3, khw=1,
                                           cache_key=None if state == "Rep" else key)
                self.set_cache(key, new)
                self.mem.add(conv, f"{key} stack")                # torch.stack of the two halves
                self.mem.sub(conv)
                owned, t = conv, 2 * t
        n = c * t * h * w
        self.mem.add(s * n, f"{key} permute copy")
        self.mem.sub(owned)
        if s < F32:
            self.mem.add(F32 * n, f"{key} x.float()")
        up32 = 4 * F32 * n
        self.mem.add(up32, f"{key} nearest-exact (fp32)")
        if s < F32:
            self.mem.sub(F32 * n)
            self.mem.add(4 * s * n, f"{key} .type_as")
            self.mem.sub(up32)
        out = self.b(c_out, t, 2 * h, 2 * w)
        self.conv_kernel(4 * s * n, out, f"{key} conv2d")
        self.mem.sub(4 * s * n)
        self.mem.sub(s * n)
        return out, t

    def up_block(self, i: int, c_in: int, c_out: int, t: int, h: int, w: int,
                 mode: str | None) -> tuple[int, int, int, int, int]:
        """WanUpBlock (2.1) / WanResidualUpBlock (2.2: x.clone() kept, DupUp3D shortcut added at the
        end; on the first chunk DupUp3D returns a slice, whose storage is the full repeat)."""
        key = f"up{i}"
        copy = 0
        if self.residual:
            copy = self.b(c_in, t, h, w)
            self.mem.add(copy, f"{key} x.clone()")
        x, c = 0, c_in
        for j in range(self.res + 1):
            out = self.resnet(f"{key}.res{j}", c, c_out, t, h, w)
            self.mem.sub(x)
            x, c = out, c_out
        h2, w2 = h, w
        if mode is not None:
            # Wan 2.1 halves the channels in the upsampler; the residual (2.2) block keeps out_dim
            c_up = c_out if self.residual else c_out // 2
            out, t2 = self.upsample(f"{key}.up", mode, c_out, c_up, t, h, w)
            self.mem.sub(x)
            x, c, h2, w2 = out, c_up, 2 * h, 2 * w
            if self.residual:
                ft = 2 if mode == "upsample3d" else 1
                rep = self.b(c_up, ft * t, h2, w2)                # DupUp3D: repeat_interleave, permute copy
                self.mem.add(rep, f"{key} DupUp3D repeat")
                self.mem.add(rep, f"{key} DupUp3D permute")
                self.mem.sub(rep)
                self.mem.add(x, f"{key} x + shortcut")
                self.mem.sub(rep)
                self.mem.sub(x)
            t = t2
        self.mem.sub(copy)
        return x, c, t, h2, w2

    # ------------------------------------------------------------------ decoder / encoder calls
    def decoder_call(self, h: int, w: int, first_chunk: bool) -> tuple[int, int]:
        """WanDecoder3d on one latent frame; returns (output bytes, frames)."""
        dims = [self.dec_base * u for u in [self.mult[-1]] + self.mult[::-1]]
        tup = self.tdown[::-1]
        t = 1
        new = self.new_cache("conv_in", self.z, t, h, w, "conv_in")
        x, _ = self.causal_conv(self.z, dims[0], t, h, w, "decoder conv_in", cache_key="conv_in")
        self.set_cache("conv_in", new)
        m = self.mid("mid", dims[0], t, h, w)
        self.mem.sub(x)
        x, c = m, dims[0]
        n_up = len(self.mult)
        for i in range(n_up):
            c_in = dims[i] if (i == 0 or self.residual) else dims[i] // 2
            up_flag = i != n_up - 1
            mode = ("upsample3d" if tup[i] else "upsample2d") if up_flag else None
            out, c, t, h, w = self.up_block(i, c_in, dims[i + 1], t, h, w, mode)
            self.mem.sub(x)
            x = out
        n = self.rms(c, t, h, w, "norm_out")
        self.mem.sub(x)
        n = self.silu(n, "decoder head silu")
        new = self.new_cache("conv_out", c, t, h, w, "conv_out")
        out, _ = self.causal_conv(c, self.out_ch, t, h, w, "decoder conv_out", cache_key="conv_out")
        self.mem.sub(n)
        self.set_cache("conv_out", new)
        return out, t

    def downsample(self, key: str, mode: str, c: int, t: int, h: int, w: int) -> tuple[int, int, int, int]:
        """WanResample down: permute copy, ZeroPad2d(0,1,0,1), Conv2d 3x3 stride 2; 3d: causal time
        conv (stride 2) over [last cached frame, x]. Input held by the caller."""
        perm = self.b(c, t, h, w)
        self.mem.add(perm, f"{key} permute copy")
        padded = self.b(c, t, h + 1, w + 1)
        self.mem.add(padded, f"{key} ZeroPad2d")
        h2, w2 = (h + 1 - 3) // 2 + 1, (w + 1 - 3) // 2 + 1
        out = self.b(c, t, h2, w2)
        self.conv_kernel(padded, out, f"{key} conv2d stride 2")
        self.mem.sub(padded)
        self.mem.sub(perm)
        if mode == "downsample3d":
            if self.cache.get(key) is None:
                self.mem.add(out, f"{key} cache x.clone()", "feature_cache")
                self.cache[key] = out
            else:
                new = self.b(c, 1, h2, w2)
                self.mem.add(new, f"{key} cache clone", "feature_cache")
                cat = self.b(c, t + 1, h2, w2)
                self.mem.add(cat, f"{key} cat(cache[-1:], x)")
                # time_conv: kernel (3,1,1), stride (2,1,1), no padding (F.pad still copies the cat)
                conv, t2 = self.causal_conv(c, c, t + 1, h2, w2, f"{key} time_conv", kt=3, khw=1, stride_t=2,
                                            pad_t=0)
                self.mem.sub(cat)
                self.mem.sub(out)
                self.set_cache(key, new)
                return conv, c, t2, h2, w2
        return out, c, t, h2, w2

    def encoder_call(self, t: int, h: int, w: int) -> int:
        """WanEncoder3d on one chunk (1 or 4 frames at h x w, after patchify); returns output bytes."""
        dims = [self.base * u for u in [1] + self.mult]
        c_in = self.in_ch
        new = self.new_cache("enc.conv_in", c_in, t, h, w, "enc conv_in")
        x, _ = self.causal_conv(c_in, dims[0], t, h, w, "encoder conv_in", cache_key="enc.conv_in")
        self.set_cache("enc.conv_in", new)
        c = dims[0]
        last = len(self.mult) - 1
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            key = f"down{i}"
            mode = ("downsample3d" if self.tdown[i] else "downsample2d") if i != last else None
            if self.residual:
                copy = self.b(c, t, h, w)
                self.mem.add(copy, f"{key} x.clone()")
                t0, h0, w0, c0 = t, h, w, c
                cur = 0
                for j in range(self.res):
                    out = self.resnet(f"{key}.res{j}", c, d_out, t, h, w)
                    self.mem.sub(cur)
                    cur, c = out, d_out
                if mode is not None:
                    out, c, t, h, w = self.downsample(f"{key}.down", mode, c, t, h, w)
                    self.mem.sub(cur)
                    cur = out
                # AvgDown3D(x_copy): F.pad in time, permute copy, mean over the group
                ft, fs = (2 if mode == "downsample3d" else 1), (2 if mode else 1)
                pad_t = (ft - t0 % ft) % ft
                padded = self.b(c0, t0 + pad_t, h0, w0)
                self.mem.add(padded, f"{key} AvgDown3D pad")
                self.mem.add(padded, f"{key} AvgDown3D permute")
                self.mem.sub(padded)
                short = self.b(d_out, (t0 + pad_t) // ft, h0 // fs, w0 // fs)
                self.mem.add(short, f"{key} AvgDown3D mean")
                self.mem.sub(padded)
                self.mem.add(cur, f"{key} x + shortcut")
                self.mem.sub(short)
                self.mem.sub(cur)
                self.mem.sub(copy)
                self.mem.sub(x)
                x = cur
            else:
                for j in range(self.res):
                    out = self.resnet(f"{key}.res{j}", c, d_out, t, h, w)
                    self.mem.sub(x)
                    x, c = out, d_out
                if mode is not None:
                    out, c, t, h, w = self.downsample(f"{key}.down", mode, c, t, h, w)
                    self.mem.sub(x)
                    x = out
        m = self.mid("enc.mid", c, t, h, w)
        self.mem.sub(x)
        n = self.rms(c, t, h, w, "enc norm_out")
        self.mem.sub(m)
        n = self.silu(n, "enc head silu")
        new = self.new_cache("enc.conv_out", c, t, h, w, "enc conv_out")
        out, _ = self.causal_conv(c, 2 * self.z, t, h, w, "encoder conv_out", cache_key="enc.conv_out")
        self.mem.sub(n)
        self.set_cache("enc.conv_out", new)
        return out

    # ------------------------------------------------------------------ AutoencoderKLWan entry points
    def keep(self, nbytes: int) -> None:
        """Re-label a work tensor as kept output (no change in the total)."""
        self.mem.sub(nbytes)
        self.mem.add(nbytes, "", "kept_output")

    def decode(self, frames: int, h: int, w: int) -> None:
        """AutoencoderKLWan._decode: post_quant_conv, one decoder call per latent frame with the
        feature cache, `out = torch.cat([out, out_], 2)` every frame, unpatchify, clamp."""
        self.causal_conv(self.z, self.z, frames, h, w, "post_quant_conv", kt=1, khw=1)   # x, kept all along
        out = last = 0
        for i in range(frames):
            o, _ = self.replayed(self.decoder_call, h, w, i == 0)
            self.keep(o)
            if i == 0:
                out = o
                continue
            self.mem.sub(last, "kept_output")                     # the previous out_ is rebound
            self.mem.add(out + o, "torch.cat([out, out_])", "kept_output")
            self.mem.sub(out, "kept_output")
            out, last = out + o, o
        self.finish(out)
        self.clear_cache()

    def finish(self, out: int) -> None:
        if self.patch > 1:
            self.mem.add(out, "unpatchify", "kept_output")
            self.mem.sub(out, "kept_output")
        self.mem.add(out, "clamp", "kept_output")

    def tiled_decode(self, frames: int, h: int, w: int, tile_px: int, stride_px: int, scale: int) -> None:
        """AutoencoderKLWan.tiled_decode: every overlapping tile decoded in full (cache cleared per
        tile) and kept until blended; then the cropped rows, their concat, unpatchify and clamp."""
        tile, stride = tile_px // scale, stride_px // scale
        up = scale // self.patch                                  # decoder upsampling (8)
        crop = stride_px // self.patch                            # tile_sample_stride in output units
        kept_tiles = time_b = pq = 0
        rows = []
        for i in range(0, h, stride):
            row = []
            for j in range(0, w, stride):
                self.clear_cache()
                self.mem.sub(time_b, "kept_output")
                time_b = 0
                th, tw = min(tile, h - i), min(tile, w - j)
                for k in range(frames):
                    self.mem.sub(pq)
                    pq, _ = self.causal_conv(self.z, self.z, 1, th, tw, "tile post_quant_conv", kt=1, khw=1)
                    o, _ = self.replayed(self.decoder_call, th, tw, k == 0)
                    self.keep(o)
                    time_b += o
                self.mem.add(time_b, "torch.cat(time) of a tile", "kept_output")
                kept_tiles += time_b
                row.append((th * up, tw * up))
            rows.append(row)
        self.clear_cache()                                        # `time` of the last tile stays referenced
        t_px = 1 + 4 * (frames - 1)
        rows_b = 0
        for row in rows:
            row_b = sum(self.b(self.out_ch, t_px, min(crop, th), min(crop, tw)) for th, tw in row)
            self.mem.add(row_b, "torch.cat(result_row)", "kept_output")
            rows_b += row_b
        self.mem.add(rows_b, "torch.cat(result_rows)", "kept_output")
        out = self.b(self.out_ch, t_px, h * up, w * up)
        if self.patch > 1:
            self.mem.add(out, "unpatchify", "kept_output")
            self.mem.sub(rows_b, "kept_output")
            self.mem.add(out, "clamp", "kept_output")
        else:
            self.mem.add(out, "clamp", "kept_output")

    def encode(self, frames: int, h: int, w: int, tile_px: int | None) -> None:
        """AutoencoderKLWan._encode: patchify (a copy), chunks of 1 then 4 frames through the encoder
        with the feature cache (spatial tiles when tiling applies), quant_conv, the Gaussian's stats."""
        video = self.b(3, frames, h, w)
        if self.patch > 1:
            self.mem.add(video, "patchify")
        hp, wp = h // self.patch, w // self.patch
        chunks = [1] + [min(4, frames - 1 - 4 * k) for k in range((frames - 1) // 4)]
        if tile_px and (w > tile_px or h > tile_px):
            stride = tile_px * 3 // 4
            tiles = [(min(tile_px, hp - i), min(tile_px, wp - j)) for i in range(0, hp, stride)
                     for j in range(0, wp, stride)]
        else:
            tiles = [(hp, wp)]
        latent = 0
        for th, tw in tiles:
            self.clear_cache()
            out = last = 0
            for k, t in enumerate(chunks):
                o = self.replayed(self.encoder_call, t, th, tw)
                self.keep(o)
                if k:
                    self.mem.sub(last, "kept_output")             # the previous out_ is rebound
                    self.mem.add(out + o, "torch.cat latents", "kept_output")
                    self.mem.sub(out, "kept_output")
                out, last = out + o, o
            latent += out
        self.clear_cache()
        # quant_conv (1x1x1: F.pad copy, output, kernel copies), then the Gaussian's clamp(logvar), std, var
        self.mem.touch(4 * latent, "quant_conv")
        self.mem.add(latent, "quant_conv output", "kept_output")
        self.mem.touch(3 * latent // 2, "DiagonalGaussianDistribution (logvar clamp, std, var)")


def _vae_estimate(sim: _WanVae, what: str, formula: str) -> ActivationEstimate:
    terms = {k: v for k, v in sim.mem.at_peak.items() if v}
    return ActivationEstimate(what, sim.mem.peak, terms, f"{formula}; peak at {sim.mem.where}")


def wan_vae_decode_activation(config: dict, width: int, height: int, frames: int, itemsize: int,
                              tile_px: int | None = None) -> ActivationEstimate:
    """Peak of `AutoencoderKLWan.decode(z)` for a video of `frames` frames (Wan 2.1 and 2.2 VAEs).

    Framewise: one decoder call per latent frame; the causal feature cache keeps the last 2 frames of
    every 3x3x3 conv's input (at every resolution) across calls, and `out = cat([out, out_])` keeps
    the decoded frames. So the peak is the last call's largest conv moment + the full cache + the
    frames decoded so far (or 2x the video at the final concat / unpatchify / clamp). With
    `tile_px`: diffusers' spatial tiling (enable_tiling(tile, tile, 3/4 tile, 3/4 tile)): each tile
    decoded in full and kept until blended; the cache is per tile."""
    sim = _WanVae(config, itemsize)
    scale = int(config.get("scale_factor_spatial") or 8)
    t_scale = int(config.get("scale_factor_temporal") or 4)
    latent_frames = (frames - 1) // t_scale + 1
    h, w = height // scale, width // scale
    if tile_px and (w > tile_px // scale or h > tile_px // scale):
        sim.tiled_decode(latent_frames, h, w, tile_px, tile_px * 3 // 4, scale)
        how = f"{tile_px} px tiles"
    else:
        sim.decode(latent_frames, h, w)
        how = "untiled"
    return _vae_estimate(sim, f"Wan VAE decode {width}x{height}x{frames} ({how})",
                         f"replay of AutoencoderKLWan._decode ({latent_frames} latent frames, z={sim.z}, "
                         f"decoder base {sim.dec_base}, s={itemsize})")


def wan_vae_encode_activation(config: dict, width: int, height: int, frames: int, itemsize: int,
                              tile_px: int | None = None) -> ActivationEstimate:
    """Peak of `AutoencoderKLWan.encode(video).latent_dist.mode()`: chunks of 1 + 4 + 4 ... frames
    through the encoder with the feature cache; the full-resolution ResNets of the 4-frame chunks
    dominate (I2V encodes all frames, [image, zeros...]; TI2V one frame)."""
    sim = _WanVae(config, itemsize)
    sim.encode(frames, height, width, tile_px)
    return _vae_estimate(sim, f"Wan VAE encode {width}x{height}x{frames}{f' ({tile_px} px tiles)' if tile_px else ''}",
                         f"replay of AutoencoderKLWan._encode (base {sim.base}, s={itemsize})")


# ============================================================================ encoders


def umt5_activation(config: dict, tokens: int, itemsize: int) -> ActivationEstimate:
    """Peak of UMT5EncoderModel(ids, mask) at `tokens` tokens (Wan pads to 512).

    UMT5 keeps `wo` in fp32 (_keep_in_fp32_modules), so from the first FFN on the residual stream is
    fp32 (4*L*D). Every layer computes its own relative position bias: the bucket computation holds
    six (L, L) int64 tensors, an fp32 and a bool one (53 L^2 bytes); the bias (1, H, L, L) and the
    SDPA mask made from it (torch.where on the permuted bias, then .contiguous(): three H*L^2*s at once). The gated FFN: wi_0, GELU-tanh temporaries, wi_1, their
    product, its fp32 copy for wo, wo's fp32 output."""
    L, D, s = int(tokens), int(config["d_model"]), int(itemsize)
    H, inner, ff = int(config["num_heads"]), int(config["num_heads"]) * int(config["d_kv"]), int(config["d_ff"])
    stream = F32 * L * D
    normed = s * L * D
    persistent = {"input_embeddings": s * L * D, "attention_mask": L * L, "residual_stream_fp32": stream}
    moments = {
        # normed, q, k, v + bucket tensors (relative position, buckets, abs, if_large, full_like, min; log_ratio; is_small)
        "position buckets": normed + 3 * s * L * inner + 53 * L * L,
        # normed, q, k, v + position bias (a permuted view), torch.where(mask, bias, min) and its .contiguous()
        "attention mask": normed + 3 * s * L * inner + 3 * s * H * L * L,
        # normed, q, k, v, SDPA out + position bias and the contiguous additive mask
        "attention": normed + 4 * s * L * inner + 2 * s * H * L * L,
        # normed + wi_0 out and NewGELU's temporaries (3 alive)
        "ffn GELU": normed + 4 * s * L * ff,
        # normed + GELU out, wi_1 out, product, its fp32 copy (half precision), wo output (fp32)
        "ffn wo": normed + 3 * s * L * ff + (F32 * L * ff if s < F32 else 0) + F32 * L * D,
    }
    return _estimate(f"UMT5 encoder, {L} tokens", persistent, moments,
                     f"L={L}, D={D}, H={H}, d_ff={ff}, s={s}")


def clip_vision_activation(config: dict, itemsize: int) -> ActivationEstimate:
    """Peak of CLIPVisionModel(WithProjection)(pixels, output_hidden_states=True) for ONE image
    (FLF2V encodes two in one batch: twice this). All n+1 hidden states are kept; the last layer runs
    with n of them alive, plus its residual, LayerNorm and MLP (fc1 + activation temporaries)."""
    D, I = int(config["hidden_size"]), int(config["intermediate_size"])
    n = int(config["num_hidden_layers"])
    N = (int(config.get("image_size", 224)) // int(config.get("patch_size", 14))) ** 2 + 1
    unit = N * D * int(itemsize)
    r = I / D
    act = 3 if config.get("hidden_act", "quick_gelu") == "quick_gelu" else 2   # x*sigmoid(1.702x): 3 alive
    persistent = {"hidden_states_kept": n * unit}
    moments = {
        # LayerNorm, q, k, v, SDPA out, out_proj
        "last layer attention": 6 * unit,
        # residual after attention, layer_norm2 + fc1 and the activation's temporaries
        "last layer MLP": (2 + act * r) * unit,
    }
    return _estimate(f"CLIP vision encoder ({N} tokens, {n} layers)", persistent, moments,
                     f"N={N}, D={D}, r={r:g}, s={itemsize}")


# The section for docs/memory.md (paste as it is).
DOCS = """
### Wan family (models/wan/ledger.py; checked by tests/test_wan_ledger.py, all cases within 0.95-1.11)

Units: L tokens, D width, s bytes, A = L*D*s, f = 4/s, c = f if s < 4 else 0, rho = c + 2f (RMSNorm
temporaries), r = ffn_dim/D, n = min(chunk_tokens, L), a = n*D*s. Tokens: `wan_tokens(W, H, F)` =
((F-1)//4+1) * (H/8/2) * (W/8/2) (spatial 16 for the Wan 2.2 VAE): 75,600 at 1280x720x81.

**DiT (`wan_dit_activation`).** Kept through the forward: RoPE cos+sin 8*L*head_dim, context
(512 + 2*Li)*D*s (Li CLIP tokens: 257, FLF2V 514), per-token timesteps (TI2V) temb + timestep_proj 7A.
Peak = kept + max over the block's moments:

| stock block moment | units of A |
|---|---|
| q/k RMSNorm (self and cross; + text K/V in attn2) | 5 + rho |
| RoPE | 6 + 1.5f |
| attention output (+1 with image K/V) | 7 (8) |
| gated residual after the FFN | 5 + c + 2f |
| FFN (proj + GELU) | 4 + 2r |
| per-token timesteps: + 6f everywhere; block start (temb.float() + table) | 1 + 6c + 6f |

bf16: 11 A (RMSNorm / gated residual), FFN-bound when r > 3.5 (5B: r = 4.67 -> 13.3 A); fp32: 4 + 2r.
Chunked (models/wan/blocks.run_block): max(5A [x, q, k, v, attention out], 4A + (6 + 1.5f) a,
A + (1 + c + 2r) a); the head (norm_out) is (1 + 2f) A, per token (1 + 5f) A, and becomes the peak
of a chunked TI2V step.

**VACE (`wan_vace_activation`).** Stock: hints (one L x D per VACE layer) live until the main block
of their layer pops them: main block 0 runs with n_vace + 1 extra A (hints + the last control
stream), the last VACE block with 1 + (n_vace - 1). Chunked (models/wan/blocks: WanVACETransformerBlock
by `run_vace_block`, proj_in / proj_out per chunk, the control stream in place; each hint written
chunk by chunk to the host and brought back by diffusers' `control_hint.to(device)`): a chunked block
+ A (the main x during a VACE block, the last control stream during a main block); the hint
addition holds x, the control stream, the transfer buffer and the product (4A); the head runs with
the last control stream (2 + 2f) A. 14B 720p bf16: 14.5 -> 4.4 GiB (6.1 A). The hints then take
n_vace * A of host RAM (8 x 0.72 GiB at 720p), a host term of the plan (models/wan/profile.host_terms).

**Animate (`wan_animate_activation`).** Stock: kept besides the DiT's: pose embedding (T-1)/T * A,
the face video's permuted copy 3*F*512^2*s, the last face adapter's output A (through the next
blocks and the head). Moments: block + A; face adapter (x, previous output, pre-norm, q +
RMSNorm) (4 + rho) A (`wan_face_adapter_moments`: (2 + rho) A above its inputs); motion encoder
A + 5 * batch * C * S^2 * s (first ResBlock at 512 px, 32 channels, batch 8: 0.63 GiB in bf16); the
head, which keeps the fp32 norm output while its product and sum exist, A + max(1 + c + f, 3f) A.
Chunked (models/wan/blocks.run_animate_forward): the same steps with the pose embedding, the face
video copy and each adapter output dropped once used, face adapters on whole latent frames
(`run_face_adapter`: A + (1 + rho) a_f above its inputs, a_f = frames per chunk x L/T x D x s), the
head on chunks: the peak is the chunked block. Tokens include the reference frame (21 latent frames
for 77 video frames: 75,600 at 720p). 14B 720p bf16: 9.55 -> 3.69 GiB.

**VAE (`wan_vae_decode_activation`, `wan_vae_encode_activation`).** A replay, tensor by tensor, of
AutoencoderKLWan's framewise decode/encode: per causal conv the cat with the cached frames, the
F.pad copy, the kernel's input/output layout copies and the output; WanRMS_norm's fp32 upcast and
F.normalize; the fp32 nearest-exact upsampling; the residual blocks' x.clone() and DupUp3D /
AvgDown3D (Wan 2.2). Persistent: the feature cache (last 2 frames of every causal conv's input at
every resolution: 4.4 GiB bf16 for a 720p Wan 2.1 decode), the decoded frames so far (`out =
cat([out, out_])`), and with tiling every tile's full video until blended, then the rows' concat,
unpatchify and clamp (tiled peak: all tiles + 3 x the video). A call that already ran from the same
feature-cache state is replayed from its record (exact: a call's allocations depend only on its
arguments and the cache), so a long or tiled video is planned in milliseconds.

**UMT5 (`umt5_activation`).** wo is kept in fp32, so the residual stream is fp32 (4*L*D). Per
layer: the relative-position bucket computation (53 L^2 bytes of int64/fp32/bool), the bias and the
SDPA mask made from it (3*H*L^2*s at once), the gated FFN (3*I*L*s + fp32 copy 4*I*L + wo's fp32
output). 0.12 GiB for UMT5-XXL at 512 tokens.

**CLIP vision (`clip_vision_activation`, per image).** output_hidden_states keeps all n+1 states:
n*N*D*s + the last layer's MLP (2 + 2r, quick_gelu 2 + 3r) N*D*s. 0.05 GiB for CLIP-H fp32.
"""
