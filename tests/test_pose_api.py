"""`/pose_animate` and `/extract_pose` against `python app.py --tiny` through gradio_client (tiny
random weights: the model's frames are noise; the poses and skeletons are real)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from studio.video_io import count_frames, probe_video, write_mp4


@pytest.fixture(scope="module")
def client(live_server) -> Client:
    url, _ = live_server
    return Client(url, verbose=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from skimage import data

    folder = tmp_path_factory.mktemp("pose_api")
    ref = data.astronaut()[::2, ::2].copy()
    Image.fromarray(ref).save(folder / "ref.png")
    write_mp4([np.roll(ref, 3 * i, axis=1) for i in range(9)], folder / "drive.mp4", 16)
    return str(folder / "ref.png"), str(folder / "drive.mp4")


def _path(out) -> str:
    return out["video"] if isinstance(out, dict) else out


def test_endpoints_list_the_declared_parameters(client: Client) -> None:
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = [p["parameter_name"] for p in api["/pose_animate"]["parameters"]]
    assert names[:6] == ["method", "model_size", "reference_image", "driving_video", "skeleton_video", "pose_json"]
    assert [p["parameter_name"] for p in api["/extract_pose"]["parameters"]] == ["video", "target", "hands", "face",
                                                                               "smoothing"]
    assert "/stop_pose" in api


def test_extract_pose_returns_skeleton_and_json(client: Client, media) -> None:
    _, drive = media
    status, _bar, skeleton, poses = client.predict(video=handle_file(drive), target="vace", api_name="/extract_pose")
    assert count_frames(_path(skeleton)) == 9
    assert len(json.loads(Path(poses).read_text())) == 9 and "9 of 9" in status


@pytest.mark.parametrize("method,fps", [("vace", 16.0), ("animate", 30.0)])
def test_pose_animate_returns_a_video(client: Client, media, method, fps) -> None:
    ref, drive = media
    result = client.predict(method=method, reference_image=handle_file(ref), driving_video=handle_file(drive),
                            frames=5, steps=1, api_name="/pose_animate")
    path = _path(result[6])
    assert count_frames(path) == 5 and probe_video(path).fps == fps
    assert count_frames(_path(result[3])) == count_frames(_path(result[4])) == 5  # skeleton and puppet
    assert len(json.loads(Path(result[5]).read_text())) == 5
    assert "noise" in result[1]


def test_frameprompt_without_weights_is_refused_then_vace_runs(client: Client, media) -> None:
    ref, drive = media
    with pytest.raises(Exception) as err:
        client.predict(method="frameprompt", reference_image=handle_file(ref), driving_video=handle_file(drive),
                       frames=5, steps=1, api_name="/pose_animate")
    assert "frameprompt_weights" in str(err.value)
    result = client.predict(method="vace", model_size="1.3b", reference_image=handle_file(ref),
                            driving_video=handle_file(drive), frames=5, steps=1, api_name="/pose_animate")
    assert count_frames(_path(result[6])) == 5
