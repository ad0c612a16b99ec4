"""What a finished job leaves for its user (issue 14 items 12 and 16): the video under the job's
own name with every setting in its mp4 metadata, a dropped studio video loading those settings
back, and an Outputs list with prompt, duration and resolution that survives malformed jobs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import moving_square_frames
from gradio_client import Client, handle_file

from studio.env import StudioEnv
from studio.runner import download_name, drain, run_job
from studio.tasks import all_tasks
from studio.tasks.interpolate import InterpolateRequest
from studio.video_io import count_frames, write_mp4
from studio.video_meta import embed_settings, read_embedded_settings


def test_settings_survive_the_round_trip_through_mp4_metadata(tmp_path: Path) -> None:
    src = write_mp4(moving_square_frames(n=3), tmp_path / "a.mp4", fps=10)
    tricky = {"task": "long_video", "request": {"prompt": "a = b; #1 \\ [OPEN]\nnext line ✓", "seed": 7}}
    out = embed_settings(src, tmp_path / "b.mp4", tricky)
    assert read_embedded_settings(out) == tricky
    assert count_frames(out) == 3 and read_embedded_settings(src) is None


def test_a_finished_job_is_named_after_itself_and_carries_its_settings(tmp_path: Path, square_video: Path) -> None:
    env = StudioEnv(outputs=tmp_path / "outputs")
    result = drain(run_job(all_tasks()["interpolate"], InterpolateRequest(video=str(square_video), factor=3), env))
    job = result.video.parent
    assert result.video.name == download_name(job)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d{6}-interpolate-[0-9a-f]{6}\.mp4", result.video.name)
    assert not (job / "interpolated.mp4").exists()  # one copy of the video, not two
    embedded = read_embedded_settings(result.video)
    settings = json.loads((job / "settings.json").read_text())
    assert embedded["request"] == settings["request"] and embedded["request"]["factor"] == 3
    assert embedded["task"] == "interpolate" and embedded["job_id"] == job.name
    assert settings["result"]["width"] == 64 and settings["result"]["height"] == 48


@pytest.fixture(scope="module")
def client(live_server) -> Client:
    return Client(live_server[0], verbose=False)


def test_dropping_a_studio_video_loads_its_settings(client: Client, live_server, tmp_path: Path) -> None:
    src = write_mp4(moving_square_frames(n=3), tmp_path / "in.mp4", fps=10, crf=0)
    outputs = client.predict(video=handle_file(str(src)), factor=6, method="flow", keep_duration=False,
                             api_name="/interpolate")
    preview, status, made, side_by_side = outputs  # README's unpacking: the endpoint keeps its four outputs
    loaded = client.predict(handle_file(made), api_name="/load_video_settings")
    assert 6 in loaded and False in loaded  # factor and keep_duration came back
    assert "Loaded the settings of job" in loaded[-1]
    foreign = write_mp4(moving_square_frames(n=3), tmp_path / "plain.mp4", fps=10)
    with pytest.raises(Exception, match="video.*no Frame Studio settings|no Frame Studio settings"):
        client.predict(handle_file(str(foreign)), api_name="/load_video_settings")


def test_the_outputs_list_shows_prompt_duration_resolution_and_skips_broken_jobs(client: Client, live_server,
                                                                                  tmp_path: Path) -> None:
    _, outputs = live_server
    src = write_mp4(moving_square_frames(n=3), tmp_path / "in.mp4", fps=10, crf=0)
    client.predict(video=handle_file(str(src)), factor=2, method="flow", keep_duration=True, api_name="/interpolate")
    broken = outputs / "2000-01-01" / "000000-interpolate-broken"
    broken.mkdir(parents=True)
    (broken / "settings.json").write_text("[]")
    table, gallery, note = client.predict(api_name="/list_outputs")
    headers = table["headers"]
    assert headers[4:7] == ["prompt", "duration", "resolution"]
    row = next(r for r in table["data"] if r[1] == "interpolate" and r[6])
    assert row[6] == "64x48" and row[5].endswith(" s")
    assert "000000-interpolate-broken" in note and gallery  # the broken job is named, the rest listed
