"""Builds the studio's gradio app from the tab registry."""
from __future__ import annotations

import importlib
import secrets
from pathlib import Path

import gradio as gr

from studio.env import StudioEnv
from studio.outputs import atomic_write_bytes
from studio.tasks import all_tasks
from studio.ui import queue_panel
from studio.ui.jobs import JobControl
from studio.ui.registry import TabHandle
from studio.ui.tabs import models, outputs

TINY_BANNER = ("**Tiny random weights (`--tiny`)**: every model runs with random weights so the app can be "
               "tried without downloads. Generated videos are noise, not results. "
               "(Interpolation with Flow uses no weights and is real.)")


def _browser_secret(env: StudioEnv) -> str:
    """The key that seals each page's owner token in its localStorage; kept beside the outputs so a
    restarted server still recognises its visitors (and their past jobs)."""
    path = env.outputs / ".browser-secret"
    try:
        return path.read_text().strip()
    except OSError:
        secret = secrets.token_hex(16)
        env.outputs.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, secret.encode())
        return secret


def build_app(env: StudioEnv, control: JobControl | None = None) -> gr.Blocks:
    control = control or JobControl(env)
    with gr.Blocks(title="Frame Studio") as app:
        gr.Markdown("# Frame Studio\nLocal-first video generation with open diffusion models.")
        if env.tiny:
            gr.Markdown(TINY_BANNER, elem_id="tiny-banner")
        token = gr.BrowserState(None, storage_key="frame-studio-owner", secret=_browser_secret(env))
        app.load(control.register_browser, token, token, api_visibility="private", queue=False)
        queue_panel.build(control)
        with gr.Tabs() as tabs:
            handles: list[TabHandle] = [importlib.import_module(spec.layout).build(env, control)
                                        for spec in all_tasks().values() if spec.layout]
            handles.append(models.build(env))
            handles.append(outputs.build(env, handles, tabs, control))
    app.queue(default_concurrency_limit=1, max_size=env.queue_size)
    return app


def serving_paths(env: StudioEnv) -> list[str]:
    """gradio's `allowed_paths`: the outputs folder on a private server (any file in it can be
    fetched by path), nothing on a shared one. gradio copies every returned file into its cache and
    serves that copy, but only moves files from the working directory, the temp directory or an
    allowed path: a shared server's outputs must live under one of the first two."""
    if not env.shared:
        return [str(env.outputs)]
    import os
    import tempfile

    roots = [Path(os.getcwd()).resolve(), Path(tempfile.gettempdir()).resolve()]
    if not any(env.outputs == r or r in env.outputs.parents for r in roots):
        raise SystemExit(f"--outputs {env.outputs}: on a shared server (--auth, --share, a Space) keep the outputs "
                         f"folder under the working directory ({roots[0]}) or {roots[1]}, so no one can fetch "
                         "another user's files by path")
    return []
