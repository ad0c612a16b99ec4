"""Long video tab (FramePack), `/long_video`, and the FramePack-compatible `/process` + `/end_process`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from studio.env import StudioEnv
from studio.events import PartialVideo, Preview, Progress, Result
from studio.tasks import all_tasks
from studio.tasks.long_video_request import MODES, SAMPLERS, LongVideoRequest
from studio.ui.compat import FramePackVideo
from studio.ui.fields import FieldDropdown, FieldImage, FieldRadio, FieldSlider, FieldVideo, api_field
from studio.ui.jobs import JobControl, job_events
from studio.ui.registry import TabHandle

BUCKETS = [320, 384, 448, 512, 544, 576, 640, 704, 768]
TINY_BUCKETS = [64, 128]

# (name, default) in FramePack's /process order; scripts written for FramePack depend on it.
PROCESS_PARAMS = ["input_image", "prompt", "n_prompt", "seed", "total_second_length", "latent_window_size",
                  "steps", "cfg", "gs", "rs", "gpu_memory_preservation", "use_teacache", "mp4_crf",
                  "end_frame", "use_random_seed", "save_section_frames"]
EXTRA_PARAMS = ["end_frame_influence", "mode", "bucket", "sampler", "teacache_threshold",
                "prompt_blend_sections", "input_video", "extend_context_frames", "fp8_transformer"]


def _bar(step: int, total: int) -> str:
    pct = 0 if total <= 0 else int(100 * step / total)
    return (f'<div style="width:100%;background:#eee;border-radius:4px"><div style="width:{pct}%;'
            f'background:#f97316;height:10px;border-radius:4px"></div></div>')


def _plan_text(env: StudioEnv, mode: str, bucket: float, seconds: float, preservation: float) -> str:
    try:
        from memory.plan import format_plan, make_plan
    except ImportError:
        return "_Memory plan: not available in this build._"
    try:
        preset = "framepack" if mode == "framepack" else "framepack-f1"
        plan = make_plan(preset, int(bucket), int(bucket), float(seconds), env.vram_gb, None,
                         gpu_memory_preservation_gb=float(preservation))
        return "```\n" + format_plan(plan) + "\n```"
    except Exception as err:  # the plan is advisory here; the job computes and stores it again
        return f"_Memory plan unavailable: {err}_"


def build(env: StudioEnv, control: JobControl) -> TabHandle:
    spec = all_tasks()["long_video"]
    defaults = env.preset_for("framepack").defaults
    buckets = (TINY_BUCKETS if env.tiny else []) + BUCKETS
    with gr.Tab("Long video", id="long_video"):
        gr.Markdown("Image (+ optional end frame) + prompt → minutes of video, section by section. "
                    "Timestamped prompts: `[0s: a cat sits] [2s-4s: the cat jumps]`."
                    + (" **Tiny random weights: the video is noise.**" if env.tiny else ""))
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    # type="filepath": our validation reads the header first (size limits, modes,
                    # corrupt files) and names the field; gradio would decode any size eagerly.
                    input_image = api_field(FieldImage(label="Start image", sources=["upload", "clipboard"],
                                                       type="filepath", height=280), "input_image")
                    with gr.Column():
                        end_frame = api_field(FieldImage(label="End frame (optional, framepack mode)",
                                                         sources=["upload", "clipboard"], type="filepath",
                                                         height=220), "end_frame")
                        end_frame_influence = api_field(FieldSlider(0.05, 1.0, value=1.0, step=0.05, label="End frame influence"), "end_frame_influence")
                prompt = gr.Textbox(label="Prompt", lines=3)
                n_prompt = gr.Textbox(label="Negative prompt (used when CFG > 1)", value="")
                with gr.Row():
                    start = gr.Button("Start generation", variant="primary")
                    stop = gr.Button("Stop", interactive=True)
                with gr.Row():
                    mode = api_field(FieldRadio(list(MODES), value="framepack",
                                    label="Mode (framepack = inverted anti-drifting; f1 = forward; extend = continue a video)"), "mode")
                    total_second_length = api_field(FieldSlider(1, 120, value=5, step=0.1, label="Video length (seconds)"), "total_second_length")
                with gr.Group(visible=False) as extend_group:
                    input_video = api_field(FieldVideo(label="Video to extend", sources=["upload"],
                                                       include_audio=True), "input_video")
                    extend_context_frames = api_field(FieldSlider(1, 64, value=16, step=1,
                                                      label="Context frames taken from the end of the video"), "extend_context_frames")
                with gr.Row():
                    seed = gr.Number(value=31337, precision=0, label="Seed")
                    use_random_seed = gr.Checkbox(False, label="Random seed (the seed used is saved)")
                with gr.Accordion("Advanced", open=False):
                    bucket = api_field(FieldDropdown(buckets, value=int(defaults.get("bucket", 640)), label="Resolution bucket"), "bucket")
                    steps = api_field(FieldSlider(1, 100, value=25, step=1, label="Steps"), "steps")
                    gs = api_field(FieldSlider(1.0, 32.0, value=10.0, step=0.01, label="Distilled CFG (gs)"), "gs")
                    cfg = api_field(FieldSlider(1.0, 32.0, value=1.0, step=0.01, label="Real CFG (cfg; 1 = off)"), "cfg")
                    rs = api_field(FieldSlider(0.0, 1.0, value=0.0, step=0.01, label="CFG rescale (rs)"), "rs")
                    latent_window_size = api_field(FieldSlider(1, 33, value=9, step=1, label="Latent window size"), "latent_window_size")
                    sampler = api_field(FieldRadio(list(SAMPLERS), value="unipc", label="Sampler"), "sampler")
                    gpu_memory_preservation = api_field(FieldSlider(0, 128, value=6, step=0.1,
                                                        label="GPU memory preservation (GB kept free)"), "gpu_memory_preservation")
                    use_teacache = gr.Checkbox(True, label="TeaCache (faster, slightly different result)")
                    teacache_threshold = api_field(FieldSlider(0.01, 0.5, value=0.15, step=0.01, label="TeaCache threshold"), "teacache_threshold")
                    prompt_blend_sections = api_field(FieldSlider(0, 8, value=0, step=1, label="Blend timestamped prompts over N sections"), "prompt_blend_sections")
                    fp8_transformer = gr.Checkbox(False, label="Store transformer weights in fp8 (half the "
                                                                "memory; slightly different result)")
                    mp4_crf = api_field(FieldSlider(0, 51, value=16, step=1, label="MP4 crf (16 default; 0 lossless, not browser-playable)"), "mp4_crf")
                    save_section_frames = gr.Checkbox(False, label="Save each section's last frame as PNG")
                with gr.Accordion("Memory plan", open=False):
                    plan = gr.Markdown(_plan_text(env, "framepack", int(defaults.get("bucket", 640)), 5, 6))
            with gr.Column():
                preview = gr.Image(label="Latent preview" + (" (noise: tiny weights)" if env.tiny else ""),
                                   interactive=False, height=200)
                desc = gr.Markdown()
                bar = gr.HTML()
                result = gr.Video(label="Video (grows after every section)", autoplay=True, interactive=False)
        compat_video = FramePackVideo(visible=False)

        inputs_by_name = {
            "input_image": input_image, "prompt": prompt, "n_prompt": n_prompt, "seed": seed,
            "total_second_length": total_second_length, "latent_window_size": latent_window_size, "steps": steps,
            "cfg": cfg, "gs": gs, "rs": rs, "gpu_memory_preservation": gpu_memory_preservation,
            "use_teacache": use_teacache, "mp4_crf": mp4_crf, "end_frame": end_frame,
            "use_random_seed": use_random_seed, "save_section_frames": save_section_frames,
            "end_frame_influence": end_frame_influence, "mode": mode, "bucket": bucket, "sampler": sampler,
            "teacache_threshold": teacache_threshold, "prompt_blend_sections": prompt_blend_sections,
            "input_video": input_video, "extend_context_frames": extend_context_frames,
            "fp8_transformer": fp8_transformer,
        }
        all_names = PROCESS_PARAMS + EXTRA_PARAMS
        all_inputs = [inputs_by_name[n] for n in all_names]

        def stream(values: dict[str, Any]) -> Iterator[tuple[Any, Any, str, str]]:
            """(video path, preview, description, bar) updates for one job."""
            total = 1
            for event in job_events(spec, lambda: LongVideoRequest(**values), env, control):
                if isinstance(event, Progress):
                    total = max(event.total, 1)
                    yield gr.skip(), gr.skip(), event.desc, _bar(event.step, total)
                elif isinstance(event, Preview):
                    yield gr.skip(), event.image, event.caption, gr.skip()
                elif isinstance(event, PartialVideo):
                    yield str(event.path), gr.skip(), event.desc, gr.skip()
                elif isinstance(event, Result):
                    note = " (tiny random weights: noise)" if env.tiny else ""
                    yield (str(event.video), gr.skip(),
                           f"Done: {event.metadata.get('frames')} frames, {event.metadata.get('seconds', 0):.2f} s"
                           f"{note} · job `{Path(event.video).parent.name}`", _bar(1, 1))

        # Parameter names and order are FramePack's: batch scripts call /process by keyword.
        def process(input_image, prompt, n_prompt, seed, total_second_length, latent_window_size, steps, cfg,
                    gs, rs, gpu_memory_preservation, use_teacache, mp4_crf, end_frame=None, use_random_seed=False,
                    save_section_frames=False):
            values = {k: v for k, v in locals().items() if k in PROCESS_PARAMS}
            values.update(mode="framepack", bucket=int(defaults.get("bucket", 640)))
            last_video = None
            for video, image, text, html in stream(values):
                last_video = video if isinstance(video, str) else last_video
                yield video, image, text, html, gr.update(interactive=False), gr.update(interactive=True)
            # Scripts read the final message only: it must carry the video (the last partial if stopped).
            yield last_video, gr.skip(), gr.skip(), gr.skip(), gr.update(interactive=True), gr.update(interactive=False)

        def long_video(input_image=None, prompt="", n_prompt="", seed=31337, total_second_length=5.0,
                       latent_window_size=9, steps=25, cfg=1.0, gs=10.0, rs=0.0, gpu_memory_preservation=6.0,
                       use_teacache=True, mp4_crf=16, end_frame=None, use_random_seed=False,
                       save_section_frames=False, end_frame_influence=1.0, mode="framepack",
                       bucket=int(defaults.get("bucket", 640)), sampler="unipc", teacache_threshold=0.15,
                       prompt_blend_sections=0, input_video=None, extend_context_frames=16,
                       fp8_transformer=False):
            yield from stream({k: v for k, v in locals().items() if k in all_names})

        start.click(long_video, all_inputs, [result, preview, desc, bar], api_name="long_video",
                    concurrency_id="device", concurrency_limit=1)
        process_trigger = gr.Button(visible=False)
        process_trigger.click(process, [inputs_by_name[n] for n in PROCESS_PARAMS],
                              [compat_video, preview, desc, bar, start, stop], api_name="process",
                              concurrency_id="device", concurrency_limit=1)
        stop.click(lambda: control.stop() and None, None, None, api_name="end_process", queue=False)
        mode.change(lambda m: gr.update(visible=m == "extend"), mode, extend_group, api_visibility="private")
        for control_input in (mode, bucket, total_second_length, gpu_memory_preservation):
            control_input.change(lambda m, b, s, p: _plan_text(env, m, b, s, p),
                                 [mode, bucket, total_second_length, gpu_memory_preservation], plan,
                                 api_visibility="private")

    def load(settings: dict[str, Any], base: Path) -> list[Any]:
        values = []
        for name in all_names:
            value = settings.get(name)
            if name in ("input_image", "end_frame", "input_video") and value:
                value = str(base / value)
            values.append(value)
        return values

    return TabHandle("long_video", "Long video", "long_video", all_inputs, load)
