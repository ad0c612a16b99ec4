"""The long-video task on tiny random weights (output is noise): job files, rerun, stop, faults."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from core.errors import DeviceOutOfMemory, InputError, JobStopped, MissingWeightsError
from studio.env import StudioEnv
from studio.events import PartialVideo, Result
from studio.runner import drain, rerun_request, run_job
from studio.tasks import all_tasks
from studio.tasks.long_video_request import LongVideoRequest
from studio.video_io import count_frames, is_playable_mp4, iter_frames, write_mp4

SPEC = all_tasks()["long_video"]


def _image(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((72, 96, 3)) * 255).astype(np.uint8)


def _request(**kw) -> LongVideoRequest:
    base = dict(input_image=_image(), prompt="a red ball rolls", total_second_length=1.2, latent_window_size=3,
                steps=2, bucket=64, use_teacache=False, mp4_crf=0, seed=7)
    base.update(kw)
    return LongVideoRequest(**base)


@pytest.fixture
def env(tmp_path: Path) -> StudioEnv:
    return StudioEnv(outputs=tmp_path / "outputs", tiny=True)


def test_job_writes_video_settings_and_rerun_reproduces_frames(env: StudioEnv) -> None:
    result = drain(run_job(SPEC, _request(), env))
    job = result.video.parent
    settings = json.loads((job / "settings.json").read_text())
    sections = settings["sections"]
    assert sections == 3  # round(1.2 * 30 / (3 * 4))
    assert count_frames(result.video) == 4 * 3 * sections + 1
    assert settings["status"] == "done" and settings["tiny_weights"] is True
    assert settings["request"]["seed"] == 7 and settings["request"]["input_image"] == "input_image.png"
    assert (job / "input_image.png").exists()
    assert {"torch", "diffusers", "gradio"} <= set(settings["versions"])
    assert settings["timings"]["total_s"] > 0
    assert [s["tokens"] for s in settings["section_log"]] == [settings["section_log"][0]["tokens"]] * sections
    assert not list(job.glob("partial_*.mp4"))  # the last partial became video.mp4

    spec, again = rerun_request(all_tasks(), job / "settings.json")
    rerun = drain(run_job(spec, again, env))
    assert rerun.video.parent != job
    a, b = list(iter_frames(result.video)), list(iter_frames(rerun.video))
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_random_seed_is_drawn_once_and_recorded(env: StudioEnv) -> None:
    req = _request(use_random_seed=True, total_second_length=1.0)
    assert req.use_random_seed is False and 0 <= req.seed < 2**32
    result = drain(run_job(SPEC, req, env))
    assert json.loads((result.video.parent / "settings.json").read_text())["request"]["seed"] == req.seed


def test_stop_after_first_section_keeps_a_playable_mp4_and_next_job_runs(env: StudioEnv) -> None:
    stop = threading.Event()
    partials: list[PartialVideo] = []
    with pytest.raises(JobStopped):
        for event in run_job(SPEC, _request(), env, stop=stop):
            if isinstance(event, PartialVideo):
                partials.append(event)
                stop.set()
    assert len(partials) == 1
    kept = partials[0].path
    assert kept.exists() and is_playable_mp4(kept)
    assert count_frames(kept) == partials[0].frames == 4 * 3 + 1 - 4  # one inverted section (no start frame yet)
    settings = json.loads((kept.parent / "settings.json").read_text())
    assert settings["status"] == "stopped" and settings["partials"] == [kept.name]
    assert isinstance(drain(run_job(SPEC, _request(total_second_length=1.0), env)), Result)


def test_simulated_device_oom_is_reported_and_the_next_job_runs(env: StudioEnv, monkeypatch) -> None:
    import torch

    import models.framepack.pipeline as pipeline

    real = pipeline._denoise_section
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_denoise_section", flaky)
    with pytest.raises(DeviceOutOfMemory) as err:
        drain(run_job(SPEC, _request(), env))
    assert "ran out of memory" in str(err.value) and "Try:" in str(err.value)
    failed = sorted(env.outputs.glob("*/*/settings.json"))[-1]
    settings = json.loads(failed.read_text())
    assert settings["status"] == "failed" and "out of memory" in settings["message"]
    assert settings["memory_plan"]["peak_vram_gb"] >= 0  # the plan that failed is on record
    assert (failed.parent / "partial_001.mp4").exists()  # the finished section survives
    monkeypatch.setattr(pipeline, "_denoise_section", real)
    assert isinstance(drain(run_job(SPEC, _request(total_second_length=1.0), env)), Result)


def test_missing_weights_name_repos_and_sizes(tmp_path: Path) -> None:
    env = StudioEnv(outputs=tmp_path / "o", tiny=False)
    with pytest.raises(MissingWeightsError) as err:
        drain(run_job(SPEC, _request(), env))
    msg = str(err.value)
    assert "lllyasviel/FramePackI2V_HY" in msg and "25.7 GB" in msg and "hf download" in msg


def test_extend_mode_keeps_the_input_frames(env: StudioEnv, tmp_path: Path) -> None:
    frames = [(np.full((64, 64, 3), 20 * i, np.uint8)) for i in range(10)]
    src = write_mp4(frames, tmp_path / "in.mp4", fps=30, crf=0)
    req = _request(mode="extend", input_image=None, input_video=str(src), extend_context_frames=4,
                   total_second_length=1.0)
    result = drain(run_job(SPEC, req, env))
    out = list(iter_frames(result.video))
    assert all(np.array_equal(a, b) for a, b in zip(out[:10], frames))
    assert len(out) > 10


@pytest.mark.parametrize("kw, field", [
    (dict(mode="f1", end_frame=_image(1)), "end_frame"),
    (dict(mode="extend", input_image=None), "input_video"),
    (dict(total_second_length=121), "total_second_length"),
    (dict(total_second_length=float("nan")), "total_second_length"),
    (dict(seed=-1), "seed"),
    (dict(bucket=100), "bucket"),
    (dict(prompt="[2s: oops"), "prompt"),
    (dict(prompt="x" * 100_000), "prompt"),
    (dict(input_image=None), "input_image"),
    (dict(mode="sideways"), "mode"),
    (dict(end_frame_influence=0), "end_frame_influence"),
])
def test_bad_requests_name_the_field(kw, field) -> None:
    with pytest.raises(InputError) as err:
        _request(**kw)
    assert err.value.field == field


def test_fp8_transformer_storage_runs_and_is_recorded(env: StudioEnv) -> None:
    """fp8 weight storage (diffusers layerwise casting) through the whole job; tiny weights: noise."""
    import torch

    result = drain(run_job(SPEC, _request(total_second_length=1.0, fp8_transformer=True), env))
    settings = json.loads((result.video.parent / "settings.json").read_text())
    assert settings["fp8_storage"] == ["transformer"] and settings["request"]["fp8_transformer"] is True
    assert count_frames(result.video) == 4 * 3 * 2 + 1  # round(1.0*30/12) = 2 sections
    cached = env.models._value["transformer"]  # the family this env keeps between jobs
    assert any(p.dtype == torch.float8_e4m3fn for p in cached.parameters())
    full = drain(run_job(SPEC, _request(total_second_length=1.0), env))  # full precision reloads
    assert all(p.dtype != torch.float8_e4m3fn for p in env.models._value["transformer"].parameters())
    assert count_frames(full.video) == count_frames(result.video)
