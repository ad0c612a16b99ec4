"""`/frame_inout` against `python app.py --tiny` through gradio_client with JSON trajectories (tiny
random weights: the model's frames are noise; counts and sizes matter)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from studio.video_io import count_frames, probe_video


@pytest.fixture(scope="module")
def client(live_server) -> Client:
    url, _ = live_server
    return Client(url, verbose=False)


def _path(out) -> str:
    return out["video"] if isinstance(out, dict) else out


def test_frame_inout_returns_the_video_and_the_full_canvas(client: Client, tmp_path: Path) -> None:
    image = tmp_path / "img.png"
    Image.fromarray((np.random.default_rng(2).random((96, 128, 3)) * 255).astype(np.uint8)).save(image)
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in api["/frame_inout"]["parameters"]][:7] == [
        "image", "expand_top", "expand_bottom", "expand_left", "expand_right", "expand_unit", "trajectories"]
    trajectories = [[[[-20, 40], [60, 50], [150, 60]]]]
    result = client.predict(image=handle_file(str(image)), expand_left=32, expand_right=32,
                            trajectories=json.dumps(trajectories), frames=5, steps=1, api_name="/frame_inout")
    video, full, preview = _path(result[5]), _path(result[4]), _path(result[3])
    assert count_frames(video) == count_frames(full) == count_frames(preview) == 5
    assert probe_video(full).width > probe_video(video).width  # the canvas is wider than the original framing
    assert "noise" in result[1]


def test_bad_trajectories_are_named_and_the_server_keeps_serving(client: Client, tmp_path: Path) -> None:
    image = tmp_path / "img.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(image)
    with pytest.raises(Exception) as err:
        client.predict(image=handle_file(str(image)), trajectories="[[[[1]]]]", frames=5, steps=1,
                       api_name="/frame_inout")
    assert "trajectories" in str(err.value)
    result = client.predict(image=handle_file(str(image)), trajectories="[[[[10, 10], [50, 50]]]]", frames=5,
                            steps=1, api_name="/frame_inout")
    assert count_frames(_path(result[5])) == 5
