"""Jobs against a real `python app.py --tiny`: Stop acts on the caller's own job, a job outlives a
client that vanishes, each user of a shared server sees only their own outputs, request bodies are
capped, and server paths in file fields are refused by the server itself (raw REST, no client-side
checks in the way)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from studio.video_io import count_frames, is_playable_mp4, write_mp4

LONG = dict(prompt="", n_prompt="", seed=1, total_second_length=2, latent_window_size=3, steps=2, cfg=1.0,
            gs=10.0, rs=0.0, gpu_memory_preservation=6, use_teacache=False, mp4_crf=16)


def _image(tmp_path: Path) -> str:
    path = tmp_path / "start.png"
    Image.fromarray((np.random.default_rng(5).random((64, 64, 3)) * 255).astype(np.uint8)).save(path)
    return str(path)


def _settings_with_prompt(outputs: Path, prompt: str) -> tuple[Path, dict] | None:
    for path in outputs.glob("*/*/settings.json"):
        try:
            settings = json.loads(path.read_text())
        except ValueError:
            continue  # being rewritten right now
        if isinstance(settings, dict) and settings.get("request", {}).get("prompt") == prompt:
            return path.parent, settings
    return None


def _wait_for_partial(job, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(isinstance(o[0], dict) and o[0].get("video") for o in job.outputs()):
            return
        time.sleep(0.2)
    raise AssertionError("no partial video arrived")


def test_another_clients_stop_does_not_end_my_job(live_server, tmp_path: Path) -> None:
    url, outputs = live_server
    mine, theirs = Client(url, verbose=False), Client(url, verbose=False)
    prompt = "item1 a lighthouse at dusk"
    job = mine.submit(input_image=handle_file(_image(tmp_path)), **{**LONG, "prompt": prompt}, api_name="/process")
    _wait_for_partial(job)
    for endpoint in ("/end_process", "/stop_interpolate", "/stop_first_last", "/stop_pose", "/stop_frame_inout"):
        theirs.predict(api_name=endpoint)  # every Stop of another client: none is about my job
    final = job.result(timeout=300)
    folder, settings = _settings_with_prompt(outputs, prompt)
    assert settings["status"] == "done", settings.get("message")
    assert count_frames(final[0]["video"]) == settings["result"]["frames"]


def test_a_job_runs_to_its_end_when_its_client_vanishes(live_server, tmp_path: Path) -> None:
    url, outputs = live_server
    prompt = "item2 the client goes away"
    script = textwrap.dedent(f"""
        import os, time
        from gradio_client import Client, handle_file
        c = Client({url!r}, verbose=False)
        job = c.submit(input_image=handle_file({_image(tmp_path)!r}), api_name="/long_video",
                       **{ {**LONG, "prompt": prompt, "total_second_length": 1.5}!r})
        deadline = time.time() + 240
        while time.time() < deadline and not any(isinstance(o[0], dict) for o in job.outputs()):
            time.sleep(0.2)
        os._exit(0)  # no goodbye: the connection just drops, like a closed laptop lid
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    deadline = time.time() + 300
    while time.time() < deadline:
        found = _settings_with_prompt(outputs, prompt)
        if found and found[1]["status"] != "running":
            break
        time.sleep(0.5)
    folder, settings = found
    assert settings["status"] == "done", settings.get("message")
    assert is_playable_mp4(folder / settings["result"]["video"])
    assert count_frames(folder / settings["result"]["video"]) == settings["result"]["frames"]
    # The script's result is in the Outputs list.
    listed = Client(url, verbose=False).predict(api_name="/list_outputs")
    assert folder.name in json.dumps(listed)


def test_server_paths_in_file_fields_are_refused_over_raw_rest(live_server) -> None:
    """gradio_client refuses such payloads before sending; here the server must refuse them."""
    url, outputs = live_server
    info = httpx.get(url + "gradio_api/info", timeout=30).json()["named_endpoints"]["/interpolate"]
    names = [p["parameter_name"] for p in info["parameters"]]
    defaults = [p.get("parameter_default") for p in info["parameters"]]
    secret = Path(__file__).resolve()
    for path in ("/etc/passwd", "../../../../etc/passwd", str(secret)):
        data = list(defaults)
        data[names.index("video")] = {"path": path, "meta": {"_type": "gradio.FileData"}}
        data[names.index("method")] = "flow"
        posted = httpx.post(url + "gradio_api/call/interpolate", json={"data": data}, timeout=30)
        assert posted.status_code == 200, posted.text
        event_id = posted.json()["event_id"]
        stream = httpx.get(url + f"gradio_api/call/interpolate/{event_id}", timeout=120).text
        assert "event: error" in stream and "event: complete" not in stream, stream
        assert "root:" not in stream and "refused over raw rest" not in stream  # no file content leaks
    copied = [p for p in outputs.rglob("*") if p.is_file() and p.stat().st_size == secret.stat().st_size
              and p.read_bytes() == secret.read_bytes()]
    assert not copied, copied


def test_request_bodies_are_capped(live_server) -> None:
    url, _ = live_server
    huge = {"data": ["x" * (6 * 1024 * 1024)]}
    response = httpx.post(url + "gradio_api/call/interpolate", json=huge, timeout=60)
    assert response.status_code == 413 and "larger than 4 MB" in response.text
    assert httpx.get(url + "gradio_api/info", timeout=30).status_code == 200  # still serving


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    from conftest import ROOT, start_server

    yield from start_server(tmp_path_factory, ROOT / "app.py", "--auth", "alice:apw,bob:bpw")


def test_each_user_of_a_shared_server_sees_only_their_own_outputs(shared_server, tmp_path: Path) -> None:
    url, outputs = shared_server
    clip = write_mp4([np.full((24, 32, 3), 40 * i, np.uint8) for i in range(3)], tmp_path / "clip.mp4", fps=10, crf=0)
    alice = Client(url, auth=("alice", "apw"), verbose=False)
    bob = Client(url, auth=("bob", "bpw"), verbose=False)
    alice.predict(video=handle_file(str(clip)), factor=2, method="flow", keep_duration=True, api_name="/interpolate")
    folder = next(outputs.glob("*/*/settings.json")).parent
    assert folder.name in json.dumps(alice.predict(api_name="/list_outputs"))
    assert folder.name not in json.dumps(bob.predict(api_name="/list_outputs"))
    # Nobody fetches a job's files by their path in the outputs folder, not even their owner: results
    # reach their caller through gradio's cache.
    cookies = httpx.post(url + "login", data={"username": "bob", "password": "bpw"}).cookies
    for name in ("settings.json", "video.mp4"):
        target = folder / name
        if target.exists():
            got = httpx.get(url + f"gradio_api/file={target}", cookies=cookies, timeout=30)
            assert got.status_code in (403, 404), (name, got.status_code)
    # Stop of one user leaves the other's jobs alone.
    job = alice.submit(video=handle_file(str(clip)), factor=8, method="flow", keep_duration=True,
                       api_name="/interpolate")
    bob.predict(api_name="/stop_interpolate")
    assert count_frames(job.result(timeout=300)[2]) == 17
