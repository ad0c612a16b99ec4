"""Issue 14, items 5-8 at the request and component level: no clamping, field-named messages
without internals, plain prompts with brackets, EXIF orientation and header-first image checks."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio.data_classes import ImageData
from PIL import Image

from core.errors import InputError
from models.framepack import prompts
from studio.tasks.interpolate import InterpolateRequest
from studio.tasks.long_video_request import LongVideoRequest
from studio.validation import as_image, as_text

INTERNALS = ("not supported between", "cannot convert", "ImageData(", "Traceback", "e+09")


def _image(tmp_path: Path, name: str = "ok.png", size: tuple[int, int] = (80, 60)) -> str:
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(tmp_path / name)
    return str(tmp_path / name)


def huge_png_header(path: Path, width: int, height: int, mode_byte: int = 0, depth: int = 1) -> Path:
    """A PNG whose header claims width x height (1-bit grey by default) and whose data is cut short:
    it can only be refused from the header (decoding it fails, converting it would cost GBs)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, depth, mode_byte, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def portrait_phone_jpeg(path: Path) -> Path:
    """Stored 96 wide x 64 high with EXIF Orientation 6 (rotate 90° clockwise to view): a portrait photo."""
    stored = np.zeros((64, 96, 3), np.uint8)
    stored[:, :48] = (255, 0, 0)  # left half red: after a clockwise turn it is the top half
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    return path


def _control(request_type: type, name: str) -> gr.components.Component:
    """The tab's control for `name`, made as every tab makes it."""
    from studio.fields import defaults
    from studio.ui.fields import Controls

    with gr.Blocks():
        return Controls(request_type, defaults(request_type))(name)


# -- item 5: refused, never clamped; the real length ---------------------------------------------

@pytest.mark.parametrize("seconds", [500, 0.5, 120.05])
def test_item5_length_out_of_range_is_refused_not_clamped(tmp_path: Path, seconds: float) -> None:
    with pytest.raises(InputError) as err:
        LongVideoRequest(input_image=_image(tmp_path), total_second_length=seconds)
    assert err.value.field == "total_second_length" and "120" in err.value.fix


@pytest.mark.parametrize("factor", [1, 100])
def test_item5_factor_out_of_range_is_refused(square_video: Path, factor: int) -> None:
    with pytest.raises(InputError) as err:
        InterpolateRequest(video=str(square_video), factor=factor)
    assert err.value.field == "factor"


@pytest.mark.parametrize("name, value", [("total_second_length", 500), ("latent_window_size", 40),
                                         ("seed", -1), ("seed", 2**40)])
def test_item5_controls_refuse_out_of_range_with_the_field_name(name: str, value: float) -> None:
    control = _control(LongVideoRequest, name)
    with pytest.raises(gr.Error) as err:
        control.preprocess(value)
    message = err.value.message
    assert message.startswith(f"{name}: ") and not any(bad in message for bad in INTERNALS), message


def test_item5_real_length_comes_from_the_pipeline_schedule() -> None:
    from studio.tasks.long_video_request import planned_length

    # 5 s of FramePack = round(150 / 36) = 4 sections of 36 frames + the start frame = 145 frames.
    assert planned_length(5.0, 9, "framepack") == (145, pytest.approx(145 / 30))
    assert f"{planned_length(5.0, 9, 'framepack')[1]:.2f}" == "4.83"
    assert planned_length(5.0, 9, "f1")[0] == 145
    assert planned_length(1.0, 3, "framepack")[0] == 25  # round(30 / 12) = 2 sections of 12 frames, +1
    assert planned_length(5.0, 9, "extend")[0] == 144  # extend adds frames after the video's own


# -- item 6: field-named messages, not internals --------------------------------------------------

@pytest.mark.parametrize("value", ["abc", "NaN", "nan", "Infinity", "-Infinity", float("nan"), float("inf"), 2.5])
def test_item6_seed_messages_name_the_field_not_internals(value) -> None:
    control = _control(LongVideoRequest, "seed")
    with pytest.raises(gr.Error) as err:
        control.preprocess(value)
    message = err.value.message
    assert message.startswith("seed: ") and "4294967295" in message, message
    assert not any(bad in message for bad in INTERNALS), message


@pytest.mark.parametrize("text", ["a cat \ud800 walks", "\udfff", "[0s: a \udc80 cat]"])
def test_item6_lone_surrogate_prompt_is_refused_by_name(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError) as err:
        as_text("prompt", text)
    assert err.value.field == "prompt" and "character" in err.value.problem
    with pytest.raises(InputError) as err:
        LongVideoRequest(input_image=_image(tmp_path), prompt=text)
    assert err.value.field == "prompt"


def test_item6_text_with_real_emoji_is_fine() -> None:
    assert as_text("prompt", "a cat 🐈 walks") == "a cat 🐈 walks"


def test_item6_decompression_bomb_is_called_too_large(tmp_path: Path) -> None:
    bomb = huge_png_header(tmp_path / "bomb.png", 20000, 20000)  # 400 M pixels: PIL refuses to open it
    with pytest.raises(InputError) as err:
        as_image("input_image", str(bomb))
    assert err.value.field == "input_image" and "too large" in err.value.problem, err.value
    control = _control(LongVideoRequest, "input_image")
    with pytest.raises(gr.Error) as err:
        control.preprocess(ImageData(path=str(bomb), orig_name="bomb.png"))
    message = err.value.message
    assert message.startswith("input_image: ") and "too large" in message, message
    assert not any(bad in message for bad in INTERNALS), message


# -- item 7: plain prompts with brackets ----------------------------------------------------------

@pytest.mark.parametrize("text", ["a sign reads [OPEN]", "[a cat]", "a cat] walks", "[OPEN] [CLOSED]",
                                  "a robot [[glitch]]", "[x: y] a note", "[3 cats: 2 dogs]"])
def test_item7_brackets_without_a_timestamp_are_plain_text(tmp_path: Path, text: str) -> None:
    assert prompts.parse_timestamped_prompt(text, 5) == [prompts.PromptSpan(0.0, 5.0, text)]
    assert not prompts.is_timestamped(text)
    LongVideoRequest(input_image=_image(tmp_path), prompt=text)  # accepted


def test_item7_escaped_brackets_are_literal() -> None:
    assert prompts.parse_timestamped_prompt(r"a clock shows \[12:30]", 5) == [
        prompts.PromptSpan(0.0, 5.0, "a clock shows [12:30]")]
    spans = prompts.parse_timestamped_prompt(r"[0s: a sign reads \[OPEN\]] [2s: it closes]", 5)
    assert spans == [prompts.PromptSpan(0, 2, "a sign reads [OPEN]"), prompts.PromptSpan(2, 5, "it closes")]


def test_item7_timestamped_prompts_work_as_before() -> None:
    assert prompts.is_timestamped("[0s: a cat walks] [2s-4s: the cat jumps]")
    spans = prompts.parse_timestamped_prompt("[0s: a cat walks] [2s-4s: the cat jumps]", 5)
    assert spans == [prompts.PromptSpan(0, 2, "a cat walks"), prompts.PromptSpan(2, 4, "the cat jumps")]


def test_item7_nested_brackets_get_a_message_naming_prompt_and_the_escape() -> None:
    with pytest.raises(InputError) as err:
        prompts.parse_timestamped_prompt("[0s: a sign reads [OPEN]] [2s: it closes]", 5)
    assert err.value.field == "prompt" and "inside" in err.value.problem and "never closed" not in err.value.problem
    assert r"\[" in err.value.fix


def test_item7_text_beside_a_timestamp_names_the_escape() -> None:
    with pytest.raises(InputError) as err:
        prompts.parse_timestamped_prompt("a clock shows [12: noon]", 20)
    assert err.value.field == "prompt" and "outside brackets" in err.value.problem and r"\[" in err.value.fix


# -- item 8: EXIF orientation, header-first size check --------------------------------------------

def test_item8_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = as_image("input_image", str(portrait_phone_jpeg(tmp_path / "phone.jpg")))
    assert arr.shape[:2] == (96, 64)  # portrait, as the phone showed it
    assert arr[:20, :, 0].mean() > 200 and arr[-20:, :, 0].mean() < 60  # red on top


def test_item8_exif_orientation_reaches_the_request(tmp_path: Path) -> None:
    req = LongVideoRequest(input_image=str(portrait_phone_jpeg(tmp_path / "phone.jpg")))
    assert req.image_array.shape[:2] == (96, 64)


@pytest.mark.parametrize("mode_byte, depth", [(0, 1), (3, 1), (3, 8)])  # 1-bit grey, 1-bit and 8-bit palette
def test_item8_huge_png_is_refused_from_its_header(tmp_path: Path, mode_byte: int, depth: int) -> None:
    path = huge_png_header(tmp_path / "huge.png", 13000, 13000, mode_byte, depth)
    with pytest.raises(InputError) as err:
        as_image("input_image", str(path))
    assert "13000x13000" in err.value.problem and "too large" in err.value.problem
    # The upload component refuses it before gradio converts it (the data is cut short: converting
    # would fail with a decoding error, so only a header check gives this message).
    control = _control(LongVideoRequest, "input_image")
    with pytest.raises(gr.Error) as err:
        control.preprocess(ImageData(path=str(path), orig_name="huge.png"))
    assert err.value.message.startswith("input_image: ") and "13000x13000" in err.value.message, err.value


def test_item8_upload_component_passes_the_file_through_unconverted(tmp_path: Path) -> None:
    path = portrait_phone_jpeg(tmp_path / "phone.jpg")
    control = _control(LongVideoRequest, "input_image")
    assert control.preprocess(ImageData(path=str(path), orig_name="phone.jpg")) == str(path)
