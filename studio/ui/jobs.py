"""Glue between the job manager and gradio: who the caller is, submit-and-follow, stop, errors.

A tab's Start handler submits its job to the server-side `JobManager` and follows the events; when
the page closes, gradio closes the follower and the job runs on. The caller's identity (owner) is
the logged-in user under `--auth`, else the browser's own token (kept in its localStorage, so a
reload finds its jobs), else the API client's session.

No generation logic lives here: it validates through the request type and forwards events.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
from typing import Any, Callable, Iterator

import gradio as gr

from core.errors import InputError, JobStopped, StudioError
from studio.env import StudioEnv
from studio.events import Event
from studio.jobs import Job, JobManager
from studio.runner import run_job
from studio.spaces_compat import gpu
from studio.tasks.base import TaskSpec
from studio.ui.errors import refused, user_error


def owner_key(owner: str) -> str:
    """What settings.json records about the owner: a digest, so the file never holds the token."""
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


class JobControl:
    """The studio's jobs and the map from a caller to their owner id."""

    def __init__(self, env: StudioEnv) -> None:
        self.env = env
        self.manager = JobManager(self._run, max_waiting=env.queue_size)
        self._browser_tokens: dict[str, str] = {}  # session_hash -> the page's localStorage token
        self._lock = threading.Lock()

    def _run(self, spec: TaskSpec, request: Any, stop: threading.Event, owner: str) -> Iterator[Event]:
        yield from _on_device(spec, request, self.env, stop, owner_key(owner))

    def owner(self, request: gr.Request | None) -> str:
        if request is None:
            return "local"
        if getattr(request, "username", None):
            return f"user:{request.username}"
        session = getattr(request, "session_hash", None) or "anonymous"
        with self._lock:
            token = self._browser_tokens.get(session)
        return f"browser:{token}" if token else f"client:{session}"

    def register_browser(self, token: str | None, request: gr.Request) -> str:
        """Bind this page's session to its browser token (made here on the page's first visit)."""
        if not isinstance(token, str) or len(token) != 32 or not all(c in "0123456789abcdef" for c in token):
            token = secrets.token_hex(16)
        if request is not None and request.session_hash:
            with self._lock:
                self._browser_tokens[request.session_hash] = token
        return token

    def stop_handler(self, *tasks: str) -> Callable[..., None]:
        """An endpoint that stops the caller's own jobs of `tasks` (running or queued), nobody else's."""
        def stop(request: gr.Request) -> None:
            if not self.manager.stop(self.owner(request), tasks=tasks):
                gr.Info("Nothing of yours is running or queued here.")
        return stop


@gpu(duration=300)
def _on_device(spec: TaskSpec, request: Any, env: StudioEnv, stop: threading.Event, owner: str) -> Iterator[Event]:
    # The only place GPU work happens from the UI, so a Space gets CUDA exactly here.
    yield from run_job(spec, request, env, stop=stop, extra={"owner": owner})


def job_events(spec: TaskSpec, make_request: Callable[[], Any], env: StudioEnv, control: JobControl,
               caller: gr.Request | None = None, on_stopped: Callable[[str], None] | None = None,
               lane: str = "device") -> Iterator[Event]:
    """Validate, submit and follow a job; user-facing errors become gr.Error with field and fix.

    Closing the page closes this generator only: the job keeps running and lands in Outputs."""
    try:
        request = make_request()
    except InputError as err:
        raise refused(err) from None
    except StudioError as err:
        raise user_error(str(err)) from None
    try:
        job: Job = control.manager.submit(spec, request, control.owner(caller), lane=lane)
    except StudioError as err:
        raise user_error(str(err)) from None
    try:
        yield from control.manager.follow(job)
    except JobStopped as err:
        if on_stopped:
            on_stopped(str(err))
        gr.Info(f"Stopped: {err}. Finished parts are kept.")
    except StudioError as err:
        raise user_error(str(err)) from None
    except Exception as err:  # keep serving; show what failed instead of a bare "Error"
        raise gr.Error(f"{type(err).__name__}: {err}") from err
