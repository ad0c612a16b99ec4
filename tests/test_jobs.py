"""The job manager: jobs outlive their followers, stop and cancel act on the owner's jobs only,
queue positions, replay for a reconnecting follower, and the queue limit."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.errors import JobStopped, StudioError
from core.stop import check_stop
from studio.events import Preview, Progress, Result
from studio.jobs import CANCELLED, DONE, QUEUED, RUNNING, STOPPED, JobManager
from studio.tasks.base import TaskSpec

STEPS = 5


class Gate:
    """A fake task whose steps advance only when the test says so (no timing in assertions)."""

    def __init__(self) -> None:
        self.step = threading.Semaphore(0)

    def run(self, spec, request, stop, owner):
        for i in range(STEPS):
            assert self.step.acquire(timeout=30)
            check_stop(stop.is_set, i, STEPS, "steps")
            yield Preview(np.full((2, 2, 3), i, np.uint8))
            yield Progress(i + 1, STEPS, "step")
        from pathlib import Path
        yield Result(Path("/nowhere/video.mp4"), {"owner": owner, "request": request})

    def release(self, n: int = STEPS) -> None:
        for _ in range(n):
            self.step.release()


SPEC = TaskSpec(name="fake", title="Fake", request_type=dict, run=lambda r, c: iter(()), layout="")
OTHER = TaskSpec(name="other", title="Other", request_type=dict, run=lambda r, c: iter(()), layout="")


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_job_runs_to_its_end_after_its_follower_is_closed() -> None:
    gate = Gate()
    jobs = JobManager(gate.run)
    job = jobs.submit(SPEC, {"n": 1}, "alice")
    wait_for(lambda: job.state == RUNNING)
    follower = jobs.follow(job)
    gate.release(1)
    assert isinstance(next(follower), Preview)
    follower.close()  # the browser tab went away
    gate.release()
    wait_for(lambda: job.state == DONE)
    assert job.video == "/nowhere/video.mp4"
    assert job.request is None  # a finished job lets go of its inputs (the panel keeps 50 of them)
    # A reconnecting follower replays everything, with only the newest preview kept.
    replay = list(jobs.follow(job))
    assert sum(isinstance(e, Preview) for e in replay) == 1
    assert [e.step for e in replay if isinstance(e, Progress)] == [1, 2, 3, 4, 5]
    assert isinstance(replay[-1], Result) and replay[-1].metadata["owner"] == "alice"


def test_stop_from_another_owner_leaves_the_job_running() -> None:
    gate = Gate()
    jobs = JobManager(gate.run)
    job = jobs.submit(SPEC, {}, "alice")
    gate.release(1)
    wait_for(lambda: job.state == RUNNING and job.progress is not None)
    assert jobs.stop("bob") == 0 and jobs.stop("bob", job_id=job.id) == 0
    assert jobs.stop("alice", tasks=("other",)) == 0  # another tab's Stop
    assert not job.stop.is_set()
    assert jobs.stop("alice", tasks=("fake",)) == 1
    assert job.state == "stopping"
    gate.release()
    with pytest.raises(JobStopped, match="stopped after 1 of 5 steps"):
        list(jobs.follow(job))
    assert job.state == STOPPED and "stopped after 1 of 5" in job.message


def test_queued_jobs_have_positions_and_only_their_owner_cancels_them() -> None:
    gate = Gate()
    jobs = JobManager(gate.run)
    first = jobs.submit(SPEC, {}, "alice")
    wait_for(lambda: first.state == RUNNING)
    second = jobs.submit(OTHER, {}, "bob")
    third = jobs.submit(SPEC, {}, "carol")
    assert (jobs.position(second), jobs.position(third)) == (1, 2)
    note = next(jobs.follow(third))
    assert isinstance(note, Progress) and note.total == 0 and "position 2 of 2" in note.desc
    assert jobs.stop("alice", job_id=second.id) == 0 and second.state == QUEUED
    assert jobs.stop("bob", job_id=second.id) == 1 and second.state == CANCELLED
    assert jobs.position(third) == 1
    with pytest.raises(JobStopped, match="cancelled"):
        list(jobs.follow(second))
    gate.release(2 * STEPS)
    wait_for(lambda: third.state == DONE)
    assert first.state == DONE and [j.id for j in jobs.jobs_of("carol")] == [third.id]


def test_a_full_queue_is_refused_by_name() -> None:
    gate = Gate()
    jobs = JobManager(gate.run, max_waiting=2)
    running = jobs.submit(SPEC, {}, "a")
    wait_for(lambda: running.state == RUNNING)
    jobs.submit(SPEC, {}, "a")
    jobs.submit(SPEC, {}, "b")
    with pytest.raises(StudioError, match="queue is full"):
        jobs.submit(SPEC, {}, "c")
    jobs.stop("a"), jobs.stop("b")
    gate.release(3 * STEPS)
    wait_for(lambda: running.finished_state)


def test_lanes_run_side_by_side_and_a_failure_does_not_stop_the_lane() -> None:
    def failing(spec, request, stop, owner):
        if request.get("fail"):
            raise RuntimeError("boom")
        yield Progress(1, 1, "done")

    jobs = JobManager(failing)
    bad = jobs.submit(SPEC, {"fail": True}, "a")
    good = jobs.submit(SPEC, {}, "a")
    with pytest.raises(RuntimeError, match="boom"):
        list(jobs.follow(bad))
    list(jobs.follow(good))
    assert bad.message == "RuntimeError: boom" and good.state == DONE


def test_seconds_per_step_and_eta_come_from_the_progress_so_far() -> None:
    gate = Gate()
    jobs = JobManager(gate.run)
    job = jobs.submit(SPEC, {}, "a")
    gate.release(3)
    wait_for(lambda: job.progress is not None and job.progress.step == 3)
    now = time.time()
    rate = job.seconds_per_step(now)
    assert rate is not None and rate > 0
    assert job.eta(now) == pytest.approx(rate * 2)  # two steps left at the rate so far
    gate.release()
    wait_for(lambda: job.state == DONE)
    assert job.eta() is None
