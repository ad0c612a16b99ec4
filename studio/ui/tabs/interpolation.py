"""Interpolation tab and the `/interpolate` endpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from studio.env import StudioEnv
from studio.events import Preview, Progress, Result
from studio.fields import defaults
from studio.tasks import all_tasks
from studio.tasks.interpolate import InterpolateRequest, default_method
from studio.ui.fields import Controls, settings_loader
from studio.ui.jobs import JobControl, job_events
from studio.ui.progress import Clock
from studio.ui.registry import TabHandle


def build(env: StudioEnv, control: JobControl) -> TabHandle:
    spec = all_tasks()["interpolate"]
    preset_defaults = env.preset_for(InterpolateRequest.defaults_preset).defaults
    # rife is the default once its weights are here; flow needs nothing.
    c = Controls(InterpolateRequest, {**defaults(InterpolateRequest, preset_defaults), "method": default_method(env)})
    with gr.Tab("Interpolation", id="interpolate"):
        gr.Markdown("Make a video smoother (keep duration) or slower (keep fps). "
                    "**flow** is weight-free and runs on the CPU; nothing to download. "
                    "**rife** (learned, 25 MB) is the default once its weights are here. "
                    "**ldf-vfi** is a diffusion interpolator (weights: see the Models tab)"
                    + (" — with `--tiny` its new frames are noise." if env.tiny else "."))
        with gr.Row():
            with gr.Column():
                for name in ("video", "factor", "target_fps", "method", "keep_duration", "detect_cuts", "cut_fill",
                             "side_by_side"):
                    c(name)
                with gr.Accordion("Model method settings (ldf-vfi)", open=False):
                    for name in ("seed", "steps", "shift"):
                        c(name)
                c("mp4_crf")
                with gr.Row():
                    start = gr.Button("Interpolate", variant="primary")
                    stop = gr.Button("Stop")
            with gr.Column():
                preview = gr.Image(label="First pair: frame 0 | interpolated middle | frame 1", interactive=False)
                status = gr.Markdown()
                result = gr.Video(label="Interpolated video", interactive=False)
                comparison = gr.Video(label="Side by side (original | interpolated)", interactive=False)
        assert not c.missing(), f"interpolation layout misses {c.missing()}"

        # Parameter names are the public API of /interpolate (gradio_client keyword arguments); its four
        # outputs are too (scripts unpack preview, status, video, side_by_side), so progress is status text.
        def interpolate(request: gr.Request, **values: Any):
            shown = None
            clock = Clock()
            for event in job_events(spec, lambda: InterpolateRequest(**values), env, control, request):
                if isinstance(event, Progress):
                    yield gr.skip(), clock.text(event), gr.skip(), gr.skip()
                elif isinstance(event, Preview):
                    shown = event.image
                    yield shown, event.caption, gr.skip(), gr.skip()
                elif isinstance(event, Result):
                    sbs = event.metadata.get("side_by_side")
                    sbs_path = str(Path(event.video).parent / sbs) if sbs else None
                    noise = event.metadata.get("noise")  # decided once, by the task (flow is never noise)
                    yield (shown if shown is not None else gr.skip(),
                           f"Done: {event.metadata['frames']} frames at {event.metadata['fps']:g} fps "
                           f"(job folder `{Path(event.video).parent.name}`)"
                           + (" — tiny random weights: the new frames are noise" if noise else ""),
                           str(event.video), sbs_path)

        fn, inputs = c.endpoint(interpolate)
        start.click(fn, inputs_kwargs=inputs, outputs=[preview, status, result, comparison],
                    api_name="interpolate", concurrency_limit=None, show_progress="hidden")
        stop.click(control.stop_handler("interpolate"), None, None, api_name="stop_interpolate",
                   concurrency_limit=None, show_progress="hidden")

    return TabHandle("interpolate", "Interpolation", "interpolate", list(c.api().values()), settings_loader(c))
