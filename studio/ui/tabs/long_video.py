"""Long video tab (FramePack), `/long_video`, and the FramePack-compatible `/process` + `/end_process`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from studio.env import StudioEnv
from studio.events import PartialVideo, Preview, Progress, Result
from studio.fields import defaults
from studio.tasks import all_tasks
from studio.tasks.long_video_request import LongVideoRequest, planned_length_text
from studio.ui.compat import FramePackVideo
from studio.ui.fields import Controls, settings_loader
from studio.ui.jobs import JobControl, job_events
from studio.ui.progress import Clock, bar_html, plan_markdown
from studio.ui.registry import TabHandle

BUCKETS = [320, 384, 448, 512, 544, 576, 640, 704, 768]
TINY_BUCKETS = [64, 128]

# FramePack's /process parameters in its order (scripts written for FramePack depend on it); they
# are the first fields LongVideoRequest declares, with FramePack's defaults.
PROCESS_PARAMS = ["input_image", "prompt", "n_prompt", "seed", "total_second_length", "latent_window_size",
                  "steps", "cfg", "gs", "rs", "gpu_memory_preservation", "use_teacache", "mp4_crf",
                  "end_frame", "use_random_seed", "save_section_frames"]


def _plan_text(env: StudioEnv, mode: str, bucket: float, seconds: float, preservation: float) -> str:
    preset = "framepack" if mode == "framepack" else "framepack-f1"
    return plan_markdown(env, preset, int(bucket), int(bucket), seconds=float(seconds), preservation=preservation)


def build(env: StudioEnv, control: JobControl) -> TabHandle:
    spec = all_tasks()["long_video"]
    preset_defaults = env.preset_for(LongVideoRequest.defaults_preset).defaults
    c = Controls(LongVideoRequest, defaults(LongVideoRequest, preset_defaults))
    buckets = (TINY_BUCKETS if env.tiny else []) + BUCKETS
    with gr.Tab("Long video", id="long_video"):
        gr.Markdown("Image (+ optional end frame) + prompt → minutes of video, section by section. "
                    "Timestamped prompts: `[0s: a cat sits] [2s-4s: the cat jumps]`."
                    + (" **Tiny random weights: the video is noise.**" if env.tiny else ""))
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    c("input_image", height=280, elem_id="lv-image")
                    with gr.Column():
                        c("end_frame", height=220)
                        c("end_frame_influence")
                c("prompt")
                c("n_prompt")
                with gr.Row():
                    start = gr.Button("Start generation", variant="primary", elem_id="lv-start")
                    stop = gr.Button("Stop", interactive=True, elem_id="lv-stop")
                with gr.Row():
                    mode = c("mode")
                    c("total_second_length")
                real_length = gr.Markdown(planned_length_text(  # whole sections: 5 s runs as 4.83 s
                    c.defaults["total_second_length"], c.defaults["latent_window_size"], c.defaults["mode"]))
                with gr.Group(visible=False) as extend_group:
                    c("input_video")
                    c("extend_context_frames")
                with gr.Row():
                    c("seed")
                    c("use_random_seed")
                with gr.Accordion("Advanced", open=False):
                    c("bucket", choices=buckets)
                    for name in ("steps", "gs", "cfg", "rs", "latent_window_size", "sampler",
                                 "gpu_memory_preservation", "use_teacache", "teacache_threshold",
                                 "prompt_blend_sections", "fp8_transformer", "mp4_crf", "save_section_frames"):
                        c(name)
                with gr.Accordion("Memory plan", open=False):
                    plan = gr.Markdown(_plan_text(env, "framepack", c.defaults["bucket"], 5, 6))
            with gr.Column():
                preview = gr.Image(label="Latent preview" + (" (noise: tiny weights)" if env.tiny else ""),
                                   interactive=False, height=320, elem_id="lv-preview")
                desc = gr.Markdown(elem_id="lv-status")
                bar = gr.HTML()
                result = gr.Video(label="Video (grows after every section)", autoplay=True, interactive=False,
                                  elem_id="lv-result")
        compat_video = FramePackVideo(visible=False)
        assert not c.missing(), f"long-video layout misses {c.missing()}"

        def stream(values: dict[str, Any], request: gr.Request) -> Iterator[tuple[Any, Any, str, str]]:
            """(video path, preview, description, bar) updates for one job."""
            clock = Clock()
            for event in job_events(spec, lambda: LongVideoRequest(**values), env, control, request):
                if isinstance(event, Progress):
                    yield gr.skip(), gr.skip(), clock.text(event), bar_html(event.step, event.total)
                elif isinstance(event, Preview):
                    yield gr.skip(), event.image, event.caption, gr.skip()
                elif isinstance(event, PartialVideo):
                    yield str(event.path), gr.skip(), event.desc, gr.skip()
                elif isinstance(event, Result):
                    note = " (tiny random weights: noise)" if env.tiny else ""
                    yield (str(event.video), gr.skip(),
                           f"Done: {event.metadata.get('frames')} frames, {event.metadata.get('seconds', 0):.2f} s"
                           f"{note} · job `{Path(event.video).parent.name}`", bar_html(1, 1))

        def process(request: gr.Request, **values: Any):
            """FramePack's /process: its parameter names and order, mapped onto the long-video request."""
            values.update(mode="framepack", bucket=c.defaults["bucket"])
            last_video = None
            for video, image, text, html in stream(values, request):
                last_video = video if isinstance(video, str) else last_video
                yield video, image, text, html, gr.update(interactive=False), gr.update(interactive=True)
            # Scripts read the final message only: it must carry the video (the last partial if stopped).
            yield last_video, gr.skip(), gr.skip(), gr.skip(), gr.update(interactive=True), gr.update(interactive=False)

        def long_video(request: gr.Request, **values: Any):
            yield from stream(values, request)

        fn, inputs = c.endpoint(long_video)
        start.click(fn, inputs_kwargs=inputs, outputs=[result, preview, desc, bar], api_name="long_video",
                    concurrency_limit=None, show_progress="hidden")  # followers: the job manager queues
        process_trigger = gr.Button(visible=False)
        fn, inputs = c.endpoint(process, PROCESS_PARAMS)
        process_trigger.click(fn, inputs_kwargs=inputs,
                              outputs=[compat_video, preview, desc, bar, start, stop], api_name="process",
                              concurrency_limit=None, show_progress="hidden")  # followers: the job manager queues
        stop.click(control.stop_handler("long_video"), None, None, api_name="end_process",
                   concurrency_limit=None, show_progress="hidden")
        mode.change(lambda m: gr.update(visible=m == "extend"), mode, extend_group, api_visibility="private")
        length_inputs = [c.made[n] for n in ("total_second_length", "latent_window_size", "mode")]
        for length_input in length_inputs:
            length_input.change(planned_length_text, length_inputs, real_length, api_visibility="private",
                                show_progress="hidden", preprocess=False)  # a bad value is shown, not raised
        planned = [c.made[n] for n in ("mode", "bucket", "total_second_length", "gpu_memory_preservation")]
        for control_input in planned:
            control_input.change(lambda m, b, s, p: _plan_text(env, m, b, s, p), planned, plan,
                                 api_visibility="private")

    return TabHandle("long_video", "Long video", "long_video", list(c.api().values()), settings_loader(c))
