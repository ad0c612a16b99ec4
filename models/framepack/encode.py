"""Encoders around the FramePack transformer: text (Llama + CLIP-L), image (SigLIP) and the video VAE.

Text follows HunyuanVideo (DESIGN §3): the prompt is wrapped in the HunyuanVideo template, Llama's
`hidden_states[-3]` is kept from token `crop_start` (95, the length of the template prefix) on,
at most 256 tokens, with its attention mask; CLIP-L contributes its pooled output. Unlike diffusers
we do not pad Llama's input to 95 + 256 tokens: with right padding and causal attention the kept
tokens do not depend on the padding, so we crop to the real length (FramePack does the same) and
the transformer sees a short all-ones mask.

Pixels use diffusers' conventions so that our encoders see bit-identical inputs to
`HunyuanVideoFramepackPipeline`: uint8 -> `2 * (u / 255) - 1`; SigLIP gets `(x + 1) / 2` with
`do_rescale=False`; decoded frames -> `round(clamp(x / 2 + 0.5, 0, 1) * 255)`.
The VAE posterior is *sampled* with the job's generator (diffusers does the same; FramePack samples
from the global RNG), so a run is a pure function of its seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import (
    DEFAULT_PROMPT_TEMPLATE,
)

PROMPT_TEMPLATE: str = DEFAULT_PROMPT_TEMPLATE["template"]
CROP_START: int = DEFAULT_PROMPT_TEMPLATE["crop_start"]
MAX_PROMPT_TOKENS = 256
CLIP_MAX_TOKENS = 77


@dataclass(frozen=True)
class TextEmbeds:
    """One encoded prompt (batch 1)."""

    llama: torch.Tensor   # (1, L, D): Llama hidden_states[-3] after the template crop
    mask: torch.Tensor    # (1, L) bool: True for real tokens
    pooled: torch.Tensor  # (1, P): CLIP-L pooled output

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "TextEmbeds":
        return TextEmbeds(self.llama.to(device, dtype), self.mask.to(device), self.pooled.to(device, dtype))


@torch.no_grad()
def encode_text(prompt: str, tokenizer: Any, text_encoder: Any, tokenizer_2: Any, text_encoder_2: Any,
                device: torch.device | str = "cpu") -> TextEmbeds:
    """Llama hidden_states[-3] (template, crop 95, <= 256 tokens) + mask, and CLIP-L pooled."""
    llama_inputs = tokenizer(
        [PROMPT_TEMPLATE.format(prompt)],
        max_length=MAX_PROMPT_TOKENS + CROP_START,
        truncation=True,
        padding=False,
        return_attention_mask=True,
        return_tensors="pt",
    )
    ids = llama_inputs.input_ids.to(device)
    mask = llama_inputs.attention_mask.to(device)
    hidden = text_encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-3]
    llama = hidden[:, CROP_START:]
    llama_mask = mask[:, CROP_START:].bool()

    clip_ids = tokenizer_2(
        [prompt], padding="max_length", max_length=CLIP_MAX_TOKENS, truncation=True, return_tensors="pt"
    ).input_ids.to(device)
    pooled = text_encoder_2(clip_ids, output_hidden_states=False).pooler_output
    return TextEmbeds(llama=llama, mask=llama_mask, pooled=pooled)


def zeros_like_text(embeds: TextEmbeds) -> TextEmbeds:
    """FramePack's negative when real CFG is off (cfg == 1): zeros with the positive's mask."""
    return TextEmbeds(torch.zeros_like(embeds.llama), embeds.mask.clone(), torch.zeros_like(embeds.pooled))


def blend_text(parts: Sequence[tuple[TextEmbeds, float]]) -> TextEmbeds:
    """Weighted mix of prompts (weights should sum to 1): token embeddings are zero-padded to the
    longest prompt and mixed position by position, the mask is the union, pooled vectors are mixed.
    This is an interpolation of embeddings, not of meanings: good for smooth prompt transitions."""
    live = [(e, float(w)) for e, w in parts if w != 0.0]
    if len(live) == 1 and live[0][1] == 1.0:
        return live[0][0]
    length = max(e.llama.shape[1] for e, _ in live)
    llama = sum(w * _pad_tokens(e.llama, length) for e, w in live)
    mask = torch.zeros(1, length, dtype=torch.bool, device=live[0][0].mask.device)
    for e, _ in live:
        mask[:, : e.mask.shape[1]] |= e.mask
    pooled = sum(w * e.pooled for e, w in live)
    return TextEmbeds(llama=llama, mask=mask, pooled=pooled)


def _pad_tokens(x: torch.Tensor, length: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, 0, 0, length - x.shape[1]))


@torch.no_grad()
def encode_image(image: np.ndarray, feature_extractor: Any, image_encoder: Any,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """SigLIP last_hidden_state (1, N, D) of an HxWx3 uint8 image."""
    pixels = image_to_pixels(image)[:, :, 0]  # (1, 3, H, W) in [-1, 1]
    inputs = feature_extractor(images=(pixels + 1) / 2.0, return_tensors="pt", do_rescale=False)
    values = inputs["pixel_values"].to(device=device, dtype=image_encoder.dtype)
    return image_encoder(pixel_values=values).last_hidden_state


@torch.no_grad()
def vae_encode(pixels: torch.Tensor, vae: Any, generator: torch.Generator | None) -> torch.Tensor:
    """(1, 3, T, H, W) pixels in [-1, 1] -> scaled float32 latents (1, C, 1 + (T - 1) // 4, H/8, W/8)."""
    posterior = vae.encode(pixels.to(device=vae.device, dtype=vae.dtype)).latent_dist
    latents = posterior.sample(generator=generator) * vae.config.scaling_factor
    return latents.float()


@torch.no_grad()
def vae_decode(latents: torch.Tensor, vae: Any, tiled: bool = False) -> torch.Tensor:
    """Scaled latents (1, C, L, h, w) -> float32 pixels (1, 3, 4(L-1)+1, 8h, 8w) in about [-1, 1].

    `tiled` decodes in overlapping spatial tiles (less memory at 640 px; slightly different numbers).
    The VAE's own temporal tiling (framewise decoding) is always on, as in diffusers."""
    z = (latents / vae.config.scaling_factor).to(device=vae.device, dtype=vae.dtype)
    previous = getattr(vae, "use_tiling", False)
    vae.use_tiling = tiled
    try:
        return vae.decode(z).sample.float()
    finally:
        vae.use_tiling = previous


def image_to_pixels(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, 1, H, W) float32 in [-1, 1]."""
    return frames_to_pixels(image[None])


def frames_to_pixels(frames: np.ndarray) -> torch.Tensor:
    """TxHxWx3 uint8 -> (1, 3, T, H, W) float32 in [-1, 1] (diffusers' `2 * (u / 255) - 1`)."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected TxHxWx3 uint8 frames, got {frames.dtype} {frames.shape}")
    x = torch.from_numpy(np.array(frames, dtype=np.uint8, copy=True)).to(torch.float32) / 255.0
    x = 2.0 * x - 1.0
    return x.permute(3, 0, 1, 2).unsqueeze(0)


def pixels_to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) float in [-1, 1] -> TxHxWx3 uint8 (rounded, as diffusers' PIL output)."""
    x = (pixels[0].float().cpu() / 2 + 0.5).clamp(0, 1)
    return (x * 255).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
