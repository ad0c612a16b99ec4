"""Server-side jobs: each one runs to its end whatever its client does, and belongs to its owner.

A browser tab or an API client *submits* a job and then *follows* its events; closing the page
ends only the following. Jobs wait in one FIFO queue per lane (the device, the CPU pose extractor)
and run one at a time per lane. Stop and cancel act on the caller's own jobs only, and a
reconnecting client finds its jobs (running, queued and recently finished) by owner.

No gradio here: the UI and the tests drive the same manager.
"""
from __future__ import annotations

import collections
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from core.errors import JobStopped, StudioError
from studio.events import Event, PartialVideo, Preview, Progress, Result
from studio.tasks.base import TaskSpec

QUEUED, RUNNING, STOPPING, DONE, STOPPED, FAILED, CANCELLED = (
    "queued", "running", "stopping", "done", "stopped", "failed", "cancelled")
FINISHED = (DONE, STOPPED, FAILED, CANCELLED)

# (spec, request, stop, owner) -> the job's event stream (run_job, possibly wrapped for a GPU Space).
Runner = Callable[[TaskSpec, Any, threading.Event, str], Iterator[Event]]


@dataclass(eq=False)
class Job:
    """One submitted job. Its event log replays to every follower; only the newest preview is kept
    (a long job makes hundreds and a reconnecting page needs the current one)."""

    id: str
    owner: str
    spec: TaskSpec
    request: Any
    lane: str
    created: float = field(default_factory=time.time)
    state: str = QUEUED
    started: float | None = None
    finished: float | None = None
    message: str = ""
    error: BaseException | None = None
    job_dir: str | None = None
    video: str | None = None  # newest partial or the result
    log: list[Event | None] = field(default_factory=list)
    progress: Progress | None = None
    _rate_from: tuple[float, int, int] | None = None  # (time, step, total) when this total began
    _last_preview: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED

    def seconds_per_step(self, now: float | None = None) -> float | None:
        if self._rate_from is None or self.progress is None:
            return None
        t0, s0, _ = self._rate_from
        done = self.progress.step - s0
        return ((now or time.time()) - t0) / done if done > 0 else None

    def eta(self, now: float | None = None) -> float | None:
        rate = self.seconds_per_step(now)
        if rate is None or self.progress is None or self.progress.total <= self.progress.step:
            return None
        return rate * (self.progress.total - self.progress.step)

    def elapsed(self, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or now or time.time()) - self.started


class JobManager:
    """Queues, runs and tracks jobs by owner. `runner` turns a job into events (run_job)."""

    def __init__(self, runner: Runner, *, max_waiting: int = 16, keep_finished: int = 50) -> None:
        self._runner = runner
        self._max_waiting = max_waiting
        self._keep_finished = keep_finished
        self._cond = threading.Condition()
        self._queues: dict[str, collections.deque[Job]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._jobs: list[Job] = []  # every job still tracked, oldest first

    # ----------------------------------------------------------------- submitting and following

    def submit(self, spec: TaskSpec, request: Any, owner: str, lane: str = "device") -> Job:
        with self._cond:
            waiting = sum(len(q) for q in self._queues.values())
            if waiting >= self._max_waiting:
                raise StudioError(f"the queue is full ({waiting} jobs waiting); try again when a job has finished")
            job = Job(id=secrets.token_hex(4), owner=owner, spec=spec, request=request, lane=lane)
            self._jobs.append(job)
            self._queues.setdefault(lane, collections.deque()).append(job)
            if lane not in self._workers:
                worker = threading.Thread(target=self._work, args=(lane,), name=f"studio-lane-{lane}", daemon=True)
                self._workers[lane] = worker
                worker.start()
            self._forget_old()
            self._cond.notify_all()
        return job

    def follow(self, job: Job, start: int = 0, queued_every: float = 1.0) -> Iterator[Event]:
        """The job's events from `start` on, as they happen; re-raises how the job ended (JobStopped,
        StudioError, ...). While it waits in the queue, `Progress(0, 0, "queued: ...")` says where."""
        index = start
        last_queue_note = None
        while True:
            with self._cond:
                while index >= len(job.log) and not job.finished_state:
                    if job.state == QUEUED:
                        note = self._queue_note(job)
                        if note != last_queue_note:
                            break
                    self._cond.wait(timeout=queued_every)
                pending = job.log[index:]
                index = len(job.log)
                ended = job.finished_state
                note = self._queue_note(job) if job.state == QUEUED else None
            if note is not None and note != last_queue_note:
                last_queue_note = note
                yield Progress(0, 0, note)
            for event in pending:
                if event is not None:
                    yield event
            if ended and index >= len(job.log):
                break
        if job.error is not None:
            raise job.error

    # ----------------------------------------------------------------------- owner's controls

    def jobs_of(self, owner: str) -> list[Job]:
        with self._cond:
            return [j for j in self._jobs if j.owner == owner]

    def find(self, owner: str, job_id: str) -> Job | None:
        with self._cond:
            return next((j for j in self._jobs if j.owner == owner and j.id == job_id), None)

    def stop(self, owner: str, tasks: tuple[str, ...] | None = None, job_id: str | None = None) -> int:
        """Stop the owner's running jobs (at their next step) and cancel their queued ones, limited to
        `tasks` or one `job_id`. Returns how many were affected; never touches another owner's jobs."""
        count = 0
        with self._cond:
            for job in self._jobs:
                if job.owner != owner or job.finished_state:
                    continue
                if (job_id is not None and job.id != job_id) or (tasks is not None and job.spec.name not in tasks):
                    continue
                count += 1
                job.stop.set()
                if job.state == QUEUED:
                    self._queues[job.lane].remove(job)
                    job.state, job.finished, job.message = CANCELLED, time.time(), "cancelled before it started"
                    job.request = None
                    job.error = JobStopped("cancelled before it started", done=0, total=None, unit="steps")
                elif job.state == RUNNING:
                    job.state = STOPPING
            self._cond.notify_all()
        return count

    def position(self, job: Job) -> int | None:
        """1 for the next job to run in its lane; None when not waiting."""
        with self._cond:
            queue = self._queues.get(job.lane, ())
            return next((i + 1 for i, j in enumerate(queue) if j is job), None)

    def _queue_note(self, job: Job) -> str:
        queue = self._queues.get(job.lane, ())
        pos = next((i + 1 for i, j in enumerate(queue) if j is job), 0)
        return f"queued: position {pos} of {len(queue)} (waiting for the job before it to finish)"

    # ------------------------------------------------------------------------------- running

    def _work(self, lane: str) -> None:
        while True:
            with self._cond:
                while not self._queues[lane]:
                    self._cond.wait()
                job = self._queues[lane].popleft()
                job.state, job.started = RUNNING, time.time()
                self._cond.notify_all()
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            for event in self._runner(job.spec, job.request, job.stop, job.owner):
                self._record(job, event)
            end, message, error = DONE, "done", None
        except JobStopped as err:
            end, message, error = STOPPED, str(err), err
        except BaseException as err:  # the follower re-raises it; the lane keeps serving
            end, error = FAILED, err
            message = str(err) if isinstance(err, StudioError) else f"{type(err).__name__}: {err}"
        with self._cond:
            job.state, job.finished, job.message, job.error = end, time.time(), message, error
            job.request = None  # its input arrays (images, frames) are not needed once it ran
            self._cond.notify_all()

    def _record(self, job: Job, event: Event) -> None:
        with self._cond:
            if isinstance(event, Preview):
                if job._last_preview is not None:
                    job.log[job._last_preview] = None
                job._last_preview = len(job.log)
            elif isinstance(event, Progress):
                now = time.time()
                if job._rate_from is None or job._rate_from[2] != event.total:
                    job._rate_from = (now, event.step, event.total)
                job.progress = event
            elif isinstance(event, (PartialVideo, Result)):
                path = Path(event.path if isinstance(event, PartialVideo) else event.video)
                job.video, job.job_dir = str(path), str(path.parent)
            job.log.append(event)
            self._cond.notify_all()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs if j.finished_state]
        for job in finished[:max(0, len(finished) - self._keep_finished)]:
            self._jobs.remove(job)
