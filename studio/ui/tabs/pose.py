"""Pose animation tab, `/pose_animate` and `/extract_pose`: a reference character + motion -> animation."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from studio.env import StudioEnv
from studio.events import PartialVideo, Preview, Progress, Result
from studio.fields import defaults
from studio.tasks import all_tasks
from studio.tasks.pose import PRESET_OF, ExtractPoseRequest, PoseRequest
from studio.ui.fields import Controls, settings_loader
from studio.ui.jobs import JobControl, job_events
from studio.ui.progress import Clock, bar_html, plan_markdown
from studio.ui.registry import TabHandle


def _plan(env: StudioEnv, method: str, size: str, resolution: str, frames: float | None, fp8: bool = False) -> str:
    preset = env.preset_for(PRESET_OF.get((method, size), "wan-vace-14b"))
    d = preset.defaults
    if resolution and resolution != "auto":
        width, height = (int(v) for v in resolution.split("x"))
    else:
        width, height = int(d.get("width", 1280)), int(d.get("height", 720))
    return plan_markdown(env, preset.id, width, height, frames=int(frames or d.get("frames", 81)), fp8=fp8)


def build(env: StudioEnv, control: JobControl) -> TabHandle:
    tasks = all_tasks()
    c = Controls(PoseRequest, defaults(PoseRequest, env.preset_for(PoseRequest.defaults_preset).defaults))
    e = Controls(ExtractPoseRequest, defaults(ExtractPoseRequest, {}))
    with gr.Tab("Pose animation", id="pose"):
        gr.Markdown("A reference character + motion (a driving video, a skeleton video or OpenPose JSON) → "
                    "an animation of that character. Poses are extracted offline on the CPU; the puppet "
                    "preview shows alignment and timing in seconds, before the model runs."
                    + (" **Tiny random weights: the model's videos are noise** (skeleton and puppet preview are "
                       "real)." if env.tiny else ""))
        with gr.Row():
            with gr.Column():
                c("reference_image", height=260, elem_id="pose-reference")
                with gr.Tabs():
                    with gr.Tab("Driving video"):
                        driving = c("driving_video", elem_id="pose-driving")
                        e.share("video", driving)
                        with gr.Row():
                            e("target")
                            e("hands")
                            e("face")
                        e("smoothing")
                        extract = gr.Button("Extract pose only", elem_id="pose-extract")
                    with gr.Tab("Skeleton video"):
                        c("skeleton_video")
                    with gr.Tab("OpenPose JSON"):
                        c("pose_json")
                c("retarget")
                c("prompt")
                c("negative_prompt")
                with gr.Row():
                    method = c("method")
                    size = c("model_size")
                with gr.Row():
                    start = gr.Button("Animate", variant="primary", elem_id="pose-generate")
                    stop = gr.Button("Stop", elem_id="pose-stop")
                with gr.Row():
                    resolution = c("resolution")
                    frames = c("frames")
                with gr.Accordion("Advanced", open=False):
                    for name in ("steps", "guidance", "shift", "seed", "control_strength", "mp4_crf"):
                        c(name)
                    fp8 = c("fp8_transformer")
                with gr.Accordion("FramePrompt weights", open=False):
                    for name in ("frameprompt_weights", "lora_strength", "causal"):
                        c(name)
                with gr.Accordion("Memory plan", open=False):
                    plan = gr.Markdown(_plan(env, "vace", "14b", "auto", None))
            with gr.Column():
                preview = gr.Image(label="Preview" + (" (noise: tiny weights)" if env.tiny else ""),
                                   interactive=False, height=200)
                status = gr.Markdown(elem_id="pose-status")
                bar = gr.HTML()
                with gr.Row():
                    skeleton = gr.Video(label="Skeleton (the model's format)", interactive=False,
                                        elem_id="pose-skeleton")
                    puppet = gr.Video(label="Instant preview: puppet (alignment and timing, not the model)",
                                      interactive=False, elem_id="pose-puppet")
                poses = gr.File(label="Poses as OpenPose JSON", interactive=False, elem_id="pose-json-out")
                result = gr.Video(label="Animation", autoplay=True, interactive=False, elem_id="pose-result")
        assert not c.missing(), f"pose layout misses {c.missing()}"
        assert not e.missing(), f"pose layout misses {e.missing()}"

        def pose_animate(request: gr.Request, **values: Any) -> Iterator[tuple[Any, ...]]:
            """Outputs: preview, status, bar, skeleton, puppet, poses JSON, animation. The last update
            repeats the skeleton, puppet and JSON paths, so an API caller gets every file at once."""
            clock = Clock()
            files: dict[str, str] = {}
            skip = gr.skip()
            for event in job_events(tasks["pose_animate"], lambda: PoseRequest(**values), env, control, request):
                if isinstance(event, Progress):
                    yield skip, clock.text(event), bar_html(event.step, event.total), skip, skip, skip, skip
                elif isinstance(event, Preview):
                    yield event.image, skip, skip, skip, skip, skip, skip
                elif isinstance(event, PartialVideo):
                    path = Path(event.path)
                    if path.name == "skeleton.mp4":
                        files["skeleton"] = str(path)
                        if path.with_name("poses.json").exists():
                            files["poses"] = str(path.with_name("poses.json"))
                    elif path.name == "preview.mp4":
                        files["puppet"] = str(path)
                    yield (skip, event.desc, skip, files.get("skeleton", skip), files.get("puppet", skip),
                           files.get("poses", skip), skip)
                elif isinstance(event, Result):
                    meta = event.metadata
                    note = " (tiny random weights: noise)" if env.tiny else ""
                    yield (skip, f"Done: {meta['frames']} frames at {meta['fps']:g} fps{note} · job "
                           f"`{Path(event.video).parent.name}`", bar_html(1, 1), files.get("skeleton"),
                           files.get("puppet"), files.get("poses"), str(event.video))

        def extract_pose(request: gr.Request, **values: Any) -> Iterator[tuple[Any, ...]]:
            clock = Clock()
            for event in job_events(tasks["extract_pose"], lambda: ExtractPoseRequest(**values), env, control,
                                    request, lane="cpu-pose"):
                if isinstance(event, Progress):
                    yield clock.text(event), bar_html(event.step, event.total), gr.skip(), gr.skip()
                elif isinstance(event, Result):
                    meta = event.metadata
                    log = "; ".join(meta.get("log") or [])
                    yield (f"Poses: {meta['frames_with_person']} of {meta['frames']} frames with a person"
                           + (f" ({log})" if log else "") + f" · job `{Path(event.video).parent.name}`",
                           bar_html(1, 1), str(event.video), meta["json"])

        fn, inputs = c.endpoint(pose_animate)
        start.click(fn, inputs_kwargs=inputs, outputs=[preview, status, bar, skeleton, puppet, poses, result],
                    api_name="pose_animate", concurrency_limit=None, show_progress="hidden")  # followers: the job manager queues
        efn, einputs = e.endpoint(extract_pose)
        extract.click(efn, inputs_kwargs=einputs, outputs=[status, bar, skeleton, poses], api_name="extract_pose",
                      concurrency_limit=None, show_progress="hidden")  # followers: the job manager queues
        stop.click(control.stop_handler("pose_animate", "extract_pose"), None, None, api_name="stop_pose",
                   concurrency_limit=None, show_progress="hidden")
        for control_input in (method, size, resolution, frames, fp8):
            control_input.change(lambda m, s, r, f, q: _plan(env, m, s, r, f, q), [method, size, resolution, frames, fp8],
                                 plan, api_visibility="private")

    return TabHandle("pose", "Pose animation", "pose_animate", list(c.api().values()), settings_loader(c))
