"""Interpolation tab and the `/interpolate` endpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from studio.env import StudioEnv
from studio.events import Preview, Progress, Result
from studio.tasks import all_tasks
from studio.tasks.interpolate import METHODS, InterpolateRequest
from studio.ui.jobs import JobControl, job_events
from studio.ui.registry import TabHandle

KEEP_DURATION = "keep duration (fps x factor)"
KEEP_FPS = "keep fps (slow motion)"


def build(env: StudioEnv, control: JobControl) -> TabHandle:
    spec = all_tasks()["interpolate"]
    with gr.Tab("Interpolation", id="interpolate") as tab:
        gr.Markdown("Make a video smoother (keep duration) or slower (keep fps). "
                    "**Flow** is weight-free and runs on the CPU; nothing to download.")
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Input video", sources=["upload"], include_audio=True)
                factor = gr.Slider(2, 16, value=2, step=1, label="Factor (output frames per input interval)")
                method = gr.Dropdown(list(METHODS), value="flow", label="Method")
                keep = gr.Radio([KEEP_DURATION, KEEP_FPS], value=KEEP_DURATION, label="Output rate")
                side = gr.Checkbox(False, label="Also make a side-by-side comparison")
                crf = gr.Slider(0, 51, value=16, step=1, label="MP4 quality (crf; 0 = lossless RGB, not browser-playable)")
                with gr.Row():
                    start = gr.Button("Interpolate", variant="primary")
                    stop = gr.Button("Stop")
            with gr.Column():
                preview = gr.Image(label="First pair: frame 0 | interpolated middle | frame 1", interactive=False)
                status = gr.Markdown()
                result = gr.Video(label="Interpolated video", interactive=False)
                comparison = gr.Video(label="Side by side (original | interpolated)", interactive=False)

        def run(video_path: str | None, factor_value: float, method_value: str, keep_duration: Any,
                side_by_side: bool = False, mp4_crf: float = 16, progress: gr.Progress = gr.Progress()):
            keep_flag = keep_duration if isinstance(keep_duration, bool) else keep_duration != KEEP_FPS

            def make() -> InterpolateRequest:
                return InterpolateRequest(video=video_path, factor=factor_value, method=method_value,
                                          keep_duration=keep_flag, side_by_side=side_by_side, mp4_crf=mp4_crf)

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
                           f"(job folder `{Path(event.video).parent.name}`)", str(event.video), sbs_path)

        start.click(run, [video, factor, method, keep, side, crf], [preview, status, result, comparison],
                    api_name="interpolate", concurrency_id="device", concurrency_limit=1)
        stop.click(lambda: control.stop() and None, None, None, api_name="stop_interpolate", queue=False)

    def load(settings: dict[str, Any], base: Path) -> list[Any]:
        video_file = base / settings["video"]
        return [str(video_file) if video_file.exists() else None, settings["factor"], settings["method"],
                KEEP_DURATION if settings.get("keep_duration", True) else KEEP_FPS,
                settings.get("side_by_side", False), settings.get("mp4_crf", 16)]

    return TabHandle("interpolate", "Interpolation", "interpolate", [video, factor, method, keep, side, crf], load)
