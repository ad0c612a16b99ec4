"""Long video task: FramePack section by section, an mp4 after every section, stop keeps them.

Reads top to bottom: resolve weights -> memory plan -> load (cached) -> place -> sections ->
partial mp4 per section -> final video.
"""
from __future__ import annotations

import collections
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from studio.events import Event, PartialVideo, Preview, Progress, Result
from studio.outputs import atomic_save_png
from studio.pump import pump
from studio.tasks.base import JobContext
from studio.tasks.long_video_request import LongVideoRequest
from studio.tasks.placed import placed
from studio.video_io import Mp4Writer, VideoInfo, iter_frames, probe_video

FPS = 30
NOISE_NOTE = " (tiny random weights: noise)"


@dataclass(frozen=True)
class _Extend:
    """The video being extended: the output starts with all of its own frames, at its own size and
    rate; the model works on its end squeezed to the bucket at 30 fps."""

    video: str
    info: VideoInfo
    context: int  # leading frames of the model's video that are this video's end (not written twice)


def _context_frames(video: str, count: int, size: tuple[int, int]) -> np.ndarray:
    """The last `count` frames at `size` (width, height) and the model's 30 fps. ffmpeg scales while
    decoding and seeks to the end first, so a 4K input never reaches Python at 4K. Squeezed, not
    cropped: the continuation then maps back onto the whole picture."""
    tail: collections.deque[np.ndarray] = collections.deque(maxlen=count)
    tail.extend(iter_frames(video, size=size, fps=FPS, tail_seconds=(count + 2) / FPS))
    if not tail:  # a container without a known duration cannot seek from its end
        tail.extend(iter_frames(video, size=size, fps=FPS))
    return np.stack(list(tail))


def _continuation(frames: np.ndarray, info: VideoInfo) -> Iterator[np.ndarray]:
    """Generated 30 fps frames at the input's size and rate: nearest frame in time (so motion keeps
    its speed at 24 or 60 fps) and a plain resize (the inverse of the squeeze to the bucket)."""
    from PIL import Image

    count = max(1, round(frames.shape[0] * info.fps / FPS)) if frames.shape[0] else 0
    for j in range(count):
        frame = frames[min(frames.shape[0] - 1, int(j * FPS / info.fps + 0.5))]
        if frame.shape[:2] != (info.height, info.width):
            frame = np.asarray(Image.fromarray(frame).resize((info.width, info.height), Image.LANCZOS))
        yield frame


def _write_video(path: Path, frames: np.ndarray, crf: int, extend: _Extend | None = None) -> int:
    """Write `frames` (extend mode: the input video as read, then the new frames); returns the count."""
    with Mp4Writer(path, extend.info.fps if extend else FPS, crf) as writer:
        if extend is None:
            for frame in frames:
                writer.write(frame)
        else:
            for frame in iter_frames(extend.video):  # streamed: one full-size frame at a time
                writer.write(frame)
            for frame in _continuation(frames[extend.context:], extend.info):
                writer.write(frame)
    return writer.frames


def run_long_video(req: LongVideoRequest, ctx: JobContext) -> Iterator[Event]:
    from memory import attention_backend
    from models.framepack.buckets import nearest_bucket
    from models.framepack.loading import load_components
    from models.framepack.pipeline import (
        FramePackParams,
        SectionOutput,
        StepInfo,
        generate,
    )
    from models.framepack.schedule import section_count

    note = NOISE_NOTE if ctx.env.tiny else ""
    yield Progress(0, 1, "loading models")

    extend_frames, extend = None, None
    image = req.image_array
    if req.mode == "extend":
        info = probe_video(req.input_video, field="input_video")
        bucket_h, bucket_w = nearest_bucket(info.height, info.width, req.bucket)
        extend_frames = _context_frames(req.input_video, req.extend_context_frames, (bucket_w, bucket_h))
        extend = _Extend(req.input_video, info, extend_frames.shape[0])
        ctx.record["extend"] = {"input_size": [info.width, info.height], "input_fps": info.fps,
                                "input_frames": info.frames, "model_size": [bucket_w, bucket_h], "model_fps": FPS}
        if image is None:
            image = extend_frames[-1]
    params = FramePackParams(
        variant="inverted" if req.mode == "framepack" else "f1", image=image, prompt=req.prompt,
        negative_prompt=req.n_prompt, end_image=req.end_array, end_influence=req.end_frame_influence,
        seed=req.seed, seconds=req.total_second_length, latent_window_size=req.latent_window_size,
        steps=req.steps, cfg=req.cfg, gs=req.gs, rs=req.rs, bucket=req.bucket, sampler=req.sampler,
        use_teacache=req.use_teacache, teacache_threshold=req.teacache_threshold,
        prompt_blend_sections=req.prompt_blend_sections, extend_frames=extend_frames, fps=FPS)
    reference = extend_frames[0] if extend_frames is not None else image
    height, width = nearest_bucket(reference.shape[0], reference.shape[1], req.bucket)
    sections = section_count(req.total_second_length, req.latent_window_size, FPS)
    total_steps = sections * req.steps
    section_log: list[dict[str, Any]] = []
    ctx.record.update(sections=sections, section_log=section_log,
                      caches={"teacache": req.use_teacache, "teacache_threshold": req.teacache_threshold})
    partial: Path | None = None
    fps = extend.info.fps if extend else FPS  # extend mode keeps the input's rate
    with placed(ctx, req.preset_id, load_components, width=width, height=height, seconds=req.total_second_length,
                preservation_gb=req.gpu_memory_preservation, window=req.latent_window_size,
                fp8=("transformer",) if req.fp8_transformer else ()) as job:

        def work(emit):
            # Runs in the pump's worker thread; the attention backend is set per call in that thread.
            with attention_backend(job.attention_backend):
                yield from generate(job.placement, params, on_step=emit, should_stop=ctx.should_stop)

        for item in pump(work):
            if isinstance(item, StepInfo):
                done = item.section * req.steps + item.step
                yield Progress(done, total_steps,
                               f"section {item.section + 1}/{sections}, step {item.step}/{item.total_steps}")
                if item.preview is not None:
                    yield Preview(item.preview, f"section {item.section + 1}, step {item.step}{note}")
            elif isinstance(item, SectionOutput):
                path = ctx.job_dir / f"partial_{item.section + 1:03d}.mp4"
                n = _write_video(path, item.frames, req.mp4_crf, extend)
                if partial is not None:
                    os.remove(partial)  # the new partial holds every frame of the old one
                partial = path
                section_log.append({"section": item.section + 1, "frames": n, "tokens": item.tokens,
                                    "timings": {k: round(v, 3) for k, v in item.timings.items()},
                                    "clean_post": item.conditioning.get("clean_post"),
                                    "teacache": item.teacache})
                if req.save_section_frames:
                    _save_section_frame(ctx.job_dir, item, params.variant)
                yield PartialVideo(path, n, f"{n} frames generated, {n / fps:.2f} s of "
                                            f"{req.total_second_length:g} s (section {item.section + 1}/"
                                            f"{sections}){note}")
    final = ctx.job_dir / "video.mp4"
    os.replace(partial, final)
    frames = section_log[-1]["frames"]
    yield Result(final, {"frames": frames, "seconds": frames / fps, "fps": fps, "seed": req.seed,
                         "sections": sections, "preset": job.preset.id, "tiny_weights": ctx.env.tiny})


def _save_section_frame(job_dir: Path, item: Any, variant: str) -> None:
    """The newest frame of the section (the start for inverted, the end for F1) as a PNG."""
    (job_dir / "sections").mkdir(exist_ok=True)
    frame = item.frames[-1] if variant == "f1" else item.frames[0]
    atomic_save_png(frame, job_dir / "sections" / f"section_{item.section + 1:03d}.png")
