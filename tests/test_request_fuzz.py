"""Property-based fuzz of every request type's validation: any value either validates into a
well-formed request or raises InputError naming a real field; nothing else escapes."""
from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InputError
from studio.tasks.interpolate import InterpolateRequest
from studio.tasks.long_video_request import LongVideoRequest
from studio.video_io import write_mp4

anything = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                     st.lists(st.integers(), max_size=3))
IMAGE = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
LONG_FIELDS = [f.name for f in fields(LongVideoRequest) if f.name not in ("image_array", "end_array")]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    frames = [np.full((16, 16, 3), 10 * i, np.uint8) for i in range(3)]
    return str(write_mp4(frames, tmp_path_factory.mktemp("fuzz") / "c.mp4", fps=10, crf=0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(LONG_FIELDS), value=anything)
def test_long_video_request_fuzz(field: str, value) -> None:
    kwargs = dict(input_image=IMAGE, prompt="a boat", total_second_length=2, bucket=64)
    kwargs[field] = value
    try:
        req = LongVideoRequest(**kwargs)
    except InputError as err:
        assert err.field in LONG_FIELDS, err.field
        assert err.fix
        return
    assert 1 <= req.total_second_length <= 120 and math.isfinite(req.total_second_length)
    assert 0 <= req.seed < 2**32 and 1 <= req.steps <= 100 and 1 <= req.latent_window_size <= 33
    assert req.bucket % 32 == 0 and 1.0 <= req.cfg <= 32 and 0 <= req.rs <= 1
    assert req.image_array is None or req.image_array.dtype == np.uint8


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["factor", "method", "keep_duration", "side_by_side", "mp4_crf", "output_format",
                              "video"]), value=anything)
def test_interpolate_request_fuzz(clip: str, field: str, value) -> None:
    kwargs = dict(video=clip, factor=2)
    kwargs[field] = value
    try:
        req = InterpolateRequest(**kwargs)
    except InputError as err:
        assert err.field in {"factor", "method", "keep_duration", "side_by_side", "mp4_crf", "output_format",
                             "video"}
        return
    assert 2 <= req.factor <= 16 and isinstance(req.keep_duration, bool)
    assert Path(req.video).is_file()
