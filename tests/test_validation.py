import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import InputError
from studio.validation import as_bool, as_choice, as_float, as_image, as_int, as_text


@pytest.mark.parametrize("value", [None, "abc", 2.5, float("nan"), float("inf"), -1, 17, True, [3]])
def test_int_field_rejects_bad_values_with_field_and_fix(value) -> None:
    with pytest.raises(InputError) as err:
        as_int("factor", value, 2, 16)
    assert err.value.field == "factor"
    assert "2" in err.value.fix and "16" in err.value.fix
    assert str(err.value).startswith("factor: ")


def test_int_field_accepts_integral_floats_and_strings() -> None:
    assert as_int("factor", 4.0, 2, 16) == 4
    assert as_int("factor", "8", 2, 16) == 8


@pytest.mark.parametrize("value", [float("nan"), float("-inf"), -0.1, 1.5, "x", None])
def test_float_field(value) -> None:
    with pytest.raises(InputError) as err:
        as_float("end_influence", value, 0.0, 1.0, lo_open=True)
    assert err.value.field == "end_influence"


def test_float_open_lower_bound() -> None:
    with pytest.raises(InputError):
        as_float("end_influence", 0.0, 0.0, 1.0, lo_open=True)
    assert as_float("end_influence", 1.0, 0.0, 1.0, lo_open=True) == 1.0


def test_choice_bool_text() -> None:
    with pytest.raises(InputError) as err:
        as_choice("method", "magic", ["flow"])
    assert "flow" in err.value.fix
    with pytest.raises(InputError):
        as_bool("keep_duration", "maybe")
    assert as_bool("keep_duration", "true") is True
    with pytest.raises(InputError) as err:
        as_text("prompt", "x" * 100_000)
    assert err.value.field == "prompt" and "4000" in err.value.fix
    with pytest.raises(InputError):
        as_text("prompt", "   ", allow_empty=False)
    with pytest.raises(InputError):
        as_text("prompt", 42)


def _save(tmp_path: Path, img: Image.Image, name: str) -> Path:
    path = tmp_path / name
    img.save(path)
    return path


def test_image_modes_become_rgb_uint8(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (40, 30), (255, 0, 0, 0))  # fully transparent -> flattened on white
    arr = as_image("input_image", _save(tmp_path, rgba, "a.png"))
    assert arr.shape == (30, 40, 3) and arr.dtype == np.uint8 and (arr == 255).all()
    grey = Image.new("L", (40, 30), 128)
    assert (as_image("input_image", _save(tmp_path, grey, "g.png")) == 128).all()
    deep = Image.fromarray(np.full((30, 40), 65535, np.uint16))
    assert (as_image("input_image", _save(tmp_path, deep, "d.png")) == 255).all()


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt", "tiny", "text"])
def test_bad_images_name_the_field(tmp_path: Path, case: str) -> None:
    path = tmp_path / "x.png"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    elif case == "tiny":
        Image.new("RGB", (1, 1)).save(path)
    elif case == "text":
        path.write_text("hello")
    with pytest.raises(InputError) as err:
        as_image("input_image", path)
    assert err.value.field == "input_image"


def test_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    # A PNG header claiming 12000x12000: refused from the header, never decoded into RAM.
    path = tmp_path / "huge.png"
    Image.new("1", (12000, 12000)).save(path)
    with pytest.raises(InputError) as err:
        as_image("input_image", path)
    assert "too large" in err.value.problem


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9), st.floats(allow_nan=True),
                 st.text(max_size=20)))
def test_int_validation_never_crashes_and_never_lets_out_of_range_through(value) -> None:
    try:
        got = as_int("seed", value, 0, 2**31 - 1)
    except InputError as err:
        assert err.field == "seed"
    else:
        assert isinstance(got, int) and 0 <= got <= 2**31 - 1


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10)))
def test_float_validation_only_returns_finite_in_range(value) -> None:
    try:
        got = as_float("seconds", value, 1.0, 120.0)
    except InputError as err:
        assert err.field == "seconds"
    else:
        assert math.isfinite(got) and 1.0 <= got <= 120.0
