"""FramePack users' batch scripts against `python app.py --tiny` (tiny weights: the videos are noise)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file
from PIL import Image

from studio.video_io import count_frames, is_playable_mp4


def _image(tmp_path: Path) -> str:
    path = tmp_path / "start.png"
    Image.fromarray((np.random.default_rng(3).random((90, 120, 3)) * 255).astype(np.uint8)).save(path)
    return str(path)


def test_process_endpoint_like_a_framepack_batch_script(live_server, tmp_path: Path) -> None:
    url, _ = live_server
    client = Client(url, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = [p["parameter_name"] for p in api["/process"]["parameters"]]
    assert names[:13] == ["input_image", "prompt", "n_prompt", "seed", "total_second_length",
                          "latent_window_size", "steps", "cfg", "gs", "rs", "gpu_memory_preservation",
                          "use_teacache", "mp4_crf"]
    assert names[13:] == ["end_frame", "use_random_seed", "save_section_frames"]
    defaults = {p["parameter_name"]: p.get("parameter_default") for p in api["/process"]["parameters"]}
    assert defaults["seed"] == 31337 and defaults["total_second_length"] == 5 and defaults["steps"] == 25
    assert defaults["gs"] == 10 and defaults["mp4_crf"] == 16 and defaults["use_teacache"] is True
    assert "/end_process" in api and "/long_video" in api

    result = client.predict(
        input_image=handle_file(_image(tmp_path)), prompt="The girl dances gracefully.", n_prompt="",
        seed=31337, total_second_length=2, latent_window_size=9, steps=3, cfg=1.0, gs=10.0, rs=0.0,
        gpu_memory_preservation=6, use_teacache=True, mp4_crf=16, api_name="/process")
    video = result[0]["video"]
    dst = tmp_path / "out.mp4"
    shutil.copy(video, dst)
    assert is_playable_mp4(dst)
    assert count_frames(dst) == 4 * 9 * 2 + 1  # round(2*30/36) = 2 sections


def test_end_process_stops_and_keeps_finished_sections(live_server, tmp_path: Path) -> None:
    url, _ = live_server
    client = Client(url, verbose=False)
    job = client.submit(input_image=handle_file(_image(tmp_path)), prompt="waves", n_prompt="", seed=1,
                        total_second_length=6, latent_window_size=9, steps=3, cfg=1.0, gs=10.0, rs=0.0,
                        gpu_memory_preservation=6, use_teacache=False, mp4_crf=16, api_name="/process")
    deadline = time.time() + 240
    while time.time() < deadline:  # wait for the first partial video, then stop
        outputs = job.outputs()
        if any(isinstance(o[0], dict) and o[0].get("video") for o in outputs):
            break
        time.sleep(0.3)
    client.predict(api_name="/end_process")
    final = job.result(timeout=240)
    video = final[0]["video"]
    assert is_playable_mp4(video)
    assert count_frames(video) < 4 * 9 * 5 + 1  # fewer than the 5 sections asked for

    again = client.predict(input_image=handle_file(_image(tmp_path)), prompt="calm", total_second_length=1,
                           steps=2, api_name="/process")
    assert is_playable_mp4(again[0]["video"])
