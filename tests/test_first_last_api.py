"""`/first_last` against `python app.py --tiny` through gradio_client, one call per method and a
bridge (tiny random weights: the model's frames are noise; counts and rates matter)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import moving_square_frames
from gradio_client import Client, handle_file
from PIL import Image

from studio.video_io import count_frames, probe_video, write_mp4


@pytest.fixture(scope="module")
def client(live_server) -> Client:
    url, _ = live_server
    return Client(url, verbose=False)


def _png(tmp_path: Path, name: str, seed: int) -> str:
    path = tmp_path / name
    Image.fromarray((np.random.default_rng(seed).random((72, 96, 3)) * 255).astype(np.uint8)).save(path)
    return str(path)


def _video(result) -> str:
    out = result[4]
    return out["video"] if isinstance(out, dict) else out


def test_first_last_endpoint_lists_the_declared_parameters(client: Client) -> None:
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = [p["parameter_name"] for p in api["/first_last"]["parameters"]]
    assert names[:5] == ["method", "first_image", "last_image", "clip_a", "clip_b"]
    assert {"prompt", "resolution", "frames", "steps", "guidance", "shift", "seed"} <= set(names)
    assert "/stop_first_last" in api


@pytest.mark.parametrize("method,last,frames", [("wan-flf2v", True, 9), ("flashi2v", False, 9),
                                                 ("framepack-end", True, 13)])
def test_each_method_returns_a_video(client: Client, tmp_path: Path, method, last, frames) -> None:
    result = client.predict(method=method, first_image=handle_file(_png(tmp_path, "a.png", 1)),
                            last_image=handle_file(_png(tmp_path, "b.png", 2)) if last else None,
                            prompt="a paper boat drifts", frames=frames, steps=2, seed=3,
                            api_name="/first_last")
    path = _video(result)
    assert count_frames(path) == frames
    assert probe_video(path).fps == (30.0 if method == "framepack-end" else 16.0)
    assert "noise" in result[1]


def test_bridge_and_a_bad_request_then_a_good_one(client: Client, tmp_path: Path) -> None:
    a = write_mp4(moving_square_frames(6), tmp_path / "a.mp4", fps=24, crf=0)
    b = write_mp4(moving_square_frames(5, seed=3), tmp_path / "b.mp4", fps=24, crf=0)
    with pytest.raises(Exception) as err:
        client.predict(method="flashi2v", clip_a=handle_file(str(a)), clip_b=handle_file(str(b)),
                       frames=9, steps=1, api_name="/first_last")
    assert "method" in str(err.value)
    result = client.predict(method="wan-flf2v", clip_a=handle_file(str(a)),
                            clip_b=handle_file(str(b)), frames=9, steps=1, api_name="/first_last")
    path = _video(result)
    assert probe_video(path).fps == 24.0 and count_frames(path) == 6 + (round(8 / 16 * 24) + 1 - 2) + 5
