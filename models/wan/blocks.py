"""Chunked token-wise execution of diffusers' Wan transformer blocks: a memory option for every Wan family.

A stock `WanTransformerBlock.forward` holds, besides the residual stream, full-length copies of the
modulated norm, q/k/v, the attention output and the FFN's hidden layer (13824 wide for the 14B
models): about 9.5 x tokens x width alive at its peak. Here every token-wise step (norms,
modulation, projections, RoPE, gated residuals, FFN) runs on `chunk_tokens` tokens at a time and
the residual stream is updated in place, so only x, q, k, v and the attention output exist at
full length (5 units; docs/memory.md). The numbers are the stock block's: same modules, same
dtype casts, same order of operations per token; only the attention call sees the whole sequence.

The same switch covers the VACE and Animate extras:
- `WanVACETransformerBlock` (`run_vace_block`): proj_in + residual, the block body (`run_block`)
  and proj_out, chunked; its hint is written to `hint_device` (the host) chunk by chunk, so the
  hints wait there instead of on the device (diffusers' forward moves each back with
  `control_hint.to(hidden_states.device)` when it adds it);
- `WanAnimateFaceBlockCrossAttention` (`run_face_adapter`): whole latent frames at a time (its
  queries are independent and attend to their own frame's motion tokens only);
- `WanAnimateTransformer3DModel` (`run_animate_forward`): the stock forward's steps, dropping the
  pose embedding, the face video copy and each adapter output once used, with a chunked head.

`install_chunking(transformer)` puts a diffusers `ModelHook` on every such module once, at load
time, so that block streaming hooks applied later wrap it; `set_chunking(transformer, n)` turns
it on for a job (None: the stock forwards run). Blocks whose attention processor offers
`attend(attn, q, k, v)` (LDF-VFI's local tile attention) use it for self-attention; a processor
with `self_attention = True` on `attn2` makes the second attention attend to the video tokens
themselves (LDF-VFI has no text).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

HOOK_NAME = "frame_studio_chunked_block"
DEFAULT_CHUNK_TOKENS = 4096


@dataclass
class Modulation:
    """adaLN modulation (shift, scale, gate, c_shift, c_scale, c_gate) of the tokens of one call.

    `values` is (B, G, 6, D) float32 for G groups of tokens; `groups` gives each token's group (S,)
    or is None when every token shares group 0 (Wan 2.1) or G == S (per-token, Wan 2.2 TI2V)."""

    values: torch.Tensor
    groups: torch.Tensor | None = None

    @classmethod
    def from_diffusers(cls, temb: torch.Tensor) -> "Modulation":
        """diffusers passes (B, 6, D) or, with per-token timesteps, (B, S, 6, D)."""
        return cls(temb.unsqueeze(1) if temb.ndim == 3 else temb)

    def rows(self, chunk: slice) -> torch.Tensor:
        """(B, n or 1, 6, D) for the tokens of `chunk`."""
        if self.groups is not None:
            return self.values[:, self.groups[chunk]]
        if self.values.shape[1] == 1:
            return self.values
        return self.values[:, chunk]


def is_wan_block(module: torch.nn.Module) -> bool:
    """diffusers' Wan blocks (WanTransformerBlock in transformer_wan and transformer_wan_animate)."""
    return type(module).__name__ == "WanTransformerBlock" and all(
        hasattr(module, name) for name in ("norm1", "attn1", "attn2", "norm2", "ffn", "norm3", "scale_shift_table"))


def _chunks(length: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, length)) for i in range(0, length, size)]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's rotary embedding on (B, n, heads, hd) with diffusers' interleaved cos/sin tables
    (1, n, 1, hd): pairs (x1, x2) rotate by the angle stored at their even / odd positions."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)


def project(attn: Any, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v (B, n, heads, hd) of a self-attention over `h` (B, n, D), as WanAttnProcessor does."""
    q = attn.norm_q(attn.to_q(h)).unflatten(2, (attn.heads, -1))
    k = attn.norm_k(attn.to_k(h)).unflatten(2, (attn.heads, -1))
    v = attn.to_v(h).unflatten(2, (attn.heads, -1))
    if rope is not None:
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    return q, k, v


def attend(attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, S, heads, hd) attention through the block's processor if it has its own kernel (local
    tiles), else diffusers' dispatcher (so `diffusers.attention_backend(...)` applies)."""
    processor = attn.processor
    if hasattr(processor, "attend"):
        return processor.attend(attn, q, k, v)
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    return dispatch_attention_fn(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 backend=getattr(processor, "_attention_backend", None))


def _self_attention(x: torch.Tensor, attn: Any, pre: Any, gate: Any, rope: Any, chunks: list[slice]) -> None:
    """x += [gate *] out_proj(attention(pre(x))) in place; `pre(chunk)` gives the normed input."""
    shape = (*x.shape[:2], attn.heads, x.shape[2] // attn.heads)
    q, k, v = x.new_empty(shape), x.new_empty(shape), x.new_empty(shape)
    for c in chunks:
        r = (rope[0][:, c], rope[1][:, c]) if rope is not None else None
        q[:, c], k[:, c], v[:, c] = project(attn, pre(c), r)
    out = attend(attn, q, k, v)
    del q, k, v
    for c in chunks:
        y = attn.to_out[1](attn.to_out[0](out[:, c].flatten(2, 3).type_as(x)))
        if gate is None:
            x[:, c] = x[:, c] + y
        else:
            x[:, c] = (x[:, c].float() + y * gate(c)).type_as(x)


@torch.no_grad()
def run_block(block: Any, x: torch.Tensor, context: torch.Tensor | None, mod: Modulation,
              rope: tuple[torch.Tensor, torch.Tensor] | None, chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> torch.Tensor:
    """One Wan block on x (B, S, D), chunked; x is updated in place and returned."""
    chunks = _chunks(x.shape[1], max(1, int(chunk_tokens)))
    table = block.scale_shift_table.float()

    def part(c: slice, index: int) -> torch.Tensor:
        return (table[:, index].unsqueeze(1) + mod.rows(c)[:, :, index].float())  # (B, n or 1, D)

    # 1. self-attention with RoPE, gated
    _self_attention(x, block.attn1,
                    lambda c: (block.norm1(x[:, c].float()) * (1 + part(c, 1)) + part(c, 0)).type_as(x),
                    lambda c: part(c, 2), rope, chunks)
    # 2. cross-attention to the context (no gate); LDF-VFI's processor makes it self-attention
    if getattr(block.attn2.processor, "self_attention", False):
        _self_attention(x, block.attn2, lambda c: block.norm2(x[:, c].float()).type_as(x), None, None, chunks)
    else:
        for c in chunks:  # queries are independent: chunking the cross-attention changes nothing
            x[:, c] = x[:, c] + block.attn2(block.norm2(x[:, c].float()).type_as(x), context, None, None)
    # 3. feed-forward, modulated and gated
    for c in chunks:
        h = (block.norm3(x[:, c].float()) * (1 + part(c, 4)) + part(c, 3)).type_as(x)
        x[:, c] = (x[:, c].float() + block.ffn(h).float() * part(c, 5)).type_as(x)
    return x


def host_buffer(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An empty tensor on the offload device for a VACE hint. Not pinned: the plan's pinned budget
    is spent on streamed weights, and torch keeps pinned blocks cached. tests/test_wan_memory_options.py
    swaps it for numpy-backed memory, which torch's CPU allocator (and so the measured peak) does not
    see, as a GPU's allocator does not see host memory."""
    return torch.empty(shape, dtype=dtype, device=device)


@torch.no_grad()
def run_vace_block(block: Any, x: torch.Tensor, context: torch.Tensor | None, control: torch.Tensor,
                   mod: Modulation, rope: tuple[torch.Tensor, torch.Tensor] | None,
                   chunk_tokens: int = DEFAULT_CHUNK_TOKENS, hint_device: torch.device | str | None = None
                   ) -> tuple[torch.Tensor | None, torch.Tensor]:
    """One WanVACETransformerBlock on the control stream (B, S, D), chunked: (hint, control).

    As its forward: `proj_in(control) + x` (block 0), the Wan block body (`run_block`, the same
    modules and casts), `proj_out` of the result. The control stream is updated in place (the VACE
    forward rebinds it to the block's output). With `hint_device` the hint is written chunk by chunk
    into a tensor there, so it never exists at full length on the compute device."""
    chunks = _chunks(control.shape[1], max(1, int(chunk_tokens)))
    if block.proj_in is not None:
        target = None
        for c in chunks:
            y = block.proj_in(control[:, c]) + x[:, c]
            if target is None:  # in place unless the sum has another dtype than the input
                target = control if y.dtype == control.dtype else control.new_empty(control.shape, dtype=y.dtype)
            target[:, c] = y
            del y
        control = target
    run_block(block, control, context, mod, rope, chunk_tokens)
    if block.proj_out is None:
        return None, control
    hint = None
    for c in chunks:
        y = block.proj_out(control[:, c])
        if hint is None:
            shape = (*control.shape[:2], y.shape[-1])
            if hint_device is None:
                hint = control.new_empty(shape, dtype=y.dtype)
            else:
                hint = host_buffer(shape, y.dtype, torch.device(hint_device))
        hint[:, c] = y
        del y
    return hint, control


def _face_frames_per_chunk(tokens_per_frame: int, chunk_tokens: int) -> int:
    return max(1, int(chunk_tokens) // max(1, tokens_per_frame))


@torch.no_grad()
def run_face_adapter(attn: Any, x: torch.Tensor, motion: torch.Tensor,
                     chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> torch.Tensor:
    """WanAnimateFaceBlockCrossAttention(x, motion) on whole latent frames at a time.

    Its processor attends the queries of latent frame t (x's S tokens are T frames of S/T) to the
    N motion tokens of frame t only, and every other step is per token (pre_norm_q, to_q, RMSNorm
    over head_dim, to_out): so a chunk of frames gives the same numbers. K and V (T x N tokens) are
    computed once, as the processor does; the output is the only full-length tensor made here."""
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    processor = attn.processor
    kv = attn.pre_norm_kv(motion)
    B, T, N, _ = kv.shape
    kv = kv.flatten(1, 2)
    key = attn.norm_k(attn.to_k(kv).view(B, T, N, attn.heads, -1))
    value = attn.to_v(kv).view(B, T, N, attn.heads, -1)
    del kv
    if x.shape[1] % T:
        raise ValueError(f"face adapter: {x.shape[1]} tokens are not {T} whole latent frames")
    per = x.shape[1] // T
    step = _face_frames_per_chunk(per, chunk_tokens)
    out = None
    for f0 in range(0, T, step):
        f1 = min(T, f0 + step)
        c = slice(f0 * per, f1 * per)
        query = attn.norm_q(attn.to_q(attn.pre_norm_q(x[:, c])).unflatten(2, (attn.heads, -1)))
        query = query.unflatten(1, (f1 - f0, -1)).flatten(0, 1)
        h = dispatch_attention_fn(query, key[:, f0:f1].flatten(0, 1), value[:, f0:f1].flatten(0, 1),
                                  attn_mask=None, dropout_p=0.0, is_causal=False,
                                  backend=getattr(processor, "_attention_backend", None),
                                  parallel_config=getattr(processor, "_parallel_config", None))
        h = h.flatten(2, 3).type_as(query).unflatten(0, (B, f1 - f0)).flatten(1, 2)
        del query
        h = attn.to_out(h)
        if out is None:
            out = x.new_empty((*x.shape[:2], h.shape[-1]), dtype=h.dtype)
        out[:, c] = h
        del h
    return out


@torch.no_grad()
def run_animate_forward(model: Any, hidden_states: torch.Tensor, timestep: torch.Tensor,
                        encoder_hidden_states: torch.Tensor, encoder_hidden_states_image: torch.Tensor | None,
                        pose_hidden_states: torch.Tensor, face_pixel_values: torch.Tensor,
                        motion_encode_batch_size: int | None, chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> torch.Tensor:
    """WanAnimateTransformer3DModel.forward (diffusers 0.42.1) step for step, with three changes that
    only free memory: the pose embedding, the permuted face video and each face-adapter output are
    dropped once used (the stock forward keeps them as locals: pose through every block, the last
    adapter output through the next blocks and the head), and the output norm + projection run on
    `chunk_tokens` tokens at a time (the stock head holds the fp32 norm output, its modulated product
    and the sum: 6 x L x D at once in half precision). Blocks and face adapters are called as
    modules, so their chunking and streaming hooks apply. Returns the output tensor."""
    if pose_hidden_states.shape[2] + 1 != hidden_states.shape[2]:
        raise ValueError(f"pose_hidden_states frame dim (dim 2) is {pose_hidden_states.shape[2]} but must be one "
                         f"less than the hidden_states's corresponding frame dim: {hidden_states.shape[2]}")
    batch_size, _, num_frames, height, width = hidden_states.shape
    p_t, p_h, p_w = model.config.patch_size
    frames, rows, cols = num_frames // p_t, height // p_h, width // p_w

    rotary_emb = model.rope(hidden_states)
    x = model.patch_embedding(hidden_states)
    pose = model.pose_patch_embedding(pose_hidden_states)
    x[:, :, 1:] = x[:, :, 1:] + pose
    del pose
    x = x.flatten(2).transpose(1, 2).contiguous()

    temb, timestep_proj, context, image = model.condition_embedder(timestep, encoder_hidden_states,
                                                                   encoder_hidden_states_image, timestep_seq_len=None)
    timestep_proj = timestep_proj.unflatten(1, (6, -1))
    if image is not None:
        context = torch.concat([image, context], dim=1)

    b, channels, face_frames, face_h, face_w = face_pixel_values.shape
    faces = face_pixel_values.permute(0, 2, 1, 3, 4).reshape(-1, channels, face_h, face_w)
    batch = motion_encode_batch_size or model.config.motion_encoder_batch_size
    motion = torch.cat([model.motion_encoder(part) for part in torch.split(faces, batch)])
    del faces
    motion = model.face_encoder(motion.view(b, face_frames, -1))
    motion = torch.cat([torch.zeros_like(motion[:, :1]), motion], dim=1)

    every = model.config.inject_face_latents_blocks
    for index, block in enumerate(model.blocks):
        x = block(x, context, timestep_proj, rotary_emb)
        if index % every == 0:
            face = model.face_adapter[index // every](x, motion).to(device=x.device)
            x = face + x
            del face

    shift, scale = (model.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
    shift, scale = shift.to(x.device), scale.to(x.device)
    out = None
    for c in _chunks(x.shape[1], max(1, int(chunk_tokens))):
        h = model.norm_out(x[:, c].float())
        h = model.proj_out((h * (1 + scale) + shift).to(dtype=x.dtype))
        if out is None:
            out = h.new_empty((*x.shape[:2], h.shape[-1]))
        out[:, c] = h
        del h
    del x
    out = out.reshape(batch_size, frames, rows, cols, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return out.flatten(6, 7).flatten(4, 5).flatten(2, 3)


class _SwitchedHook:
    """A diffusers ModelHook (duck-typed: diffusers calls these) whose `new_forward` runs the chunked
    version when `chunk_tokens` is set and the module's own forward otherwise."""

    _is_stateful = False

    def __init__(self) -> None:
        self.chunk_tokens: int | None = None
        self.fn_ref: Any = None

    def initialize_hook(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def deinitalize_hook(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def pre_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> tuple[tuple, dict]:
        return args, kwargs

    def post_forward(self, module: torch.nn.Module, output: Any) -> Any:
        return output

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def active(self) -> bool:
        return self.chunk_tokens is not None and not torch.is_grad_enabled()


class ChunkedBlockHook(_SwitchedHook):
    """WanTransformerBlock: `run_block` when chunking is on."""

    def new_forward(self, module: torch.nn.Module, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                    temb: torch.Tensor, rotary_emb: Any = None) -> torch.Tensor:
        if not self.active():
            return self.fn_ref.original_forward(hidden_states, encoder_hidden_states, temb, rotary_emb)
        # In place on the caller's tensor: diffusers' block loops rebind it to the block's output, so
        # nothing reads the input again (a copy would cost one more full-length tensor). Step
        # caches that keep block inputs are refused by `set_chunking`.
        return run_block(module, hidden_states, encoder_hidden_states, Modulation.from_diffusers(temb),
                         rotary_emb, self.chunk_tokens)


class ChunkedVaceBlockHook(_SwitchedHook):
    """WanVACETransformerBlock: `run_vace_block` when chunking is on, its hint sent to `hint_device`."""

    def __init__(self) -> None:
        super().__init__()
        self.hint_device: torch.device | None = None

    def new_forward(self, module: torch.nn.Module, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                    control_hidden_states: torch.Tensor, temb: torch.Tensor, rotary_emb: Any = None
                    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        if not self.active() or temb.ndim != 3:
            return self.fn_ref.original_forward(hidden_states, encoder_hidden_states, control_hidden_states, temb,
                                                rotary_emb)
        # The control stream in place, as the main blocks: WanVACETransformer3DModel rebinds it.
        return run_vace_block(module, hidden_states, encoder_hidden_states, control_hidden_states,
                              Modulation.from_diffusers(temb), rotary_emb, self.chunk_tokens, self.hint_device)


class ChunkedFaceAdapterHook(_SwitchedHook):
    """WanAnimateFaceBlockCrossAttention: `run_face_adapter` when chunking is on."""

    def new_forward(self, module: torch.nn.Module, hidden_states: torch.Tensor,
                    encoder_hidden_states: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                    **kwargs: Any) -> torch.Tensor:
        usable = (self.active() and attention_mask is None and encoder_hidden_states is not None
                  and encoder_hidden_states.ndim == 4 and hidden_states.ndim == 3
                  and hidden_states.shape[1] % encoder_hidden_states.shape[1] == 0
                  and type(module.processor).__name__ == "WanAnimateFaceBlockAttnProcessor"
                  and not getattr(module, "fused_projections", False))
        if not usable:  # the stock forward (it also raises the stock errors)
            return self.fn_ref.original_forward(hidden_states, encoder_hidden_states, attention_mask, **kwargs)
        return run_face_adapter(module, hidden_states, encoder_hidden_states, self.chunk_tokens)


class ChunkedAnimateHook(_SwitchedHook):
    """WanAnimateTransformer3DModel: `run_animate_forward` when chunking is on (no LoRA scale, no
    gradients, pose and face inputs given; otherwise the stock forward)."""

    def new_forward(self, module: torch.nn.Module, hidden_states: torch.Tensor, timestep: torch.Tensor,
                    encoder_hidden_states: torch.Tensor, encoder_hidden_states_image: torch.Tensor | None = None,
                    pose_hidden_states: torch.Tensor | None = None, face_pixel_values: torch.Tensor | None = None,
                    motion_encode_batch_size: int | None = None, return_dict: bool = True,
                    attention_kwargs: dict[str, Any] | None = None) -> Any:
        if not self.active() or attention_kwargs is not None or pose_hidden_states is None or face_pixel_values is None:
            return self.fn_ref.original_forward(hidden_states, timestep, encoder_hidden_states,
                                                encoder_hidden_states_image, pose_hidden_states, face_pixel_values,
                                                motion_encode_batch_size, return_dict, attention_kwargs)
        output = run_animate_forward(module, hidden_states, timestep, encoder_hidden_states,
                                     encoder_hidden_states_image, pose_hidden_states, face_pixel_values,
                                     motion_encode_batch_size, self.chunk_tokens)
        if not return_dict:
            return (output,)
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        return Transformer2DModelOutput(sample=output)


def is_animate_model(module: torch.nn.Module) -> bool:
    """diffusers' WanAnimateTransformer3DModel."""
    return type(module).__name__ == "WanAnimateTransformer3DModel" and all(
        hasattr(module, name) for name in ("blocks", "face_adapter", "pose_patch_embedding", "motion_encoder",
                                           "face_encoder", "norm_out", "proj_out", "scale_shift_table"))


def is_vace_block(module: torch.nn.Module) -> bool:
    """diffusers' WanVACETransformerBlock (transformer_wan_vace)."""
    return type(module).__name__ == "WanVACETransformerBlock" and all(
        hasattr(module, name) for name in ("proj_in", "proj_out", "norm1", "attn1", "attn2", "norm2", "ffn", "norm3",
                                           "scale_shift_table"))


def is_face_adapter(module: torch.nn.Module) -> bool:
    """diffusers' WanAnimateFaceBlockCrossAttention (the Wan-Animate face adapter)."""
    return type(module).__name__ == "WanAnimateFaceBlockCrossAttention" and all(
        hasattr(module, name) for name in ("pre_norm_q", "pre_norm_kv", "to_q", "to_k", "to_v", "to_out", "norm_q",
                                           "norm_k", "heads"))


def _hook_for(module: torch.nn.Module) -> type[_SwitchedHook] | None:
    if is_wan_block(module):
        return ChunkedBlockHook
    if is_vace_block(module):
        return ChunkedVaceBlockHook
    if is_face_adapter(module):
        return ChunkedFaceAdapterHook
    if is_animate_model(module):
        return ChunkedAnimateHook
    return None


def install_chunking(transformer: torch.nn.Module) -> int:
    """Hook every Wan block, VACE block and Animate face adapter of `transformer`, and an Animate
    transformer itself (once; call before any placement hooks). Returns the count."""
    from diffusers.hooks import HookRegistry

    count = 0
    for module in transformer.modules():
        kind = _hook_for(module)
        if kind is not None:
            registry = HookRegistry.check_if_exists_or_initialize(module)
            if registry.get_hook(HOOK_NAME) is None:
                registry.register_hook(kind(), HOOK_NAME)
            count += 1
    return count


def set_chunking(transformer: torch.nn.Module, chunk_tokens: int | None,
                 hint_device: torch.device | str | None = "cpu") -> None:
    """Chunk every hooked module by `chunk_tokens` tokens (None: the stock forwards).

    With chunking on, VACE hints are kept on `hint_device` (the host by default; None keeps them on
    the compute device) between the VACE block that makes them and the main block that adds them:
    diffusers' forward moves each one back with `control_hint.to(hidden_states.device)` when used."""
    if chunk_tokens is not None:
        cached = [name for module in transformer.modules() if getattr(module, "_diffusers_hook", None)
                  for name in module._diffusers_hook.hooks if "cache" in name]
        if cached:
            raise ValueError(f"chunked blocks update activations in place and cannot run under step caches "
                             f"({sorted(set(cached))}); turn the cache or the chunking off")
    for module in transformer.modules():
        registry = getattr(module, "_diffusers_hook", None)
        hook = registry.get_hook(HOOK_NAME) if registry is not None else None
        if hook is not None:
            hook.chunk_tokens = chunk_tokens
            if isinstance(hook, ChunkedVaceBlockHook):
                hook.hint_device = torch.device(hint_device) if hint_device is not None else None
