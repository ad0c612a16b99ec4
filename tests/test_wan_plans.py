"""Memory plans of the Wan presets from their real configs on `meta` (issue targets: every 14B
preset at 720p within 8 GB VRAM and at 480p within 6 GB; RAM within 32 GB in bf16, 16 GB with fp8)."""
from __future__ import annotations

import pytest

from studio.planning import plan_for

GIB = 2**30


@pytest.mark.parametrize("preset,width,height,frames", [
    ("wan-flf2v-14b", 1280, 720, 81), ("wan-t2v-1.3b", 832, 480, 49), ("wan-ti2v-5b", 1280, 704, 81),
])
def test_wan_presets_fit_8_gb_and_32_gb(preset, width, height, frames) -> None:
    plan = plan_for(preset, width, height, frames=frames, vram_gb=8, ram_gb=32)
    assert plan.fits and plan.peak_vram_bytes <= 8 * GIB and plan.peak_ram_bytes <= 32 * GIB, plan.suggestion


def test_flf2v_720p_needs_and_gets_the_chunked_blocks() -> None:
    stock = plan_for("wan-flf2v-14b", 1280, 720, frames=81, vram_gb=8, ram_gb=32, options={"chunked": False})
    auto = plan_for("wan-flf2v-14b", 1280, 720, frames=81, vram_gb=8, ram_gb=32)
    assert not stock.fits and auto.fits and auto.options["chunked"] is True
    assert auto.phases["denoise"].activation_bytes < 0.6 * stock.phases["denoise"].activation_bytes
    assert auto.components["text_encoder"].placement == "streamed"  # 10.6 GB of UMT5 never whole on the device


def test_flf2v_480p_fits_6_gb_and_fp8_fits_16_gb_of_ram() -> None:
    small = plan_for("wan-flf2v-14b", 832, 480, frames=81, vram_gb=6, ram_gb=32)
    assert small.fits and small.peak_vram_bytes <= 6 * GIB
    fp8 = plan_for("wan-flf2v-14b", 1280, 720, frames=81, vram_gb=8, ram_gb=16, fp8=("transformer",))
    assert fp8.fits and fp8.peak_ram_bytes <= 16 * GIB


def test_vace_hints_parked_on_the_host_are_counted_in_host_ram() -> None:
    """Chunked VACE blocks keep every layer's hint in host RAM: n_vace x tokens x inner dim x 2 B,
    the tokens including the reference image's latent frame (21 video + 1 latent frames at 81 frames)."""
    chunked = plan_for("wan-vace-14b", 1280, 720, frames=81, vram_gb=8, ram_gb=32)
    stock = plan_for("wan-vace-14b", 1280, 720, frames=81, vram_gb=8, ram_gb=32, options={"chunked": False},
                     use_fallbacks=False)
    assert chunked.options["chunked"] is True and "vace_hints_on_host" not in stock.host_terms
    tokens = (21 + 1) * (720 // 16) * (1280 // 16)
    assert chunked.host_terms["vace_hints_on_host"] == 8 * tokens * 5120 * 2  # 8 VACE layers in the 14B config
    assert chunked.fits and chunked.peak_ram_bytes <= 32 * GIB
