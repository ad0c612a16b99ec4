"""The activation ledger (memory.activations) against peaks measured on CPU for small models.

Measured = torch.profiler's allocator events summed in time order (memory.measure). The VAE runs
in bf16: on CPU that takes oneDNN's convolution path for every shape, while fp32 convolutions of
small tensors fall back to an im2col kernel whose 27x scratch buffer exists on no GPU.
"""
from __future__ import annotations

import pytest
import torch

from memory.measure import peak_allocated_bytes
from models.framepack import memory as fp
from models.wan import ledger as wan

TOLERANCE = 0.25


pytestmark = pytest.mark.usefixtures("one_thread")


def _framepack(dtype: torch.dtype, heads: int, head_dim: int, height: int, width: int, text: int = 64, img: int = 27):
    from diffusers import HunyuanVideoFramepackTransformer3DModel

    cfg = dict(in_channels=16, out_channels=16, num_attention_heads=heads, attention_head_dim=head_dim, num_layers=1,
               num_single_layers=1, num_refiner_layers=1, patch_size=2, patch_size_t=1, guidance_embeds=True,
               text_embed_dim=64, pooled_projection_dim=32,
               rope_axes_dim=(head_dim // 4, 3 * head_dim // 8, 3 * head_dim // 8), has_image_proj=True,
               image_proj_dim=64, has_clean_x_embedder=True)
    torch.manual_seed(0)
    model = HunyuanVideoFramepackTransformer3DModel.from_config(cfg).to(dtype).eval()
    window, h, w = 9, height // 8, width // 8
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    kwargs = dict(
        timestep=torch.tensor([500.0]), encoder_hidden_states=r(1, text, 64),
        encoder_attention_mask=torch.ones(1, text, dtype=torch.long), pooled_projections=r(1, 32),
        image_embeds=r(1, img, 64), indices_latents=torch.arange(window) + 3, guidance=torch.tensor([10000.0]),
        latents_clean=r(1, 16, 2, h, w), indices_latents_clean=torch.tensor([0, window + 3]),
        latents_history_2x=r(1, 16, 2, h, w), indices_latents_history_2x=torch.tensor([window + 4, window + 5]),
        latents_history_4x=r(1, 16, 16, h, w), indices_latents_history_4x=torch.arange(window + 6, window + 22),
        return_dict=False)
    x = r(1, 16, window, h, w)
    measured, _ = peak_allocated_bytes(lambda: model(x, **kwargs)[0])
    estimate = fp.framepack_transformer_activation(cfg, width, height, x.element_size(), window=window,
                                                    text_tokens=text, image_tokens=img)
    return measured, estimate


@pytest.mark.parametrize("dtype,heads,head_dim,height,width", [
    (torch.float32, 4, 32, 256, 320),   # fp32: peak at the [attn, mlp] concat of a single-stream block
    (torch.bfloat16, 4, 32, 256, 320),  # half: peak in RoPE's fp32 temporaries
    (torch.bfloat16, 2, 64, 192, 256),
])
def test_framepack_transformer_formula_matches_measured_peak(dtype, heads, head_dim, height, width) -> None:
    measured, estimate = _framepack(dtype, heads, head_dim, height, width)
    assert measured > 0
    assert abs(estimate.bytes / measured - 1) < TOLERANCE, (estimate.bytes, measured, estimate.formula)


def _vae(channels: list[int], height: int, width: int, latent_frames: int, tile: int | None):
    from diffusers import AutoencoderKLHunyuanVideo

    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=tuple(channels), layers_per_block=2,
                                    norm_num_groups=8).to(torch.bfloat16).eval()
    tiling = fp.TileSettings(tile, tile * 3 // 4) if tile else None
    if tiling:
        vae.enable_tiling(**tiling.to_dict())
    z = torch.randn(1, 4, latent_frames, height // 8, width // 8, dtype=torch.bfloat16)
    measured, out = peak_allocated_bytes(lambda: vae.decode(z).sample)
    assert out.shape[2] == (latent_frames - 1) * 4 + 1
    estimate = fp.hunyuan_vae_decode_activation(dict(vae.config), width, height, latent_frames, 2, tiling)
    return measured, estimate


@pytest.mark.parametrize("channels,height,width,frames,tile", [
    ([8, 8, 16, 16], 64, 64, 5, None),    # one decoder call: peak at the last upsampler / full-res ResNets
    ([8, 8, 16, 16], 96, 128, 9, 64),     # temporal x spatial tiles kept until blended
])
def test_vae_decode_formula_matches_measured_peak(channels, height, width, frames, tile) -> None:
    measured, estimate = _vae(channels, height, width, frames, tile)
    assert abs(estimate.bytes / measured - 1) < TOLERANCE, (estimate.bytes, measured, estimate.formula)


def test_vae_encode_formula_matches_measured_peak() -> None:
    from diffusers import AutoencoderKLHunyuanVideo

    vae = AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=(16, 16, 32, 32), layers_per_block=2,
                                    norm_num_groups=8).to(torch.bfloat16).eval()
    x = torch.randn(1, 3, 1, 64, 96, dtype=torch.bfloat16)
    measured, _ = peak_allocated_bytes(lambda: vae.encode(x).latent_dist.mode())
    estimate = fp.hunyuan_vae_encode_activation(dict(vae.config), 96, 64, 1, 2)
    assert abs(estimate.bytes / measured - 1) < TOLERANCE, (estimate.bytes, measured)


def test_wan_transformer_formula_matches_measured_peak() -> None:
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=32, in_channels=16,
                                  out_channels=16, text_dim=32, freq_dim=32, ffn_dim=597, num_layers=1,
                                  rope_max_seq_len=64).eval()
    x = torch.randn(1, 16, 5, 32, 32)
    kwargs = dict(timestep=torch.tensor([500]), encoder_hidden_states=torch.randn(1, 32, 32), return_dict=False)
    measured, _ = peak_allocated_bytes(lambda: model(x, **kwargs)[0])
    estimate = wan.wan_dit_activation(dict(model.config), wan.wan_tokens(256, 256, 17), 32, 4)
    assert abs(estimate.bytes / measured - 1) < TOLERANCE, (estimate.bytes, measured)


def test_framepack_tokens_do_not_depend_on_video_length() -> None:
    tok = fp.framepack_tokens(704, 544)  # the 544x704 bucket: ~17.2k latent tokens per step
    assert tok["latent"] == 17_226 and tok["noisy"] == 9 * 34 * 44
    assert fp.framepack_tokens(640, 640)["latent"] == 18_400
    from studio.planning import plan_for

    short = plan_for("framepack", 640, 640, 5, 6, 64)
    long = plan_for("framepack", 640, 640, 60, 6, 64)
    assert short.activations["denoise"].bytes == long.activations["denoise"].bytes
    assert short.peak_vram_bytes == long.peak_vram_bytes
    assert long.peak_ram_bytes > short.peak_ram_bytes  # the uint8 frame buffer grows with length


def test_real_framepack_step_at_640_is_about_2_gb() -> None:
    from memory.sizes import component_size

    s = component_size("transformer", "HunyuanVideoFramepackTransformer3DModel", "lllyasviel/FramePackI2V_HY", "",
                       "bfloat16")
    est = fp.framepack_transformer_activation(s.config, 640, 640, 2)
    # 19,385 tokens x 3072 x 2 bytes x ~17.6 live tensor units + RoPE tables.
    assert 1.9 * 2**30 < est.bytes < 2.2 * 2**30
