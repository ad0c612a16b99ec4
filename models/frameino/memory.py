"""FrameINO's memory profile: the Wan profile (its DiT is Wan2.2-TI2V-5B's with a 96-channel patch
embedding, which the config carries), with the differences of its loop:

- the DiT sees one extra latent frame of tokens (the identity frame appended on the time axis),
  always with per-token timesteps;
- the VAE encodes the canvas frame, the identity frame and the whole trajectory video (T frames:
  the largest of the three, so the encode phase is planned for it), then decodes the T frames;
- no image encoder; on the host, besides the output video, the trajectory video as uint8 (the
  caller's) and as float32 pixels (converted there before it goes to the VAE).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from memory.activations import ActivationEstimate
from memory.profile import JobShape
from memory.sizes import ComponentSize
from models.wan import profile as wan


def _dit(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    from models.wan.ledger import wan_dit_activation

    return wan_dit_activation(size.config, wan._with_reference_frame(size, shape), wan.TEXT_TOKENS, s,
                              chunked=bool(shape.options.get("chunked")), chunk_tokens=wan.CHUNK_TOKENS,
                              per_token_timesteps=True)


def _vae(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    from models.wan.ledger import wan_vae_decode_activation, wan_vae_encode_activation

    if phase == "encode":  # the trajectory video: every output frame
        return wan_vae_encode_activation(size.config, shape.width, shape.height, shape.frames, s, tile)
    return wan_vae_decode_activation(size.config, shape.width, shape.height, shape.frames, s, tile)


def host_terms(shape: JobShape, sizes: Mapping[str, ComponentSize]) -> dict[str, int]:
    pixels = shape.frames * shape.height * shape.width * 3
    return {**wan.host_terms(shape, dict(sizes)), "trajectory_uint8": pixels, "trajectory_float32": 4 * pixels}


PROFILE = dataclasses.replace(
    wan.PROFILE, name="frameino",
    phases=(("text", ("text_encoder",)), ("encode", ("vae",)), ("denoise", ("transformer",)), ("decode", ("vae",))),
    activations={**wan.PROFILE.activations, "WanTransformer3DModel": _dit, "AutoencoderKLWan": _vae},
    host_terms=host_terms,
    tips=("pick a smaller canvas (FrameINO trains at 1280x704; 832x480 has 2.3x fewer tokens)",),
)
run_options = wan.run_options
