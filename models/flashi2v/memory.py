"""FlashI2V's memory profile: the Wan profile (its DiT is Wan2.1-1.3B's, the added modules are
2.5M parameters), with the two differences of its loop: no image encoder, and the VAE encodes one
frame (the first), not a whole condition video. The added Fourier tokens exist next to the patch
embedding before the first block, below the block peak the Wan ledger gives."""
from __future__ import annotations

import dataclasses

from memory.activations import ActivationEstimate
from memory.profile import JobShape
from memory.sizes import ComponentSize
from models.wan import profile as wan


def _vae(size: ComponentSize, shape: JobShape, phase: str, tile: int | None, s: int) -> ActivationEstimate:
    if phase == "encode":
        from models.wan.ledger import wan_vae_encode_activation

        return wan_vae_encode_activation(size.config, shape.width, shape.height, 1, s, tile)
    return wan._vae(size, shape, phase, tile, s)


PROFILE = dataclasses.replace(
    wan.PROFILE, name="flashi2v",
    phases=(("text", ("text_encoder",)), ("encode", ("vae",)), ("denoise", ("transformer",)), ("decode", ("vae",))),
    activations={**wan.PROFILE.activations, "FlashI2VTransformer3DModel": wan._dit, "AutoencoderKLWan": _vae},
)
run_options = wan.run_options
