"""The Wan ledgers (models/wan/ledger.py) against peaks measured on CPU for small real modules.

Measured = torch.profiler's allocator events summed in time order (memory.measure), one thread.
Each case builds the real diffusers / transformers class with a tiny config of the same structure,
token counts from a few hundred to a few thousand, and asserts 0.8 <= measured / estimated <= 1.25.

Which dtype where (the kernels the ledger describes are the ones GPUs run):
- DiT stock blocks in fp32 and bf16. Chunked blocks peak at the attention call: CPU's bf16 flash
  kernel packs K and V (two more L x D copies, no GPU does that), so chunked cases run in fp32.
- Chunked VACE keeps its hints on the host: here in numpy-backed buffers (`host_hints`), which
  torch's CPU allocator, and so the measured peak, does not see, as a GPU's allocator does not see
  host memory.
- VAEs in bf16: CPU fp32 3D convolutions take an im2col path whose 27x column buffer exists on no
  GPU. Sizes keep the upsamplers' inputs above 32x32 (below that CPU's nearest-exact kernel copies
  its input and output; not at real sizes, not on CUDA).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from memory.activations import ActivationEstimate
from memory.measure import peak_allocated_bytes
from models.wan import ledger

pytestmark = pytest.mark.usefixtures("one_thread")

LOW, HIGH = 0.8, 1.25
CONFIGS = Path(__file__).resolve().parent.parent / "presets" / "configs" / "Wan-AI"


def real_config(repo: str, sub: str) -> dict:
    return json.loads((CONFIGS / repo / sub / "config.json").read_text())


def check(measured: int, estimate) -> float:
    ratio = measured / estimate.bytes
    assert LOW <= ratio <= HIGH, (ratio, measured, estimate.bytes, estimate.formula, estimate.terms)
    return ratio


def like_from_pretrained(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Cast as `from_pretrained(torch_dtype=dtype)` does: `_keep_in_fp32_modules` (rope tables,
    time embedder, scale_shift_tables, norms; UMT5's wo) stay fp32."""
    keep = getattr(model, "_keep_in_fp32_modules", None) or []
    model.to(dtype)
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if any(k in name.split(".") for k in keep):
            tensor.data = tensor.data.float()
    return model


@pytest.fixture
def host_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    """VACE hints offloaded to numpy-backed memory: not counted by memory.measure."""
    from models.wan import blocks

    def numpy_host_buffer(shape, dtype, device):
        n = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
        return torch.from_numpy(np.empty(n, dtype=np.uint8)).view(dtype).view(shape)

    monkeypatch.setattr(blocks, "host_buffer", numpy_host_buffer)


def _chunk(model: torch.nn.Module, chunk: int | None) -> None:
    if chunk:
        from models.wan.blocks import install_chunking, set_chunking

        assert install_chunking(model) > 0
        set_chunking(model, chunk)


# ----------------------------------------------------------------------------------------- DiT

def _dit_config(heads: int, head_dim: int, image: bool = False, **extra) -> dict:
    cfg = dict(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim,
               in_channels=36 if image else 16, out_channels=16, text_dim=32, freq_dim=32,
               ffn_dim=int(2.7 * heads * head_dim), num_layers=1, rope_max_seq_len=128)
    if image:
        cfg.update(image_dim=24, added_kv_proj_dim=heads * head_dim)
    cfg.update(extra)
    return cfg


def _measure_dit(cfg: dict, dtype, frames: int, h: int, w: int, text: int, *, chunk=None, per_token=False,
                 image=False) -> int:
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    model = like_from_pretrained(WanTransformer3DModel.from_config(cfg).eval(), dtype)
    _chunk(model, chunk)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, cfg["in_channels"], frames, h, w, generator=g).to(dtype)
    tokens = frames * (h // 2) * (w // 2)
    kwargs = dict(timestep=torch.full((1, tokens), 500.0) if per_token else torch.tensor([500.0]),
                  encoder_hidden_states=torch.randn(1, text, 32, generator=g).to(dtype), return_dict=False)
    if image:
        kwargs["encoder_hidden_states_image"] = torch.randn(1, ledger.CLIP_TOKENS, 24, generator=g).to(dtype)
    measured, out = peak_allocated_bytes(lambda: model(x, **kwargs)[0])
    assert out.shape == (1, 16, frames, h, w)
    return measured


DIT_CASES = {
    # name: (dtype, heads, head_dim, latent frames, h, w, text tokens, chunk, per-token, image)
    "bf16 stock (RMSNorm / gated residual)": (torch.bfloat16, 4, 64, 5, 40, 40, 64, None, False, False),
    "fp32 stock (FFN)": (torch.float32, 2, 64, 3, 48, 64, 64, None, False, False),
    "bf16 stock I2V (image K/V, 512 text)": (torch.bfloat16, 4, 32, 4, 32, 48, 512, None, False, True),
    "bf16 stock per-token timesteps": (torch.bfloat16, 4, 32, 3, 40, 48, 64, None, True, False),
    "fp32 stock per-token timesteps": (torch.float32, 2, 48, 3, 32, 64, 64, None, True, False),
    "fp32 chunked 512": (torch.float32, 4, 64, 5, 48, 48, 64, 512, False, False),
    "fp32 chunked 1024, 2 x 96": (torch.float32, 2, 96, 4, 48, 64, 64, 1024, False, False),
    "fp32 chunked per-token": (torch.float32, 4, 48, 4, 40, 48, 64, 512, True, False),
    "fp32 chunked I2V": (torch.float32, 4, 48, 4, 48, 48, 512, 768, False, True),
}


@pytest.mark.parametrize("name", list(DIT_CASES))
def test_wan_dit_ledger_matches_measured_peak(name: str) -> None:
    dtype, heads, hd, frames, h, w, text, chunk, per_token, image = DIT_CASES[name]
    cfg = _dit_config(heads, hd, image)
    measured = _measure_dit(cfg, dtype, frames, h, w, text, chunk=chunk, per_token=per_token, image=image)
    tokens = frames * (h // 2) * (w // 2)
    est = ledger.wan_dit_activation(cfg, tokens, text, torch.empty((), dtype=dtype).element_size(),
                                    chunked=chunk is not None, chunk_tokens=chunk or 4096,
                                    per_token_timesteps=per_token, image_tokens=ledger.CLIP_TOKENS if image else 0)
    check(measured, est)


def test_chunked_blocks_need_less_at_realistic_ratios() -> None:
    """8192 tokens in chunks of 1024 (real jobs: 75,600 tokens in chunks of 4096): measured and
    estimated peaks both drop to well under the stock block's."""
    cfg = _dit_config(2, 64)
    frames, h, w = 8, 64, 64
    tokens = frames * (h // 2) * (w // 2)
    stock = _measure_dit(cfg, torch.float32, frames, h, w, 64)
    chunked = _measure_dit(cfg, torch.float32, frames, h, w, 64, chunk=1024)
    est_stock = ledger.wan_dit_activation(cfg, tokens, 64, 4)
    est_chunked = ledger.wan_dit_activation(cfg, tokens, 64, 4, chunked=True, chunk_tokens=1024)
    check(stock, est_stock)
    check(chunked, est_chunked)
    assert chunked < 0.75 * stock and est_chunked.bytes < 0.75 * est_stock.bytes


def test_real_14b_chunked_is_below_stock() -> None:
    cfg = real_config("Wan2.1-FLF2V-14B-720P-diffusers", "transformer")
    tokens = ledger.wan_tokens(1280, 720, 81)
    assert tokens == 75_600
    stock = ledger.wan_dit_activation(cfg, tokens, 512, 2, image_tokens=2 * ledger.CLIP_TOKENS)
    chunked = ledger.wan_dit_activation(cfg, tokens, 512, 2, chunked=True, image_tokens=2 * ledger.CLIP_TOKENS)
    assert chunked.bytes < 0.6 * stock.bytes
    # stock bf16: ~11 A + RoPE, A = 75,600 x 5120 x 2 B
    assert 10.5 < stock.bytes / (tokens * 5120 * 2) < 12.5


# ----------------------------------------------------------------------------------------- VACE


def _measure_vace(dtype, chunk, vace_layers, control_frames, *, layers=3, frames=4, h=40, w=48, heads=4, hd=48):
    from diffusers import WanVACETransformer3DModel

    cfg = dict(_dit_config(heads, hd), num_layers=layers, vace_layers=vace_layers, vace_in_channels=24)
    torch.manual_seed(0)
    model = like_from_pretrained(WanVACETransformer3DModel.from_config(cfg).eval(), dtype)
    _chunk(model, chunk)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, frames, h, w, generator=g).to(dtype)
    control = torch.randn(1, 24, control_frames, h, w, generator=g).to(dtype)
    ctx = torch.randn(1, 64, 32, generator=g).to(dtype)
    measured, _ = peak_allocated_bytes(lambda: model(x, timestep=torch.tensor([500.0]), encoder_hidden_states=ctx,
                                                     control_hidden_states=control, return_dict=False)[0])
    tokens = frames * (h // 2) * (w // 2)
    est = ledger.wan_vace_activation(cfg, tokens, 64, x.element_size(), chunked=chunk is not None,
                                     chunk_tokens=chunk or 4096, control_tokens=control_frames * (h // 2) * (w // 2))
    return measured, est


@pytest.mark.parametrize("dtype,chunk,vace_layers,control_frames", [
    (torch.bfloat16, None, [0, 2], 4),       # main block 0 with 2 hints + the last control stream
    (torch.float32, None, [0, 2], 3),        # control shorter than the video: zero padding kept
    (torch.float32, 512, [0, 1, 2], 4),      # chunked VACE and main blocks, hints on the host
    (torch.float32, 256, [0, 2], 3),         # chunked, short control (padding kept), a VACE block peaks
], ids=["bf16-stock", "fp32-short-control", "fp32-chunked", "fp32-chunked-short-control"])
def test_wan_vace_ledger_matches_measured_peak(host_hints, dtype, chunk, vace_layers, control_frames) -> None:
    check(*_measure_vace(dtype, chunk, vace_layers, control_frames))


def test_chunked_vace_needs_far_less_at_realistic_ratios(host_hints) -> None:
    """4 VACE layers in 4, 4608 tokens in chunks of 512: the hints (n_vace A) and the stock blocks'
    temporaries go; measured and estimated chunked peaks both under half the stock ones."""
    shape = dict(layers=4, frames=6, h=48, w=64, heads=2, hd=64)
    stock, est_stock = _measure_vace(torch.float32, None, [0, 1, 2, 3], 6, **shape)
    chunked, est_chunked = _measure_vace(torch.float32, 512, [0, 1, 2, 3], 6, **shape)
    check(stock, est_stock)
    check(chunked, est_chunked)
    assert chunked < 0.5 * stock and est_chunked.bytes < 0.5 * est_stock.bytes


def test_real_vace_14b_chunked_720p() -> None:
    """Hints on the host and chunked VACE blocks: ~6 A (a chunked block + the main x or the last
    control stream) instead of ~20 A."""
    cfg = real_config("Wan2.1-VACE-14B-diffusers", "transformer")
    tokens = ledger.wan_tokens(1280, 720, 81)
    A = tokens * 5120 * 2
    stock = ledger.wan_vace_activation(cfg, tokens, 512, 2)
    chunked = ledger.wan_vace_activation(cfg, tokens, 512, 2, chunked=True)
    assert 19 < stock.bytes / A < 21 and 5.8 < chunked.bytes / A < 6.5
    assert chunked.bytes < 4.6 * 2**30


# ----------------------------------------------------------------------------------------- Animate


def _animate_config(heads: int, hd: int, face_px: int, layers: int = 2, inject: int = 1) -> dict:
    channels = {str(2 ** i): min(64, 2 ** (12 - i)) for i in range(2, 8)}
    return dict(_dit_config(heads, hd, image=True), num_layers=layers, latent_channels=16, motion_encoder_size=face_px,
                motion_encoder_channel_sizes=channels, motion_style_dim=32, motion_dim=8, motion_encoder_dim=32,
                face_encoder_hidden_dim=32, face_encoder_num_heads=4, inject_face_latents_blocks=inject,
                motion_encoder_batch_size=8)


def _measure_animate(dtype, chunk, frames, h, w, face_px, *, heads=4, hd=48, layers=2, inject=1):
    from diffusers import WanAnimateTransformer3DModel

    cfg = _animate_config(heads, hd, face_px, layers, inject)
    torch.manual_seed(0)
    model = like_from_pretrained(WanAnimateTransformer3DModel.from_config(cfg).eval(), dtype)
    _chunk(model, chunk)
    g = torch.Generator().manual_seed(0)
    face_frames = 4 * (frames - 2) + 1                     # 77 face frames <-> 21 latent frames (with the reference)
    r = lambda *shape: torch.randn(*shape, generator=g).to(dtype)
    x, pose, face = r(1, 36, frames, h, w), r(1, 16, frames - 1, h, w), r(1, 3, face_frames, face_px, face_px)
    ctx, img = r(1, ledger.TEXT_TOKENS, 32), r(1, ledger.CLIP_TOKENS, 24)
    measured, _ = peak_allocated_bytes(lambda: model(x, timestep=torch.tensor([500.0]), encoder_hidden_states=ctx,
                                                     encoder_hidden_states_image=img, pose_hidden_states=pose,
                                                     face_pixel_values=face, return_dict=False)[0])
    tokens = frames * (h // 2) * (w // 2)
    est = ledger.wan_animate_activation(cfg, tokens, ledger.TEXT_TOKENS, x.element_size(), face_frames=face_frames,
                                        chunked=chunk is not None, chunk_tokens=chunk or 4096)
    return measured, est


@pytest.mark.parametrize("dtype,chunk,frames,h,w,face_px", [
    (torch.bfloat16, None, 5, 40, 40, 32),     # blocks (+ the previous face-adapter output) dominate
    (torch.float32, 512, 5, 40, 48, 16),       # chunked forward: the chunked blocks
    (torch.bfloat16, None, 3, 16, 16, 64),     # few tokens, large face crops: the motion encoder peaks
    (torch.float32, 256, 6, 48, 48, 16),       # chunked, 576 tokens per frame: face chunks of one frame
], ids=["bf16-stock", "fp32-chunked", "bf16-motion-encoder", "fp32-chunked-one-frame"])
def test_wan_animate_ledger_matches_measured_peak(dtype, chunk, frames, h, w, face_px) -> None:
    check(*_measure_animate(dtype, chunk, frames, h, w, face_px))


def test_chunked_animate_needs_far_less_at_realistic_ratios() -> None:
    """4 blocks, adapters every other block, 4608 tokens in chunks of 512 (fp32: the stock peak is
    the FFN, 4 + 2r = 9.4 A, + the adapter output and the pose embedding; chunked 5 A + RoPE):
    measured and estimated chunked peaks near half the stock ones (0.39 at 14B 720p bf16)."""
    shape = dict(layers=4, inject=2, heads=4, hd=32)
    stock, est_stock = _measure_animate(torch.float32, None, 6, 48, 64, 16, **shape)
    chunked, est_chunked = _measure_animate(torch.float32, 512, 6, 48, 64, 16, **shape)
    check(stock, est_stock)
    check(chunked, est_chunked)
    assert chunked < 0.55 * stock and est_chunked.bytes < 0.55 * est_stock.bytes


@pytest.mark.parametrize("dtype,chunk,frames,per", [
    (torch.bfloat16, None, 6, 400),   # pre_norm_q, to_q + RMSNorm temporaries: (2 + rho) A, 8 A in bf16
    (torch.float32, None, 6, 400),
    (torch.bfloat16, 400, 6, 400),    # one frame per chunk
    (torch.bfloat16, 1000, 6, 400),   # two frames per chunk
    (torch.float32, 100, 8, 300),     # frames longer than the chunk: one frame per chunk
], ids=["bf16-stock", "fp32-stock", "bf16-one-frame", "bf16-two-frames", "fp32-frame-over-chunk"])
def test_face_adapter_moments_match_measured_peak(dtype, chunk, frames, per) -> None:
    """One WanAnimateFaceBlockCrossAttention call, above its inputs (x, motion vectors)."""
    from diffusers.models.transformers.transformer_wan_animate import (
        WanAnimateFaceBlockCrossAttention,
    )

    heads, hd = 4, 48
    dim = heads * hd
    torch.manual_seed(0)
    adapter = WanAnimateFaceBlockCrossAttention(dim, heads, hd, 1e-6, cross_attention_dim_head=hd).eval().to(dtype)
    _chunk(adapter, chunk)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, frames * per, dim, generator=g).to(dtype)
    motion = torch.randn(1, frames, 5, dim, generator=g).to(dtype)
    measured, _ = peak_allocated_bytes(lambda: adapter(x, motion))
    moments = ledger.wan_face_adapter_moments(dict(num_attention_heads=heads, attention_head_dim=hd, ffn_dim=4 * dim),
                                              frames * per, x.element_size(), frames, chunked=chunk is not None,
                                              chunk_tokens=chunk or 4096)
    peak = max(moments, key=moments.get)
    check(measured, ActivationEstimate("face adapter", moments[peak], moments, peak))


def test_real_animate_14b_chunked_720p() -> None:
    """77 frames + the reference: 21 latent frames. Stock ~13 A; chunked ~5 A (the chunked block)."""
    cfg = real_config("Wan2.2-Animate-14B-Diffusers", "transformer")
    tokens = 21 * 45 * 80
    A = tokens * 5120 * 2
    stock = ledger.wan_animate_activation(cfg, tokens, 512 + 257, 2, face_frames=77)
    chunked = ledger.wan_animate_activation(cfg, tokens, 512 + 257, 2, face_frames=77, chunked=True)
    assert 12.5 < stock.bytes / A < 14 and 4.9 < chunked.bytes / A < 5.5
    assert chunked.bytes < 4 * 2**30
    assert "attention" in chunked.formula.split("peak at")[-1]


# ----------------------------------------------------------------------------------------- VAE


def _tiny_vae(version: str):
    """The real config's structure (z 16 / 48, residual blocks, patch 2, 8x / 16x) with small widths."""
    from diffusers import AutoencoderKLWan

    repo = "Wan2.1-T2V-1.3B-Diffusers" if version == "2.1" else "Wan2.2-TI2V-5B-Diffusers"
    real = real_config(repo, "vae")
    keys = ("z_dim", "dim_mult", "num_res_blocks", "attn_scales", "temperal_downsample", "is_residual",
            "in_channels", "out_channels", "patch_size", "scale_factor_temporal", "scale_factor_spatial")
    kwargs = {k: real[k] for k in keys if k in real}
    kwargs["base_dim"] = 8                                  # 96 (2.1) / 160 (2.2)
    if real.get("decoder_base_dim"):
        kwargs["decoder_base_dim"] = 16                     # 256
    torch.manual_seed(0)
    return AutoencoderKLWan(**kwargs).to(torch.bfloat16).eval()


@pytest.mark.parametrize("version,width,height,frames,tile", [
    ("2.1", 96, 64, 13, None),     # 4 latent frames: feature cache + frames so far + full-res ResNet
    ("2.1", 160, 128, 5, 96),      # 2 x 2 tiles of 96 px (stride 72) kept until blended
    ("2.2", 128, 128, 9, None),    # z 48, residual up blocks, 12-channel patchified output
    ("2.2", 256, 192, 5, 128),     # 16x latent: 2 x 3 tiles
])
def test_wan_vae_decode_ledger_matches_measured_peak(version, width, height, frames, tile) -> None:
    vae = _tiny_vae(version)
    if tile:
        vae.enable_tiling(tile, tile, tile * 3 // 4, tile * 3 // 4)
    s = vae.config.scale_factor_spatial
    z = torch.randn(1, vae.config.z_dim, (frames - 1) // 4 + 1, height // s, width // s, dtype=torch.bfloat16)
    measured, out = peak_allocated_bytes(lambda: vae.decode(z).sample)
    assert out.shape == (1, 3, frames, height, width)
    check(measured, ledger.wan_vae_decode_activation(dict(vae.config), width, height, frames, 2, tile))


@pytest.mark.parametrize("version,width,height,frames,tile", [
    ("2.1", 128, 96, 9, None),     # I2V condition: [image, zeros...] in chunks of 1 + 4 + 4 frames
    ("2.1", 96, 64, 1, None),      # one image
    ("2.1", 160, 96, 9, 64),       # spatial tiles
    ("2.2", 128, 128, 9, None),    # patchified 12-channel input, residual down blocks
    ("2.2", 128, 96, 1, None),     # TI2V: the first frame only
])
def test_wan_vae_encode_ledger_matches_measured_peak(version, width, height, frames, tile) -> None:
    vae = _tiny_vae(version)
    if tile:
        vae.enable_tiling(tile, tile, tile * 3 // 4, tile * 3 // 4)
    x = torch.randn(1, 3, frames, height, width, dtype=torch.bfloat16)
    measured, _ = peak_allocated_bytes(lambda: vae.encode(x).latent_dist.mode())
    check(measured, ledger.wan_vae_encode_activation(dict(vae.config), width, height, frames, 2, tile))


# ----------------------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("dtype,tokens,heads", [(torch.bfloat16, 512, 8), (torch.float32, 256, 16)],
                         ids=["bf16-512", "fp32-256"])
def test_umt5_ledger_matches_measured_peak(dtype, tokens, heads) -> None:
    from transformers import UMT5Config, UMT5EncoderModel

    real = real_config("Wan2.1-T2V-1.3B-Diffusers", "text_encoder")
    config = UMT5Config(vocab_size=1000, d_model=256, d_kv=32, d_ff=640, num_layers=2, num_heads=heads,
                        feed_forward_proj=real["feed_forward_proj"], dropout_rate=0.0,
                        relative_attention_num_buckets=real["relative_attention_num_buckets"],
                        relative_attention_max_distance=real["relative_attention_max_distance"])
    torch.manual_seed(0)
    model = like_from_pretrained(UMT5EncoderModel(config).eval(), dtype)
    ids = torch.randint(0, 1000, (1, tokens))
    mask = torch.zeros(1, tokens, dtype=torch.long)
    mask[:, : tokens // 3] = 1                              # a short prompt padded to the full length
    measured, _ = peak_allocated_bytes(lambda: model(ids, mask).last_hidden_state)
    check(measured, ledger.umt5_activation(config.to_dict(), tokens, model.shared.weight.element_size()))


@pytest.mark.parametrize("dtype,act,layers", [(torch.float32, "gelu", 4), (torch.bfloat16, "quick_gelu", 3)],
                         ids=["fp32-gelu", "bf16-quick_gelu"])
def test_clip_vision_ledger_matches_measured_peak(dtype, act, layers) -> None:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    # width 320: the hidden states outweigh the 224 px patch-embedding conv, as at real size (1280)
    config = CLIPVisionConfig(hidden_size=320, intermediate_size=1280, num_hidden_layers=layers, num_attention_heads=4,
                              image_size=224, patch_size=14, projection_dim=64, hidden_act=act)
    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(config).eval().to(dtype)
    pixels = torch.randn(1, 3, 224, 224, dtype=dtype)
    measured, _ = peak_allocated_bytes(lambda: model(pixel_values=pixels, output_hidden_states=True).hidden_states[-2])
    check(measured, ledger.clip_vision_activation(config.to_dict(), pixels.element_size()))


def test_docs_memory_carries_the_ledger_text() -> None:
    """docs/memory.md quotes the ledger's DOCS string; editing one without the other fails here."""
    from pathlib import Path

    from models.wan.ledger import DOCS

    docs = (Path(__file__).resolve().parent.parent / "docs" / "memory.md").read_text()
    assert DOCS.strip() in docs
