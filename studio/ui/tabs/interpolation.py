"""Interpolation tab and the `/interpolate` endpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from studio.env import StudioEnv
from studio.events import Preview, Progress, Result
from studio.tasks import all_tasks
from studio.tasks.interpolate import METHODS, InterpolateRequest
from studio.ui.fields import FieldDropdown, FieldSlider, FieldVideo, api_field
from studio.ui.jobs import JobControl, job_events
from studio.ui.registry import TabHandle



def build(env: StudioEnv, control: JobControl) -> TabHandle:
    spec = all_tasks()["interpolate"]
    with gr.Tab("Interpolation", id="interpolate"):
        gr.Markdown("Make a video smoother (keep duration) or slower (keep fps). "
                    "**flow** is weight-free and runs on the CPU; nothing to download. "
                    "**ldf-vfi** is a diffusion interpolator (weights: see the Models tab)"
                    + (" — with `--tiny` its new frames are noise." if env.tiny else "."))
        with gr.Row():
            with gr.Column():
                video_in = api_field(FieldVideo(label="Input video", sources=["upload"], include_audio=True), "video")
                factor_in = api_field(FieldSlider(2, 16, value=2, step=1, label="Factor (output frames per input interval)"), "factor")
                method_in = api_field(FieldDropdown(list(METHODS), value="flow", label="Method"), "method")
                keep_in = gr.Checkbox(True, label="Keep duration (fps x factor); untick for slow motion (keep fps)")
                side_in = gr.Checkbox(False, label="Also make a side-by-side comparison")
                with gr.Accordion("Model method settings (ldf-vfi)", open=False):
                    seed_in = gr.Number(0, precision=0, label="Seed")
                    steps_in = api_field(FieldSlider(1, 100, value=16, step=1, label="Steps"), "steps")
                    shift_in = api_field(FieldSlider(0.5, 20, value=8, step=0.5, label="Shift"), "shift")
                crf_in = api_field(FieldSlider(0, 51, value=16, step=1, label="MP4 quality (crf; 0 = lossless RGB, not browser-playable)"), "mp4_crf")
                with gr.Row():
                    start = gr.Button("Interpolate", variant="primary")
                    stop = gr.Button("Stop")
            with gr.Column():
                preview = gr.Image(label="First pair: frame 0 | interpolated middle | frame 1", interactive=False)
                status = gr.Markdown()
                result = gr.Video(label="Interpolated video", interactive=False)
                comparison = gr.Video(label="Side by side (original | interpolated)", interactive=False)

        # Parameter names are the public API of /interpolate (gradio_client keyword arguments).
        def interpolate(video: str | None, factor: float = 2, method: str = "flow", keep_duration: bool = True,
                        side_by_side: bool = False, mp4_crf: float = 16, seed: float = 0, steps: float = 16,
                        shift: float = 8.0, progress: gr.Progress = gr.Progress()):

            def make() -> InterpolateRequest:
                return InterpolateRequest(video=video, factor=factor, method=method, keep_duration=keep_duration,
                                          side_by_side=side_by_side, mp4_crf=mp4_crf, seed=seed, steps=steps,
                                          shift=shift)

            shown = None
            for event in job_events(spec, make, env, control):
                if isinstance(event, Progress):
                    progress((event.step, event.total), desc=event.desc)
                    yield gr.skip(), f"{event.step} / {event.total} pairs", gr.skip(), gr.skip()
                elif isinstance(event, Preview):
                    shown = event.image
                    yield shown, event.caption, gr.skip(), gr.skip()
                elif isinstance(event, Result):
                    sbs = event.metadata.get("side_by_side")
                    sbs_path = str(Path(event.video).parent / sbs) if sbs else None
                    yield (shown if shown is not None else gr.skip(),
                           f"Done: {event.metadata['frames']} frames at {event.metadata['fps']:g} fps "
                           f"(job folder `{Path(event.video).parent.name}`)"
                           + (" — tiny random weights: the new frames are noise" if env.tiny and method != "flow" else ""),
                           str(event.video), sbs_path)

        start.click(interpolate, [video_in, factor_in, method_in, keep_in, side_in, crf_in, seed_in, steps_in, shift_in], [preview, status, result, comparison],
                    api_name="interpolate", concurrency_id="device", concurrency_limit=1)
        stop.click(lambda: control.stop() and None, None, None, api_name="stop_interpolate", queue=False)

    def load(settings: dict[str, Any], base: Path) -> list[Any]:
        video_file = base / settings["video"]
        return [str(video_file) if video_file.exists() else None, settings["factor"], settings["method"],
                settings.get("keep_duration", True),
                settings.get("side_by_side", False), settings.get("mp4_crf", 16), settings.get("seed", 0),
                settings.get("steps") or 16, settings.get("shift") or 8.0]

    return TabHandle("interpolate", "Interpolation", "interpolate",
                     [video_in, factor_in, method_in, keep_in, side_in, crf_in, seed_in, steps_in, shift_in], load)
