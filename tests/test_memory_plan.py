"""Plans for the real FramePack 13B config: 6 GB VRAM and 16 GB RAM at the 640 bucket for 60 s."""
from __future__ import annotations

import argparse
import json

import pytest
from conftest import ROOT

from memory.budget import GIB
from memory.plan import format_plan
from memory.sizes import component_size
from models.framepack import memory as fp
from studio.planning import add_plan_arguments, plan_for, run_plan

HV = "hunyuanvideo-community/HunyuanVideo"


@pytest.fixture(scope="module")
def plan6():
    return plan_for("framepack", 640, 640, 60, vram_gb=6, ram_gb=16)


def test_framepack_60s_in_6_gb_vram_and_16_gb_ram(plan6) -> None:
    assert plan6.peak_vram_gb <= 6.0 and plan6.peak_ram_gb <= 16.0 and plan6.fits
    tr = plan6.components["transformer"]
    assert tr.placement == "streamed" and tr.blocks == 60 and tr.prefetch == 1
    assert plan6.components["text_encoder"].placement == "streamed"  # 15 GB Llama cannot be loaded whole
    assert plan6.components["vae"].placement == "phase" and plan6.vae_tiling["tile_sample_min_height"] == 256
    assert (plan6.sections, plan6.frames) == (50, 1801)


def test_peaks_are_the_sum_of_real_bytes_and_the_ledger(plan6) -> None:
    """Recompute the denoise and decode phases from the sizes and formulas, independently of the planner."""
    tr = component_size("transformer", "HunyuanVideoFramepackTransformer3DModel", "lllyasviel/FramePackI2V_HY", "",
                        "bfloat16")
    dual = tr.block_lists[0].block_bytes[0]
    window = tr.other_bytes + 2 * dual  # non-block group + running block + prefetched block
    denoise_act = fp.framepack_transformer_activation(tr.config, 640, 640, 2).bytes
    assert plan6.phases["denoise"].device_bytes == window + denoise_act + GIB
    vae = component_size("vae", "AutoencoderKLHunyuanVideo", HV, "vae", "float16")
    decode_act = fp.hunyuan_vae_decode_activation(vae.config, 640, 640, 19, 2, fp.TileSettings(256, 192),
                                                   output_fp32=True).bytes
    assert plan6.phases["decode"].device_bytes == vae.bytes + decode_act + GIB
    assert plan6.peak_vram_bytes == max(p.device_bytes for p in plan6.phases.values())
    assert plan6.peak_vram_bytes > 5 * GIB  # the activations are real: 2 GB denoise, 3.2 GB decode, 1.1 GB encode


def test_more_vram_keeps_more_blocks_resident_and_still_fits() -> None:
    resident = []
    for vram in (6, 8, 12, 24):
        plan = plan_for("framepack", 640, 640, 60, vram_gb=vram, ram_gb=16)
        assert plan.fits and plan.peak_vram_gb <= vram
        resident.append(plan.components["transformer"].blocks_resident)
    assert resident[0] == 0 and resident == sorted(resident) and resident[-1] > resident[1] > 0


def test_preservation_keeps_memory_free_of_resident_blocks() -> None:
    low = plan_for("framepack", 640, 640, 60, vram_gb=12, ram_gb=16, gpu_memory_preservation_gb=6)
    high = plan_for("framepack", 640, 640, 60, vram_gb=12, ram_gb=16, gpu_memory_preservation_gb=9)
    assert high.components["transformer"].blocks_resident < low.components["transformer"].blocks_resident
    assert 12 * GIB - high.components["transformer"].resident_bytes >= 9 * GIB


def test_everything_resident_on_a_large_card() -> None:
    plan = plan_for("framepack", 640, 640, 5, vram_gb=80, ram_gb=64)
    assert {c.placement for c in plan.components.values()} <= {"resident", "none"}
    assert plan.fits


def test_too_little_vram_does_not_fit_and_says_what_to_change() -> None:
    plan = plan_for("framepack", 640, 640, 10, vram_gb=3, ram_gb=16)
    assert not plan.fits_vram and plan.peak_vram_gb > 3
    assert "bucket" in plan.suggestion


def test_ram_cap_below_model_size_streams_from_disk() -> None:
    small = plan_for("framepack", 640, 640, 60, vram_gb=6, ram_gb=16).components["transformer"]
    big = plan_for("framepack", 640, 640, 60, vram_gb=6, ram_gb=64).components["transformer"]
    assert small.host == "ram+disk" and small.disk_read_per_pass > 10 * GIB
    assert big.host == "ram" and big.disk_read_per_pass == 0 and big.host_ram_bytes == big.bytes
    assert small.pinned_bytes <= 8 * GIB  # capped at half of the 16 GB


def test_every_preset_plans_and_serialises() -> None:
    for path in sorted((ROOT / "presets").glob("*.toml")):
        plan = plan_for(path.stem, 640, 640, 4, vram_gb=6, ram_gb=16)
        data = json.loads(json.dumps(plan.to_dict()))
        assert isinstance(data["peak_vram_gb"], float) and isinstance(data["peak_ram_gb"], float)
        assert format_plan(plan).startswith("Memory plan:")


def test_fp8_storage_shrinks_the_streamed_window() -> None:
    bf16 = plan_for("framepack", 640, 640, 10, vram_gb=6, ram_gb=32)
    fp8 = plan_for("framepack", 640, 640, 10, vram_gb=6, ram_gb=32, fp8=("transformer",))
    assert fp8.components["transformer"].bytes < 0.7 * bf16.components["transformer"].bytes
    assert fp8.phases["denoise"].weights_bytes < bf16.phases["denoise"].weights_bytes


def test_cpu_only_plan_without_vram() -> None:
    plan = plan_for("ldf-vfi", 832, 480, 2, vram_gb=None, ram_gb=16)
    assert plan.device == "cpu" and plan.peak_vram_bytes == 0
    assert plan.peak_ram_bytes > sum(c.bytes for c in plan.components.values())


def _run(capsys, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_plan_arguments(parser)
    code = run_plan(parser.parse_args(list(argv)))
    return code, capsys.readouterr().out


def test_cli_json(capsys) -> None:
    code, out = _run(capsys, "--preset", "framepack", "--width", "640", "--height", "640", "--seconds", "60",
                     "--vram", "6", "--ram", "16", "--json")
    data = json.loads(out)
    assert code == 0 and data["peak_vram_gb"] <= 6.0 and data["peak_ram_gb"] <= 16.0
    assert data["components"]["transformer"]["placement"] == "streamed"


def test_cli_text_and_errors(capsys) -> None:
    code, out = _run(capsys, "--preset", "framepack", "--vram", "3", "--ram", "16")
    assert code == 1 and "DOES NOT FIT" in out
    code, _ = _run(capsys, "--preset", "no-such-preset", "--vram", "6")
    assert code == 2
