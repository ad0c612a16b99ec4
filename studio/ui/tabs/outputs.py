"""Outputs tab: past jobs newest first, their video and settings, and "load these settings"."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from studio.env import StudioEnv
from studio.outputs import JobRecord, list_jobs
from studio.ui.jobs import JobControl, owner_key
from studio.ui.registry import TabHandle

COLUMNS = ["job", "task", "status", "created", "frames", "noise (tiny weights)", "message"]
UNFINISHED = ("failed", "stopped", "interrupted")  # statuses whose message says why


def _rows(jobs: list[JobRecord]) -> list[list[Any]]:
    return [[j.folder.name, j.task, j.status, j.settings.get("created", ""),
             j.settings.get("result", {}).get("frames", ""), "yes" if j.noise else "",
             j.message if j.status in UNFINISHED else ""]
            for j in jobs]


def build(env: StudioEnv, tabs: list[TabHandle], tabs_container: gr.Tabs, control: JobControl) -> TabHandle:
    loaders = {t.task: t for t in tabs if t.task and t.load_settings}
    all_inputs = [c for t in loaders.values() for c in t.inputs]
    with gr.Tab("Outputs", id="outputs") as tab:
        jobs_state = gr.State([])
        with gr.Row():
            refresh = gr.Button("Refresh")
        table = gr.Dataframe(headers=COLUMNS, interactive=False, label="Past jobs (newest first)")
        with gr.Row():
            video = gr.Video(label="Video", interactive=False)
            settings_view = gr.Code(language="json", label="settings.json")
        selected = gr.State(None)
        load = gr.Button("Load these settings into their tab", variant="primary")

        def do_refresh(request: gr.Request):
            jobs = list_jobs(env.outputs)
            if env.shared:  # a shared server shows each caller their own jobs only
                mine = owner_key(control.owner(request))
                jobs = [j for j in jobs if j.settings.get("owner") == mine]
            return _rows(jobs), [str(j.folder) for j in jobs]

        def do_select(folders: list[str], evt: gr.SelectData):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            if row is None or row >= len(folders):
                return gr.skip(), gr.skip(), None
            folder = Path(folders[row])
            record = JobRecord(folder, json.loads((folder / "settings.json").read_text()))
            return (str(record.video) if record.video else None,
                    json.dumps(record.settings, indent=2, sort_keys=True), str(folder))

        def do_load(folder: str | None):
            if not folder:
                raise gr.Error("Pick a job in the table first.")
            settings = json.loads((Path(folder) / "settings.json").read_text())
            handle = loaders.get(settings.get("task"))
            if handle is None:
                raise gr.Error(f"No tab can load a {settings.get('task')!r} job.")
            values = dict(zip(handle.inputs, handle.load_settings(settings["request"], Path(folder))))
            updates = [values.get(c, gr.skip()) for c in all_inputs]
            return [*updates, gr.Tabs(selected=handle.tab_id)]

        refresh.click(do_refresh, None, [table, jobs_state], api_name="list_outputs")
        tab.select(do_refresh, None, [table, jobs_state], api_visibility="private")
        table.select(do_select, jobs_state, [video, settings_view, selected], api_visibility="private")
        load.click(do_load, selected, [*all_inputs, tabs_container], api_visibility="private")
    return TabHandle("outputs", "Outputs")
