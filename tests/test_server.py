"""Drives `python app.py --tiny` through gradio_client, as batch scripts do."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import moving_square_frames
from gradio_client import Client, handle_file

from studio.video_io import count_frames, iter_frames, write_mp4


@pytest.fixture(scope="module")
def client(live_server) -> Client:
    url, _ = live_server
    return Client(url, verbose=False)


def test_view_api_lists_task_endpoints_with_parameter_names(client: Client) -> None:
    api = client.view_api(return_format="dict", print_info=False)
    named = api["named_endpoints"]
    assert "/interpolate" in named
    params = [p["parameter_name"] for p in named["/interpolate"]["parameters"]]
    assert params[:4] == ["video", "factor", "method", "keep_duration"]


def test_interpolate_endpoint_end_to_end_then_bad_input_then_good(client: Client, tmp_path: Path) -> None:
    frames = moving_square_frames(n=4)
    src = write_mp4(frames, tmp_path / "in.mp4", fps=10, crf=0)
    result = client.predict(video=handle_file(str(src)), factor=3, method="flow", keep_duration=True,
                            api_name="/interpolate")
    video_out = result[2]
    path = video_out["video"] if isinstance(video_out, dict) else video_out
    assert count_frames(path) == (4 - 1) * 3 + 1

    bad = tmp_path / "bad.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(Exception) as err:
        client.predict(video=handle_file(str(bad)), factor=3, method="flow", keep_duration=True,
                       api_name="/interpolate")
    assert "video" in str(err.value)
    with pytest.raises(Exception) as err:
        client.predict(video=handle_file(str(src)), factor=17, method="flow", keep_duration=True,
                       api_name="/interpolate")
    assert "factor" in str(err.value)

    again = client.predict(video=handle_file(str(src)), factor=2, method="flow", keep_duration=False,
                           api_name="/interpolate")
    path = again[2]["video"] if isinstance(again[2], dict) else again[2]
    got = list(iter_frames(path))
    assert len(got) == 7


def test_interpolate_endpoint_with_the_ldf_vfi_method(client: Client, tmp_path: Path) -> None:
    """Tiny random LDF-VFI weights under --tiny: the new frames are noise; count and originals matter."""
    frames = moving_square_frames(n=3, h=32, w=48)
    src = write_mp4(frames, tmp_path / "s.mp4", fps=10, crf=0)
    result = client.predict(video=handle_file(str(src)), factor=4, method="ldf-vfi", keep_duration=True,
                            mp4_crf=0, seed=3, steps=2, api_name="/interpolate")
    out = list(iter_frames(result[2]))
    assert len(out) == 9
    assert np.array_equal(out[4], frames[1])
