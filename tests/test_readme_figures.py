"""README's memory-plan tables are what the benchmark scripts print now (plans are computed from
the stored configs, no weights, so they can be re-checked on every run)."""
from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def _readme() -> str:
    return (ROOT / "README.md").read_text()


@pytest.mark.parametrize("case", range(5))
def test_first_last_plan_rows_are_in_readme(case) -> None:
    import first_last_plans

    method, preset, w, h, frames, vram, ram, fp8, seconds = first_last_plans.CASES[case]
    line = f"| {method} " + first_last_plans.row(preset, w, h, frames, vram, ram, fp8, seconds)
    assert line in _readme(), f"README is stale; rerun python benchmarks/first_last_plans.py:\n{line}"


def test_wan_plan_rows_are_in_readme() -> None:
    import wan_plans

    readme = _readme()
    for preset, width, height, frames in wan_plans.CASES[:3]:  # the 14B presets (the costly plans are cached)
        line = wan_plans.row(preset, width, height, frames, 8, 32)
        assert line in readme, f"README is stale; rerun python benchmarks/wan_plans.py:\n{line}"


def test_pose_plan_rows_are_in_readme() -> None:
    import pose_plans

    readme = _readme()
    for method, preset, w, h, frames, vram, ram, fp8, seconds in pose_plans.CASES:
        line = f"| {method} " + pose_plans.row(preset, w, h, frames, vram, ram, fp8, seconds)
        assert line in readme, f"README is stale; rerun python benchmarks/pose_plans.py:\n{line}"


def test_frame_inout_plan_rows_are_in_readme() -> None:
    import frame_inout_plans

    readme = _readme()
    for preset, w, h, frames, vram, ram, fp8 in frame_inout_plans.CASES:
        line = frame_inout_plans.row(preset, w, h, frames, vram, ram, fp8, None)
        assert line in readme, f"README is stale; rerun python benchmarks/frame_inout_plans.py:\n{line}"
