"""LDF-VFI's memory profile (interim: replaced when LDF-VFI moves onto models/wan)."""
from __future__ import annotations

from typing import Any

from memory.activations import ActivationEstimate
from memory.profile import JobShape, MemoryProfile
from memory.sizes import ComponentSize

FPS = 30
WINDOW_FRAMES = 60


def _dit(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    from models.wan.memory import wan_dit_activation, wan_tokens

    cfg = size.config
    tokens = wan_tokens(shape.width, shape.height, shape.window, tuple(cfg.get("patch_size", (1, 2, 2))))
    return wan_dit_activation(tokens, 0, cfg["num_attention_heads"] * cfg["attention_head_dim"], cfg["ffn_dim"], s,
                              head_dim=cfg["attention_head_dim"], what=f"Wan transformer, {tokens} tokens")


def _cond_vae(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    from models.framepack.memory import hunyuan_vae_decoder_peak

    # The HunyuanVideo conv ledger with Wan-VAE widths, 256 px tiles, one latent frame at a time:
    # an approximation, not checked.
    wan_like = {"block_out_channels": [96, 192, 384, 384], "layers_per_block": 2,
                "spatial_compression_ratio": 8, "temporal_compression_ratio": 4}
    peak, where = hunyuan_vae_decoder_peak(wan_like, 2, min(32, shape.height // 8), min(32, shape.width // 8), 4)
    return ActivationEstimate("conditional Wan VAE (approximation)", peak, {"decoder_call": peak},
                              f"HunyuanVideo decoder ledger with Wan VAE widths, peak at {where}")


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
    host_terms=lambda shape: {"video_uint8": shape.frames * shape.height * shape.width * 3},
)
