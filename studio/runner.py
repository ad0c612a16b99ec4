"""Runs one task as a job: job folder, settings.json, timings, stop and failure bookkeeping.

UI, API and CLI all go through `run_job`, so a job started anywhere leaves the same files behind.
settings.json records the process running the job, so a later start can tell a job that died
with its process (see studio.outputs.recover_interrupted) from one still running.
"""
from __future__ import annotations

import datetime as dt
import platform
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from core.errors import DeviceOutOfMemory, JobStopped, StudioError
from studio.env import StudioEnv
from studio.events import Event, PartialVideo, Progress, Result
from studio.outputs import (
    contained_request,
    disk_full_error,
    new_job_dir,
    read_settings,
    write_settings,
)
from studio.recovery import process_identity
from studio.tasks.base import JobContext, TaskSpec

_VERSIONED = ("torch", "diffusers", "transformers", "gradio", "numpy", "opencv-python-headless", "imageio-ffmpeg")


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def run_job(spec: TaskSpec, request: Any, env: StudioEnv, stop: threading.Event | None = None,
            extra: dict[str, Any] | None = None) -> Iterator[Event]:
    """Yield the task's events while keeping `settings.json` in the job folder up to date.

    A stop keeps every partial file and ends with status "stopped" (JobStopped is re-raised so
    the caller can tell the user); any failure is recorded with its message before re-raising.
    A full outputs disk (anywhere: input copies, mp4s, PNGs, settings.json) is raised as DiskFull.
    """
    try:
        job_dir = new_job_dir(env.outputs, spec.name)
    except OSError as err:
        raise (disk_full_error(err, env.outputs) or err) from err
    ctx = JobContext(job_dir=job_dir, env=env, stop=stop or threading.Event())
    started = time.time()
    settings: dict[str, Any] = {
        "task": spec.name,
        "job_id": job_dir.name,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "status": "running",
        "process": process_identity(),
        "tiny_weights": env.tiny,
        "noise": spec.output_is_noise(request, env),  # tiny weights AND the method runs weights
        "versions": versions(),
        **(extra or {}),
    }
    partials: list[str] = []
    try:
        write_settings(job_dir, settings)  # first, so a job killed while copying inputs is recovered
        settings["request"] = request.to_settings(job_dir)
        write_settings(job_dir, settings)
        for event in spec.run(request, ctx):
            if isinstance(event, PartialVideo):
                partials.append(Path(event.path).name)
                settings["partials"] = _existing(job_dir, partials)
                write_settings(job_dir, settings)  # a kill -9 after this still finds the partial
            elif isinstance(event, Result):
                event = _publish(Result(event.video, {**event.metadata, "noise": settings["noise"]}), job_dir,
                                 settings, partials)
                settings["result"] = {"video": Path(event.video).name, **event.metadata}
            yield event
        settings["status"] = "done"
    except JobStopped as err:
        settings["status"] = "stopped"
        settings["message"] = str(err)
        raise
    except BaseException as err:
        settings["status"] = "failed"
        full = disk_full_error(err, env.outputs)
        if full is not None:
            settings["message"] = str(full)
            raise full from err
        if "torch" in sys.modules and not isinstance(err, DeviceOutOfMemory):
            # Model tasks report OOM through memory.oom_guard with their plan; this catches the rest.
            from memory.oom import describe, free_device_memory, is_oom

            if is_oom(err):
                free_device_memory()
                err = DeviceOutOfMemory(describe(None, spec.title, str(err)))
                settings["message"] = str(err)
                raise err from None
        settings["message"] = str(err) if isinstance(err, StudioError) else f"{type(err).__name__}: {err}"
        raise
    finally:
        if settings["status"] != "done" and "torch" in sys.modules:
            from memory.oom import free_device_memory

            free_device_memory()  # what the failed or stopped job held goes back to the device
        settings.update(ctx.record)
        settings["partials"] = _existing(job_dir, partials)
        settings["timings"] = {"total_s": round(time.time() - started, 3), **settings.get("timings", {})}
        _save(job_dir, settings, env.outputs)


def _save(job_dir: Path, settings: dict[str, Any], outputs: Path) -> None:
    """The final settings.json; a full disk here is reported with the outputs folder's free space."""
    try:
        write_settings(job_dir, settings)
    except (OSError, StudioError) as err:  # atomic_path raises DiskFull naming the job folder
        raise (disk_full_error(err, outputs) or err) from err


def download_name(job_dir: Path) -> str:
    """The final video's name: the job's own (date_time-task-id.mp4), so a download says which job
    it came from instead of being the tenth video.mp4 in the Downloads folder."""
    return f"{job_dir.parent.name}_{job_dir.name}.mp4"


def _publish(result: Result, job_dir: Path, settings: dict[str, Any], partials: list[str]) -> Result:
    """The result video under the job's name with the job's settings in its metadata (stream copy).
    The task's own file goes unless it is also a listed partial; a folder of frames stays as it is."""
    from studio.video_io import probe_video
    from studio.video_meta import embed_settings

    video = Path(result.video)
    if video.suffix != ".mp4" or not video.is_file():
        return result
    named = job_dir / download_name(job_dir)
    payload = {key: settings.get(key) for key in ("task", "job_id", "created", "request", "versions")}
    embed_settings(video, named, {**payload, "result": {k: v for k, v in result.metadata.items()
                                                        if isinstance(v, (int, float, str, bool, type(None)))}})
    if video.name not in partials:
        video.unlink()
    info = probe_video(named)  # what the Outputs list shows: size and length as written
    return Result(named, {"width": info.width, "height": info.height, "seconds": round(info.duration, 3),
                          **result.metadata})


def _existing(job_dir: Path, names: list[str]) -> list[str]:
    """`names` without repeats and without files that are gone (a newer partial replaced them)."""
    return [n for n in dict.fromkeys(names) if (job_dir / n).is_file()]


def rerun_request(spec_by_name: dict[str, TaskSpec], settings_path: Path) -> tuple[TaskSpec, Any]:
    """The task and re-validated request stored in a past job's settings.json. Every media field
    must name a file inside the job folder (InputError naming the field otherwise)."""
    settings_path = Path(settings_path)
    settings = read_settings(settings_path)
    base = settings_path if settings_path.is_dir() else settings_path.parent
    name = settings.get("task")
    if name not in spec_by_name:
        raise StudioError(f"settings.json names task {name!r}, which this studio does not have")
    if not isinstance(settings.get("request"), dict):
        raise StudioError(f"{settings_path} holds no request (the job ended before its inputs were saved)")
    spec = spec_by_name[name]
    data = contained_request(spec.request_type, settings["request"], base)
    return spec, spec.request_type.from_settings(data, base)


def drain(events: Iterator[Event]) -> Result | None:
    """Run a job to the end, returning its Result (tests and scripts)."""
    last = None
    for event in events:
        if isinstance(event, Result):
            last = event
    return last


__all__ = ["run_job", "rerun_request", "drain", "versions", "Progress"]
