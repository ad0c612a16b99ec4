"""First–last frame tab and `/first_last`: two images (or two clips to bridge) -> a video between them."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from studio.env import StudioEnv
from studio.events import PartialVideo, Preview, Progress, Result
from studio.fields import defaults
from studio.tasks import all_tasks
from studio.tasks.first_last import PRESET_OF, FirstLastRequest
from studio.ui.fields import Controls, settings_loader
from studio.ui.jobs import JobControl, job_events
from studio.ui.progress import Clock, bar_html, plan_markdown
from studio.ui.registry import TabHandle


def _plan(env: StudioEnv, method: str, resolution: str, frames: float | None, fp8: bool = False) -> str:
    preset = env.preset_for(PRESET_OF.get(method, "wan-flf2v-14b"))
    d = preset.defaults
    if resolution and resolution != "auto":
        width, height = (int(v) for v in resolution.split("x"))
    else:
        width, height = int(d.get("width", d.get("bucket", 640))), int(d.get("height", d.get("bucket", 640)))
    if method == "framepack-end":
        return plan_markdown(env, preset.id, width, height, seconds=((frames or 73) - 1) / 30, fp8=fp8)
    return plan_markdown(env, preset.id, width, height, frames=int(frames or d.get("frames", 81)), fp8=fp8)


def build(env: StudioEnv, control: JobControl) -> TabHandle:
    spec = all_tasks()["first_last"]
    c = Controls(FirstLastRequest, defaults(FirstLastRequest, env.preset_for(FirstLastRequest.defaults_preset).defaults))
    with gr.Tab("First–last frame", id="first_last"):
        gr.Markdown("Two frames → the video between them; or two clips → a transition that joins them "
                    "(A + transition + B). A flow morph preview shows the timing within seconds, before "
                    "the model runs." + (" **Tiny random weights: the model's videos are noise** (the flow "
                                         "preview is real)." if env.tiny else ""))
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    c("first_image", height=240, elem_id="fl-first")
                    c("last_image", height=240, elem_id="fl-last")
                with gr.Accordion("Bridge two clips (instead of the two frames)", open=False):
                    with gr.Row():
                        c("clip_a")
                        c("clip_b")
                c("prompt")
                c("negative_prompt")
                with gr.Row():
                    method = c("method")
                with gr.Row():
                    start = gr.Button("Generate", variant="primary", elem_id="fl-generate")
                    stop = gr.Button("Stop", elem_id="fl-stop")
                with gr.Row():
                    resolution = c("resolution")
                    frames = c("frames")
                with gr.Accordion("Advanced", open=False):
                    for name in ("steps", "guidance", "shift", "seed", "end_influence", "mp4_crf"):
                        c(name)
                    fp8 = c("fp8_transformer")
                with gr.Accordion("Memory plan", open=False):
                    plan = gr.Markdown(_plan(env, "wan-flf2v", "auto", None))
            with gr.Column():
                preview = gr.Image(label="Preview" + (" (noise: tiny weights)" if env.tiny else ""),
                                   interactive=False, height=200)
                status = gr.Markdown(elem_id="fl-status")
                bar = gr.HTML()
                morph = gr.Video(label="Instant preview: flow morph (timing only, not the model)",
                                 interactive=False, elem_id="fl-morph")
                result = gr.Video(label="Video", autoplay=True, interactive=False, elem_id="fl-result")
        assert not c.missing(), f"first-last layout misses {c.missing()}"

        def first_last(request: gr.Request, **values: Any) -> Iterator[tuple[Any, ...]]:
            clock = Clock()
            for event in job_events(spec, lambda: FirstLastRequest(**values), env, control, request):
                if isinstance(event, Progress):
                    yield gr.skip(), clock.text(event), bar_html(event.step, event.total), gr.skip(), gr.skip()
                elif isinstance(event, Preview):
                    yield event.image, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                elif isinstance(event, PartialVideo):
                    if Path(event.path).name == "preview.mp4":
                        yield gr.skip(), event.desc, gr.skip(), str(event.path), gr.skip()
                    else:
                        yield gr.skip(), event.desc, gr.skip(), gr.skip(), str(event.path)
                elif isinstance(event, Result):
                    meta = event.metadata
                    note = " (tiny random weights: noise)" if env.tiny else ""
                    yield (gr.skip(), f"Done: {meta['frames']} frames at {meta['fps']:g} fps{note} · job "
                           f"`{Path(event.video).parent.name}`", bar_html(1, 1), gr.skip(), str(event.video))

        fn, inputs = c.endpoint(first_last)
        start.click(fn, inputs_kwargs=inputs, outputs=[preview, status, bar, morph, result], api_name="first_last",
                    concurrency_limit=None, show_progress="hidden")  # followers: the job manager queues
        stop.click(control.stop_handler("first_last"), None, None, api_name="stop_first_last",
                   concurrency_limit=None, show_progress="hidden")
        for control_input in (method, resolution, frames, fp8):
            control_input.change(lambda m, r, f, q: _plan(env, m, r, f, q), [method, resolution, frames, fp8], plan,
                                 api_visibility="private")

    return TabHandle("first_last", "First–last frame", "first_last", list(c.api().values()), settings_loader(c))
