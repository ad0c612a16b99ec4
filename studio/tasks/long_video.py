"""Long video task: FramePack section by section, an mp4 after every section, stop keeps them.

Reads top to bottom: resolve weights -> memory plan -> load (cached) -> place -> sections ->
partial mp4 per section -> final video.
"""
from __future__ import annotations

import collections
import itertools
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from studio.events import Event, PartialVideo, Preview, Progress, Result
from studio.pump import pump
from studio.tasks.base import JobContext
from studio.tasks.long_video_request import LongVideoRequest
from studio.tasks.placed import placed
from studio.video_io import Mp4Writer, iter_frames

FPS = 30
NOISE_NOTE = " (tiny random weights: noise)"


def _last_frames(video: str, count: int) -> tuple[np.ndarray, int]:
    """The last `count` frames (streamed: only `count` frames are ever held) and the total count."""
    tail: collections.deque[np.ndarray] = collections.deque(maxlen=count)
    total = 0
    for frame in iter_frames(video):
        tail.append(frame.copy())
        total += 1
    return np.stack(list(tail)), total


def _write_video(path: Path, frames: np.ndarray, crf: int, prefix: tuple[str, int] | None = None) -> None:
    """Write `frames` (after the first `prefix[1]` frames of video `prefix[0]`, for extend mode)."""
    with Mp4Writer(path, FPS, crf) as writer:
        if prefix is not None:
            src, keep = prefix
            height, width = frames.shape[1:3]
            for frame in itertools.islice(iter_frames(src), keep):
                if frame.shape[:2] != (height, width):
                    from models.framepack.buckets import resize_and_center_crop

                    frame = resize_and_center_crop(frame, height, width)
                writer.write(frame)
        for frame in frames:
            writer.write(frame)


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

    extend_frames, prefix = None, None
    image = req.image_array
    if req.mode == "extend":
        extend_frames, total_in = _last_frames(req.input_video, req.extend_context_frames)
        prefix = (req.input_video, total_in - extend_frames.shape[0])
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
                _write_video(path, item.frames, req.mp4_crf, prefix)
                if partial is not None:
                    os.remove(partial)  # the new partial holds every frame of the old one
                partial = path
                n = item.frames.shape[0] + (prefix[1] if prefix else 0)
                section_log.append({"section": item.section + 1, "frames": n, "tokens": item.tokens,
                                    "timings": {k: round(v, 3) for k, v in item.timings.items()},
                                    "clean_post": item.conditioning.get("clean_post"),
                                    "teacache": item.teacache})
                if req.save_section_frames:
                    _save_section_frame(ctx.job_dir, item, params.variant)
                yield PartialVideo(path, n, f"{n} frames generated, {n / FPS:.2f} s of "
                                            f"{req.total_second_length:g} s (section {item.section + 1}/"
                                            f"{sections}){note}")
    final = ctx.job_dir / "video.mp4"
    os.replace(partial, final)
    frames = section_log[-1]["frames"]
    yield Result(final, {"frames": frames, "seconds": frames / FPS, "fps": FPS, "seed": req.seed,
                         "sections": sections, "preset": job.preset.id, "tiny_weights": ctx.env.tiny})


def _save_section_frame(job_dir: Path, item: Any, variant: str) -> None:
    """The newest frame of the section (the start for inverted, the end for F1) as a PNG."""
    from PIL import Image

    (job_dir / "sections").mkdir(exist_ok=True)
    frame = item.frames[-1] if variant == "f1" else item.frames[0]
    Image.fromarray(frame).save(job_dir / "sections" / f"section_{item.section + 1:03d}.png")
