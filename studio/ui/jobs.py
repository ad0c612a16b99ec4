"""Glue between the runner and gradio: one job at a time, cooperative stop, errors as gr.Error.

No generation logic lives here: it validates through the request type and forwards events.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import gradio as gr

from core.errors import InputError, JobStopped, StudioError
from studio.env import StudioEnv
from studio.events import Event
from studio.runner import run_job
from studio.spaces_compat import gpu
from studio.tasks.base import TaskSpec


class JobControl:
    """Holds the stop event of the running job (the queue runs one job per device at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: threading.Event | None = None

    def begin(self) -> threading.Event:
        stop = threading.Event()
        with self._lock:
            self._running = stop
        return stop

    def end(self, stop: threading.Event) -> None:
        with self._lock:
            if self._running is stop:
                self._running = None

    def stop(self) -> bool:
        """Ask the running job to stop at its next step; False when nothing is running."""
        with self._lock:
            if self._running is None:
                return False
            self._running.set()
            return True


@gpu(duration=300)
def _on_device(spec: TaskSpec, request: Any, env: StudioEnv, stop: threading.Event) -> Iterator[Event]:
    # The only place GPU work happens from the UI, so a Space gets CUDA exactly here.
    yield from run_job(spec, request, env, stop=stop)


def job_events(spec: TaskSpec, make_request: Callable[[], Any], env: StudioEnv, control: JobControl,
               on_stopped: Callable[[str], None] | None = None) -> Iterator[Event]:
    """Validate, run and stream a job; user-facing errors become gr.Error with field and fix."""
    try:
        request = make_request()
    except InputError as err:
        raise gr.Error(str(err), title=f"Check '{err.field}'") from None
    except StudioError as err:
        raise gr.Error(str(err)) from None
    stop = control.begin()
    try:
        yield from _on_device(spec, request, env, stop)
    except JobStopped as err:
        if on_stopped:
            on_stopped(str(err))
        gr.Info(f"Stopped: {err}. Finished parts are kept.")
    except StudioError as err:
        raise gr.Error(str(err)) from None
    except Exception as err:  # keep serving; show what failed instead of a bare "Error"
        raise gr.Error(f"{type(err).__name__}: {err}") from err
    finally:
        control.end(stop)
