"""First–last frame task: two images (or the seam between two clips) -> a video between them.

Methods (one request, a method choice):
- `wan-flf2v`: Wan2.1-FLF2V-14B-720P (models/wan), first and last image -> 81 frames at 16 fps;
- `framepack-end`: FramePack's inverted sampling with an end frame (models/framepack as it is);
- `flashi2v`: FlashI2V-1.3B (models/flashi2v), first image only.

Bridging: with two clips, the last frame of clip A and the first frame of clip B are the first and
last frames of a generated transition; the output is A + transition + B at A's frame rate. The
transition's two ends repeat A's last and B's first frame, so they are dropped: the output has
len(A) + len(transition at A's rate) - 2 + len(B) frames, and A's and B's frames pass through
unchanged (as decoded). When the model's rate differs from A's, the transition is retimed with the
interpolation tab's flow method (upsampled by the smallest integer factor that reaches A's rate,
then sampled at A's frame times); clip B is retimed the same way when its rate differs.

Before the model runs, a flow morph from the first to the last frame (the interpolation method,
no weights) is written as a preview, so the timing can be judged in seconds.

Reads top to bottom: inputs -> size -> preview -> the method's loop -> transition mp4 ->
(bridge) assembled video.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np

from core.errors import InputError
from studio.events import Event, PartialVideo, Preview, Progress, Result
from studio.fields import (
    param,
    seed_param,
    settings_of,
    validate_fields,
    values_from_settings,
)
from studio.outputs import copy_input
from studio.pump import pump
from studio.tasks.base import JobContext
from studio.tasks.placed import placed
from studio.tasks.wan_job import (
    NOISE_NOTE,
    forward_events,
    fp8_components,
    run_loop,
    save_png,
    write_video,
)
from studio.validation import as_image
from studio.video_io import Mp4Writer, iter_frames, probe_video

METHODS = ("wan-flf2v", "framepack-end", "flashi2v")
PRESET_OF = {"wan-flf2v": "wan-flf2v-14b", "framepack-end": "framepack", "flashi2v": "flashi2v-1.3b"}
TAKES_LAST_FRAME = ("wan-flf2v", "framepack-end")
RESOLUTIONS = ("auto", "1280x720", "720x1280", "960x960", "832x480", "480x832", "640x640")


@dataclass
class FirstLastRequest:
    task: ClassVar[str] = "first_last"
    defaults_preset: ClassVar[str] = "wan-flf2v-14b"

    method: str = param("wan-flf2v", "choice", "Method",
                        "wan-flf2v: Wan2.1 first-last-frame 14B (720p, 81 frames, needs its weights). "
                        "framepack-end: FramePack with an end frame (30 fps, any length). "
                        "flashi2v: FlashI2V 1.3B, first frame only (480p, 49 frames).", choices=METHODS)
    first_image: Any = param(None, "image", "First frame", "Where the video starts. Not needed when "
                             "bridging two clips (clip A's last frame is used).", optional=True, cli=("--first",))
    last_image: Any = param(None, "image", "Last frame", "Where the video ends (wan-flf2v and "
                            "framepack-end). Not needed when bridging (clip B's first frame is used).",
                            optional=True, cli=("--last",))
    clip_a: Any = param(None, "video", "Bridge: clip A", "Give two clips to generate the transition from "
                        "the end of A to the start of B; the output is A + transition + B.", optional=True)
    clip_b: Any = param(None, "video", "Bridge: clip B", "The clip the transition leads into.", optional=True)
    prompt: str = param("", "text", "Prompt", "What happens between the two frames.", lines=3)
    negative_prompt: str = param("", "text", "Negative prompt", "What to avoid (used when guidance is above 1).")
    resolution: str = param("auto", "choice", "Resolution",
                            "auto: the model's size in the first frame's orientation (1280x720 for "
                            "wan-flf2v, 832x480 for flashi2v, FramePack's 640 bucket). Images are resized "
                            "and centre-cropped to it.", choices=RESOLUTIONS)
    frames: int | None = param(None, "int", "Frames", "Length in frames; empty: the model's (81 at 16 fps for "
                               "wan-flf2v, 49 for flashi2v). Wan models need 4k+1 frames.", min=5, max=241,
                               step=4, optional=True, fix="use 4k+1 frames from 5 to 241, e.g. 81")
    steps: int | None = param(None, "int", "Steps", "Denoising steps; empty: the model's (50 for Wan and "
                              "FlashI2V, 25 for FramePack). Fewer is faster and rougher.", min=1, max=100, step=1,
                              optional=True)
    guidance: float | None = param(None, "float", "Guidance", "How strongly the video follows the prompt; "
                                   "empty: the model's (5 for Wan and FlashI2V; FramePack's distilled gs 10).",
                                   min=1.0, max=20.0, step=0.1, optional=True)
    shift: float | None = param(None, "float", "Shift", "The noise schedule's shift; empty: the model's (16 "
                                "for FLF2V, 7 for FlashI2V). Higher spends more steps on coarse motion.",
                                min=0.5, max=30.0, step=0.5, optional=True)
    seed: int = seed_param(0)
    end_influence: float = param(1.0, "float", "End frame influence (framepack-end)",
                                 "1 reaches the last frame exactly; lower gives a looser ending.",
                                 min=0.05, max=1.0, step=0.05, fix="use a value in [0.05, 1], 1 = full")
    fp8_transformer: bool = param(False, "bool", "Store transformer weights in fp8",
                                  "Half the transformer's RAM and streamed VRAM (FLF2V-14B at 720p in 16 GB of RAM "
                                  "re-reads 1.9 instead of 19 GB from disk per step); slightly different result.",
                                  cli=("--fp8",))
    mp4_crf: int = param(16, "int", "MP4 crf (16 default; 0 lossless, not browser-playable)",
                         "x264 quality: lower is better and larger. 0 keeps bridged clips' frames exact.",
                         min=0, max=51, step=1)

    @classmethod
    def add_cli_extras(cls, parser: Any) -> None:
        parser.add_argument("--bridge", nargs=2, metavar=("A.mp4", "B.mp4"), default=None,
                            help="bridge two clips: the same as --clip-a A.mp4 --clip-b B.mp4")

    @classmethod
    def from_cli(cls, values: dict[str, Any], args: Any) -> dict[str, Any]:
        bridge = getattr(args, "bridge", None)
        return {**values, "clip_a": bridge[0], "clip_b": bridge[1]} if bridge else values

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.frames is not None and self.method != "framepack-end" and (self.frames - 1) % 4:
            raise InputError("frames", f"{self.frames} frames", f"{self.method} needs 4k + 1 frames, e.g. "
                             f"{(self.frames - 1) // 4 * 4 + 1} or {(self.frames - 1) // 4 * 4 + 5}")
        self.bridge = bool(self.clip_a) or bool(self.clip_b)
        if self.bridge:
            if not (self.clip_a and self.clip_b):
                missing = "clip_b" if self.clip_a else "clip_a"
                raise InputError(missing, "bridging needs two clips", "give both clip A and clip B, or neither")
            if self.method not in TAKES_LAST_FRAME:
                raise InputError("method", f"{self.method} has no last-frame conditioning, so it cannot bridge",
                                 f"use one of: {', '.join(TAKES_LAST_FRAME)}")
            self.info_a = probe_video(self.clip_a, field="clip_a")
            self.info_b = probe_video(self.clip_b, field="clip_b")
            self.clip_a, self.clip_b = str(self.clip_a), str(self.clip_b)
            self.first_array, self.last_array = None, None
            return
        self.first_array = as_image("first_image", self.first_image, required=True)
        self.last_array = as_image("last_image", self.last_image, required=self.method in TAKES_LAST_FRAME)
        if self.last_array is not None and self.method not in TAKES_LAST_FRAME:
            raise InputError("last_image", f"{self.method} generates from a first frame only",
                             f"remove the last frame, or use one of: {', '.join(TAKES_LAST_FRAME)}")

    @property
    def preset_id(self) -> str:
        return PRESET_OF[self.method]

    def to_settings(self, job_dir: Path) -> dict[str, Any]:
        data = settings_of(self)
        for name, array in (("first_image", self.first_array), ("last_image", self.last_array)):
            data[name] = None
            if array is not None:
                save_png(array, job_dir / f"{name}.png")
                data[name] = f"{name}.png"
        for name in ("clip_a", "clip_b"):
            if data[name]:
                data[name] = copy_input(data[name], job_dir, name)
        return data

    @classmethod
    def from_settings(cls, data: dict[str, Any], base_dir: Path) -> "FirstLastRequest":
        return cls(**values_from_settings(cls, data, base_dir))


# ------------------------------------------------------------------------------------------ task


def run_first_last(req: FirstLastRequest, ctx: JobContext) -> Iterator[Event]:
    note = NOISE_NOTE if ctx.env.tiny else ""
    defaults = ctx.env.preset_for(req.preset_id).defaults
    first, last = (_edge_frame(req.clip_a, last=True), _edge_frame(req.clip_b, last=False)) if req.bridge \
        else (req.first_array, req.last_array)
    width, height = _size(req, first, defaults)
    fps = float(defaults.get("fps", 16))
    frames = req.frames or int(defaults.get("frames", 81))
    if req.method == "framepack-end":
        frames = req.frames or 4 * int(defaults.get("latent_window_size", 9)) * 2 + 1
    from models.imaging import resize_and_center_crop

    first = resize_and_center_crop(first, height, width)
    last = resize_and_center_crop(last, height, width) if last is not None else None
    ctx.record["first_last"] = {"method": req.method, "width": width, "height": height, "frames": frames,
                                "fps": fps, "bridge": req.bridge}

    if last is not None:  # the instant preview: seconds, no weights
        yield from _flow_preview(ctx, first, last, frames, fps)

    yield Progress(0, 1, f"loading {req.method}")
    run = _run_framepack if req.method == "framepack-end" else _run_wan
    video = yield from forward_events(run(req, ctx, first, last, width, height, frames, note))
    fps = ctx.record["first_last"]["fps"]
    transition = ctx.job_dir / ("transition.mp4" if req.bridge else "video.mp4")
    write_video(transition, video, fps, req.mp4_crf)
    if not req.bridge:
        yield Result(transition, {"frames": int(video.shape[0]), "fps": fps, "seconds": video.shape[0] / fps,
                                  "method": req.method, "tiny_weights": ctx.env.tiny})
        return
    yield PartialVideo(transition, int(video.shape[0]), f"transition: {video.shape[0]} frames at {fps:g} fps{note}")
    final = ctx.job_dir / "video.mp4"
    count, out_fps = _assemble_bridge(req, video, fps, final)
    ctx.record["first_last"].update(output_frames=count, output_fps=out_fps)
    yield Result(final, {"frames": count, "fps": out_fps, "seconds": count / out_fps, "method": req.method,
                         "transition": transition.name, "tiny_weights": ctx.env.tiny})


def _size(req: FirstLastRequest, image: np.ndarray, defaults: dict[str, Any]) -> tuple[int, int]:
    """(width, height): the chosen resolution, or the model's in the image's orientation."""
    if req.resolution != "auto":
        width, height = (int(v) for v in req.resolution.split("x"))
        return width, height
    if req.method == "framepack-end":
        from models.framepack.buckets import nearest_bucket

        height, width = nearest_bucket(image.shape[0], image.shape[1], int(defaults.get("bucket", 640)))
        return width, height
    width, height = int(defaults.get("width", 1280)), int(defaults.get("height", 720))
    portrait = image.shape[0] > image.shape[1]
    return (min(width, height), max(width, height)) if portrait else (max(width, height), min(width, height))


def _edge_frame(video: str, last: bool) -> np.ndarray:
    frame = None
    for frame in iter_frames(video):
        if not last:
            return frame.copy()
    if frame is None:
        raise InputError("clip_a" if last else "clip_b", "has no frames", "give a video that plays")
    return frame.copy()


def flow_morph(first: np.ndarray, last: np.ndarray, frames: int) -> list[np.ndarray]:
    """`frames` frames from `first` to `last` by the flow interpolator (at most x16 per pass, so
    passes are chained: 80 intervals = 16 x 5), sampled uniformly when the product overshoots."""
    from studio.interpolation.flow import interpolate_stream

    dense = [first, last]
    while len(dense) - 1 < frames - 1:
        factor = min(16, math.ceil((frames - 1) / (len(dense) - 1)))
        dense = list(interpolate_stream(dense, max(2, factor)))
    picks = [round(i * (len(dense) - 1) / (frames - 1)) for i in range(frames)]
    return [dense[i] for i in picks]


def _flow_preview(ctx: JobContext, first: np.ndarray, last: np.ndarray, frames: int, fps: float) -> Iterator[Event]:
    path = ctx.job_dir / "preview.mp4"
    write_video(path, flow_morph(first, last, frames), fps, 23)
    ctx.record["preview"] = path.name
    yield PartialVideo(path, frames, f"Preview: a flow morph from the first to the last frame ({frames} frames "
                                     f"at {fps:g} fps) — not the model's video, only its timing")


# The Wan-layer methods: (loader, loop, the plan's run options) as import paths.
WAN_LOOPS = {
    "wan-flf2v": ("models.wan.loading:load_components", "models.wan.pipeline:generate",
                  "models.wan.profile:run_options"),
    "flashi2v": ("models.flashi2v.loading:load_components", "models.flashi2v.pipeline:generate",
                 "models.flashi2v.memory:run_options"),
}


def _run_wan(req: FirstLastRequest, ctx: JobContext, first: np.ndarray, last: np.ndarray | None, width: int,
             height: int, frames: int, note: str) -> Iterator[Any]:
    """Wan2.1-FLF2V (first + last frame) or FlashI2V (first frame): one Wan-layer loop in the pump."""
    from models.registry import resolve_path
    from models.wan.pipeline import WanParams

    load_components, generate, run_options = (resolve_path(path) for path in WAN_LOOPS[req.method])
    with placed(ctx, req.preset_id, load_components, width=width, height=height, frames=frames,
                fp8=fp8_components(req)) as job:
        d = job.preset.defaults
        params = WanParams(prompt=req.prompt, negative_prompt=req.negative_prompt, width=width, height=height,
                           frames=frames, steps=req.steps or int(d.get("steps", 50)),
                           guidance=req.guidance or float(d.get("guidance", 5.0)),
                           shift=req.shift or (float(d["shift"]) if "shift" in d else None), seed=req.seed,
                           image=first, last_image=last, **run_options(job.plan))
        yield from run_loop(job, generate, params, ctx, f"{req.method}{note}")


def _run_framepack(req: FirstLastRequest, ctx: JobContext, first: np.ndarray, last: np.ndarray | None, width: int,
                   height: int, frames: int, note: str) -> Iterator[Any]:
    """FramePack's end-frame mode as it is: sections at 30 fps; the last section's video is the result."""
    from memory import attention_backend
    from models.framepack.loading import load_components
    from models.framepack.pipeline import (
        FramePackParams,
        SectionOutput,
        StepInfo,
        generate,
    )
    from models.framepack.schedule import section_count

    d = ctx.env.preset_for(req.preset_id).defaults
    window = int(d.get("latent_window_size", 9))
    seconds = max((frames - 1) / 30.0, 1.0 / 30)
    sections = section_count(seconds, window, 30)
    steps = req.steps or int(d.get("steps", 25))
    ctx.record["first_last"].update(fps=30.0, frames=sections * 4 * window + 1)
    params = FramePackParams(variant="inverted", image=first, prompt=req.prompt, negative_prompt=req.negative_prompt,
                             end_image=last, end_influence=req.end_influence, seed=req.seed, seconds=seconds,
                             latent_window_size=window, steps=steps, gs=req.guidance or float(d.get("gs", 10.0)),
                             bucket=int(d.get("bucket", 640)), shift=req.shift)
    with placed(ctx, req.preset_id, load_components, width=width, height=height, seconds=seconds, window=window,
                fp8=fp8_components(req)) as job:

        def work(emit: Callable[[Any], None]) -> Iterator[Any]:
            with attention_backend(job.attention_backend):
                yield from generate(job.placement, params, on_step=emit, should_stop=ctx.should_stop)

        video = None
        for item in pump(work):
            if isinstance(item, StepInfo):
                done = item.section * steps + item.step
                yield Progress(done, sections * steps,
                               f"framepack-end{note}: section {item.section + 1}/{sections}, step {item.step}")
                if item.preview is not None:
                    yield Preview(item.preview, f"section {item.section + 1}, step {item.step}{note}")
            elif isinstance(item, SectionOutput):
                video = np.array(item.frames)  # the whole video so far (inverted: grows backwards)
                path = ctx.job_dir / f"partial_{item.section + 1:03d}.mp4"
                write_video(path, video, 30.0, req.mp4_crf)
                yield PartialVideo(path, video.shape[0], f"section {item.section + 1}/{sections}{note}")
    yield video


# ------------------------------------------------------------------------------------------ bridging


def retime(frames: list[np.ndarray], source_fps: float, target_fps: float) -> list[np.ndarray]:
    """Frames at `target_fps` covering the same time span: upsampled with the flow interpolator by
    the smallest integer factor that reaches the target rate, then sampled at the target's frame
    times (nearest). The first and last frames are kept exactly."""
    if abs(source_fps - target_fps) / target_fps < 1e-3 or len(frames) < 2:
        return list(frames)
    factor = max(1, math.ceil(target_fps / source_fps - 1e-9))
    if factor > 1:
        from studio.interpolation.flow import interpolate_stream

        dense = list(interpolate_stream(frames, min(factor, 16)))
        rate = source_fps * min(factor, 16)
    else:
        dense, rate = list(frames), source_fps
    duration = (len(frames) - 1) / source_fps
    count = int(round(duration * target_fps)) + 1
    picks = [min(len(dense) - 1, int(round(i / target_fps * rate))) for i in range(count)]
    picks[-1] = len(dense) - 1
    return [dense[i] for i in picks]


def _assemble_bridge(req: FirstLastRequest, transition: np.ndarray, fps: float, path: Path) -> tuple[int, float]:
    """A + transition (without its two ends, which repeat A's last and B's first frame) + B, at A's rate."""
    out_fps = req.info_a.fps
    middle = retime(list(transition), fps, out_fps)[1:-1]
    b_frames = list(iter_frames(req.clip_b))
    if abs(req.info_b.fps - out_fps) / out_fps >= 1e-3:
        b_frames = retime(b_frames, req.info_b.fps, out_fps)
    count = 0
    from models.imaging import resize_and_center_crop

    with Mp4Writer(path, out_fps, req.mp4_crf) as writer:
        for frame in iter_frames(req.clip_a):
            writer.write(frame)
            count += 1
        a_shape = frame.shape[:2]
        for frame in middle:  # the transition at A's size, so the three parts join
            writer.write(frame if frame.shape[:2] == a_shape else resize_and_center_crop(frame, *a_shape))
            count += 1
        for frame in b_frames:
            writer.write(frame if frame.shape[:2] == a_shape else resize_and_center_crop(frame, *a_shape))
            count += 1
    return count, out_fps
