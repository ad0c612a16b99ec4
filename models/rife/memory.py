"""RIFE's memory profile: one component (IFNet, 5.66 M parameters, 22.7 MB in fp32) that runs once
per synthesised frame on one tile at a time.

The activations of one call are estimated, not a ledger: IFNet's five IFBlocks work at 1/16 ... 1/1
of the tile, so their features scale with the tile's pixels. `BYTES_PER_PIXEL` comes from the CPU
fp32 peak measured at 1920x1080 (1.4 GB for one call, tiles/padding to 128 included: 1920x1152);
fp16 on a GPU halves it. Frames larger than the preset's `tile_px` run in tiles of that size.
"""
from __future__ import annotations

from typing import Any

from memory.activations import ActivationEstimate
from memory.profile import JobShape, MemoryProfile
from memory.sizes import ComponentSize

FPS = 30
PAD_MULTIPLE = 128        # models/rife/interpolator.PAD_MULTIPLE
DEFAULT_TILE = 2048       # presets/rife-4.25.toml tile_px
FLOATS_PER_PIXEL = 155    # 1.4 GB / (1920 x 1152 px x 4 B), measured on CPU in fp32


def _padded(size: int) -> int:
    return -(-int(size) // PAD_MULTIPLE) * PAD_MULTIPLE


def tile_pixels(width: int, height: int, tile: int = DEFAULT_TILE) -> int:
    """Pixels of the largest network call: the padded frame, or one tile of it."""
    return min(_padded(width), tile) * min(_padded(height), tile)


def _ifnet(size: ComponentSize, shape: JobShape, phase: str, tile_px: int | None, itemsize: int) -> ActivationEstimate:
    tile = int(shape.options.get("tile_px", DEFAULT_TILE))
    pixels = tile_pixels(shape.width, shape.height, tile)
    features = FLOATS_PER_PIXEL * pixels * itemsize
    # The warp always samples in float32 (models/rife/network.py): both frames and their features.
    warp = 2 * 8 * pixels * 4
    return ActivationEstimate("IFNet call on one tile", features + warp,
                              {"features": features, "float32 warp": warp},
                              f"{FLOATS_PER_PIXEL} x tile pixels ({pixels}) x {itemsize} B + 2 x 8 x pixels x 4 B")


def job_shape(width: int, height: int, seconds: float | None = None, frames: int | None = None,
              window: int | None = None, options: dict[str, Any] | None = None) -> JobShape:
    count = int(frames) if frames is not None else int(round(float(seconds or 0) * FPS)) + 1
    return JobShape(width, height, count, 0, options=dict(options or {}))


PROFILE = MemoryProfile(
    name="rife",
    phases=(("interpolate", ("flownet",)),),
    hot_phase="interpolate",
    activations={"IFNet": _ifnet},
    shape=job_shape,
    fps=FPS,
    # The stream holds the frames of the pair being interpolated and the ones just made.
    host_terms=lambda shape, sizes: {"frames_uint8": 4 * shape.height * shape.width * 3},
    preset_options=("tile_px",),
)
