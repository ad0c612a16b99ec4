"""Builds the studio's gradio app from the tab registry."""
from __future__ import annotations

import importlib

import gradio as gr

from studio.env import StudioEnv
from studio.tasks import all_tasks
from studio.ui.jobs import JobControl
from studio.ui.registry import TabHandle
from studio.ui.tabs import models, outputs

TINY_BANNER = ("**Tiny random weights (`--tiny`)**: every model runs with random weights so the app can be "
               "tried without downloads. Generated videos are noise, not results. "
               "(Interpolation with Flow uses no weights and is real.)")


def build_app(env: StudioEnv) -> gr.Blocks:
    control = JobControl()
    with gr.Blocks(title="Frame Studio") as app:
        gr.Markdown("# Frame Studio\nLocal-first video generation with open diffusion models.")
        if env.tiny:
            gr.Markdown(TINY_BANNER, elem_id="tiny-banner")
        with gr.Tabs() as tabs:
            handles: list[TabHandle] = [importlib.import_module(spec.layout).build(env, control)
                                        for spec in all_tasks().values() if spec.layout]
            handles.append(models.build(env))
            handles.append(outputs.build(env, handles, tabs))
    app.queue(default_concurrency_limit=1, max_size=env.queue_size)
    return app
