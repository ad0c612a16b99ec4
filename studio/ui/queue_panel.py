"""The "Your jobs" panel: the caller's queued, running and recent jobs, live, with cancel.

It reads the job manager once a second (a gr.Timer), so a reopened page shows what its owner has
running and what finished meanwhile. `/my_jobs` and `/cancel_job` serve API clients the same way.
"""
from __future__ import annotations

import time
from typing import Any

import gradio as gr

from studio.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, STOPPED, STOPPING, Job
from studio.ui.errors import user_error
from studio.ui.jobs import JobControl
from studio.ui.progress import duration_text

COLUMNS = ["job", "task", "state", "position", "elapsed", "s / step", "ETA", "progress"]


def status_line(job: Job, position: int | None, now: float) -> str:
    """What a user needs to know about one job, in one line."""
    kept = "the partial video is kept" if job.video else "nothing was finished"
    if job.state == QUEUED:
        return f"queued: position {position} (starts when the jobs before it finish)"
    if job.state in (RUNNING, STOPPING):
        p = job.progress
        text = f"{p.desc} ({p.step} of {p.total})" if p and p.total else "starting"
        rate, eta = job.seconds_per_step(now), job.eta(now)
        text += f" · {rate:.1f} s/step" if rate else ""
        text += f" · about {duration_text(eta)} left" if eta else ""
        return ("stopping after this step · " if job.state == STOPPING else "running · ") + text
    if job.state == STOPPED:
        return f"{job.message}; {kept}"
    if job.state == CANCELLED:
        return "cancelled before it started"
    if job.state == FAILED:
        return f"failed: {job.message}" + (f"; {kept}" if job.video else "")
    return f"done in {duration_text(job.elapsed(now))}"


def newest_first(control: JobControl, owner: str) -> list[Job]:
    return list(reversed(control.manager.jobs_of(owner)))


def rows(control: JobControl, jobs: list[Job]) -> list[list[Any]]:
    now = time.time()
    out = []
    for job in jobs:
        pos = control.manager.position(job)
        rate, eta = job.seconds_per_step(now), job.eta(now)
        out.append([job.id, job.spec.title, job.state, pos or "", duration_text(job.elapsed(now)) if job.started else "",
                    f"{rate:.2f}" if rate else "", duration_text(eta) if eta else "", status_line(job, pos, now)])
    return out


def build(control: JobControl) -> None:
    with gr.Accordion("Your jobs (they keep running when you close the page)", open=True, elem_id="jobs-panel"):
        table = gr.Dataframe(headers=COLUMNS, interactive=False, elem_id="jobs-table", wrap=True)
        with gr.Row():
            pick = gr.Dropdown(label="Job", choices=[], value=None, elem_id="jobs-pick", scale=3)
            cancel = gr.Button("Stop / cancel this job", elem_id="jobs-cancel", scale=1)
        status = gr.Markdown(elem_id="jobs-status")
        video = gr.Video(label="This job's video (newest partial, then the result)", interactive=False,
                         elem_id="jobs-video", height=240)
    shown = gr.State(None)  # the video path on screen, so the player is reloaded only when it changes
    timer = gr.Timer(1.0)

    def refresh(picked: str | None, on_screen: str | None, request: gr.Request):
        owner = control.owner(request)
        jobs = newest_first(control, owner)
        choices = [(f"{j.spec.title} · {j.id} · {j.state}", j.id) for j in jobs]
        ids = [j.id for j in jobs]
        picked = picked if picked in ids else (ids[0] if ids else None)
        job = next((j for j in jobs if j.id == picked), None)
        newer = next((j for j in jobs if not j.finished_state), None)  # jobs are newest first
        if job is not None and job.finished_state and newer is not None and newer.created > job.created:
            job, picked = newer, newer.id  # follow the job just started, not the one that ended
        line = ""
        new_video: Any = gr.skip()
        if job is not None:
            line = f"**{job.spec.title} `{job.id}`**: {status_line(job, control.manager.position(job), time.time())}"
            if job.video and job.video != on_screen and job.state in (RUNNING, STOPPING, DONE, STOPPED, FAILED):
                new_video, on_screen = job.video, job.video
        return rows(control, jobs), gr.update(choices=choices, value=picked), line, new_video, on_screen

    def cancel_job(picked: str | None, request: gr.Request) -> str:
        if not picked:
            raise user_error("Pick one of your jobs first.", "job")
        if not control.manager.stop(control.owner(request), job_id=picked):
            return f"Job `{picked}` is not running or queued (or is not yours)."
        return f"Stopping job `{picked}` after its current step."

    quiet = {"api_visibility": "private", "show_progress": "hidden", "concurrency_limit": None}
    timer.tick(refresh, [pick, shown], [table, pick, status, video, shown], **quiet)
    cancel.click(cancel_job, pick, status, api_name="cancel_job", show_progress="hidden", concurrency_limit=None)

    def my_jobs(request: gr.Request) -> list[list[Any]]:
        """The caller's jobs, newest first: id, task, state, position, elapsed, s/step, ETA, status."""
        return rows(control, newest_first(control, control.owner(request)))

    gr.Button(visible=False).click(my_jobs, None, table, api_name="my_jobs", concurrency_limit=None)
