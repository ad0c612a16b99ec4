"""Outputs tab: past jobs newest first (thumbnail, prompt, duration, resolution, status and why),
their video and settings, "load these settings", delete, and a drop zone that loads the settings
embedded in any studio-made video. On a shared server each caller sees only their own jobs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from core.errors import StudioError
from studio.env import StudioEnv
from studio.outputs import JobRecord, load_job, scan_jobs
from studio.recovery import process_alive
from studio.ui.errors import user_error
from studio.ui.jobs import JobControl, owner_key
from studio.ui.registry import TabHandle
from studio.video_meta import read_embedded_settings, thumbnail

COLUMNS = ["job", "task", "status", "created", "prompt", "duration", "resolution", "frames",
           "noise (tiny weights)", "message"]
UNFINISHED = ("failed", "stopped", "interrupted")  # statuses whose message says why
THUMBNAILS = 48  # newest jobs shown with a picture (each is made once, from the first frame)


def _prompt(job: JobRecord) -> str:
    request = job.settings.get("request")
    text = request.get("prompt", "") if isinstance(request, dict) else ""
    text = text if isinstance(text, str) else ""
    return text if len(text) <= 80 else text[:77] + "..."


def _duration(job: JobRecord) -> str:
    result = job.settings.get("result") if isinstance(job.settings.get("result"), dict) else {}
    seconds = result.get("seconds")
    if not isinstance(seconds, (int, float)) and isinstance(result.get("frames"), int) and result.get("fps"):
        seconds = result["frames"] / float(result["fps"])
    return f"{seconds:.2f} s" if isinstance(seconds, (int, float)) else ""


def _resolution(job: JobRecord) -> str:
    result = job.settings.get("result") if isinstance(job.settings.get("result"), dict) else {}
    w, h = result.get("width"), result.get("height")
    return f"{w}x{h}" if isinstance(w, int) and isinstance(h, int) else ""


def _rows(jobs: list[JobRecord]) -> list[list[Any]]:
    return [[j.folder.name, j.task, j.status, j.settings.get("created", ""), _prompt(j), _duration(j), _resolution(j),
             (j.settings.get("result") or {}).get("frames", "") if isinstance(j.settings.get("result"), dict) else "",
             "yes" if j.noise else "", j.message if j.status in UNFINISHED else ""]
            for j in jobs]


def _gallery(jobs: list[JobRecord]) -> list[tuple[str, str]]:
    items = []
    for job in jobs[:THUMBNAILS]:
        video = job.video
        thumb = thumbnail(video, job.folder / "thumbnail.jpg") if video is not None else None
        if thumb is not None:
            items.append((str(thumb), f"{job.task} · {job.status} · {job.folder.name}"))
    return items


def build(env: StudioEnv, tabs: list[TabHandle], tabs_container: gr.Tabs, control: JobControl) -> TabHandle:
    loaders = {t.task: t for t in tabs if t.task and t.load_settings}
    all_inputs = [c for t in loaders.values() for c in t.inputs]
    with gr.Tab("Outputs", id="outputs") as tab:
        jobs_state = gr.State([])
        with gr.Row():
            refresh = gr.Button("Refresh", scale=1)
            dropped = gr.File(label="Drop a Frame Studio video here to load its settings into its tab",
                              file_types=["video"], scale=3, elem_id="outputs-drop")
        note = gr.Markdown(elem_id="outputs-note")
        gallery = gr.Gallery(label="Newest jobs", columns=8, height=220, allow_preview=False,
                             elem_id="outputs-gallery")
        table = gr.Dataframe(headers=COLUMNS, interactive=False, label="Past jobs (newest first)", wrap=True)
        with gr.Row():
            video = gr.Video(label="Video", interactive=False)
            settings_view = gr.Code(language="json", label="settings.json")
        selected = gr.State(None)
        with gr.Row():
            load = gr.Button("Load these settings into their tab", variant="primary")
            delete = gr.Button("Delete this job", variant="stop", elem_id="outputs-delete")

        def mine(request: gr.Request | None) -> tuple[list[JobRecord], str]:
            scan = scan_jobs(env.outputs)
            jobs = scan.jobs
            if env.shared:  # a shared server shows each caller their own jobs only
                key = owner_key(control.owner(request))
                jobs = [j for j in jobs if j.settings.get("owner") == key]
            return jobs, scan.note() if not env.shared else ""

        def do_refresh(request: gr.Request):
            jobs, skipped = mine(request)
            return _rows(jobs), [str(j.folder) for j in jobs], _gallery(jobs), skipped

        def show(folders: list[str], row: int | None):
            if row is None or row >= len(folders):
                return gr.skip(), gr.skip(), None
            try:
                record = load_job(Path(folders[row]))
            except StudioError as err:
                raise user_error(str(err)) from None
            return (str(record.video) if record.video else None,
                    json.dumps(record.settings, indent=2, sort_keys=True), str(record.folder))

        def do_select(folders: list[str], evt: gr.SelectData):
            return show(folders, evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index)

        def into_tab(task: Any, request_values: Any, base: Path):
            handle = loaders.get(task)
            if handle is None or not isinstance(request_values, dict):
                raise user_error(f"No tab can load a {task!r} job.")
            values = dict(zip(handle.inputs, handle.load_settings(request_values, base)))
            return [*[values.get(c, gr.skip()) for c in all_inputs], gr.Tabs(selected=handle.tab_id)]

        def do_load(folder: str | None):
            if not folder:
                raise user_error("Pick a job in the table first.", "job")
            try:
                record = load_job(Path(folder))
            except StudioError as err:
                raise user_error(str(err)) from None
            return [*into_tab(record.settings.get("task"), record.settings.get("request"), record.folder), gr.skip()]

        def do_drop(path: str | None, request: gr.Request):
            if not path:
                return [*[gr.skip()] * len(all_inputs), gr.skip(), gr.skip()]
            payload = read_embedded_settings(Path(path))
            if payload is None:
                raise user_error("This video holds no Frame Studio settings (only videos the studio made carry "
                                 "them; re-encoding by other tools can drop them).", "video")
            # Media inputs are not inside the video: take them from the job's folder when it is still
            # here and the caller's, else the tab keeps its own.
            jobs, _ = mine(request)
            base = next((j.folder for j in jobs if j.folder.name == payload.get("job_id")), Path(path).parent)
            found = "its inputs too" if base != Path(path).parent else "upload its images/videos again"
            return [*into_tab(payload.get("task"), payload.get("request"), base),
                    f"Loaded the settings of job `{payload.get('job_id')}` ({found})."]

        def do_delete(folder: str | None, confirmed: bool, request: gr.Request):
            if not folder or not confirmed:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), False
            jobs, _ = mine(request)
            record = next((j for j in jobs if str(j.folder) == folder), None)
            if record is None:
                raise user_error("That job is not in your list any more; press Refresh.", "job")
            if record.status == "running" and process_alive(record.settings.get("process")):
                raise user_error("This job is still running: stop it first (Your jobs → Stop / cancel).", "job")
            shutil.rmtree(record.folder)
            rows, folders, items, skipped = do_refresh(request)
            return rows, folders, items, f"Deleted job `{record.folder.name}`.", None, None, False

        refresh.click(do_refresh, None, [table, jobs_state, gallery, note], api_name="list_outputs")
        tab.select(do_refresh, None, [table, jobs_state, gallery, note], api_visibility="private")
        table.select(do_select, jobs_state, [video, settings_view, selected], api_visibility="private")
        gallery.select(do_select, jobs_state, [video, settings_view, selected], api_visibility="private")
        load.click(do_load, selected, [*all_inputs, tabs_container, note], api_visibility="private")
        dropped.upload(do_drop, dropped, [*all_inputs, tabs_container, note], api_name="load_video_settings")
        # The browser asks first (a js-only step; the job folder itself stays on the server).
        confirmed = gr.Checkbox(False, visible=False)
        delete.click(None, None, confirmed, js="() => confirm('Delete this job and all its files?')").then(
            do_delete, [selected, confirmed], [table, jobs_state, gallery, note, video, selected, confirmed],
            api_visibility="private")
    return TabHandle("outputs", "Outputs", None)
