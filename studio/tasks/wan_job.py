"""What the Wan-layer tasks (first–last frame, pose animation, Frame In/Out) share: running a loop
in the pump inside a placed job, turning its step reports into events, and writing their files."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Iterator

import numpy as np

from studio.events import Event, Preview, Progress
from studio.outputs import atomic_save_png
from studio.pump import pump
from studio.tasks.base import JobContext
from studio.video_io import Mp4Writer

NOISE_NOTE = " (tiny random weights: noise)"


def fp8_components(req: Any) -> tuple[str, ...]:
    """The components a request stores in fp8 (its `fp8_transformer` switch)."""
    return ("transformer",) if getattr(req, "fp8_transformer", False) else ()


def save_png(array: np.ndarray, path: Path) -> None:
    """Written under a temporary name and renamed: never a half-written PNG under its final name."""
    atomic_save_png(array, path)


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, crf: int) -> None:
    with Mp4Writer(path, fps, crf) as writer:
        for frame in frames:
            writer.write(frame)


def pumped(work: Callable[[Callable[[Any], None]], Iterator[Any]], desc: str) -> Iterator[Any]:
    """Run a Wan-layer loop in the pump: its step reports become Progress / Preview events, its
    output becomes the frames (an array)."""
    from models.wan.pipeline import StepInfo

    for item in pump(work):
        if isinstance(item, StepInfo):
            yield Progress(item.step, item.total, f"{desc}: step {item.step}/{item.total}")
            if item.preview is not None:
                yield Preview(item.preview, f"{desc}, step {item.step}")
        elif hasattr(item, "frames"):  # the loop's output (WanOutput or a family's own)
            yield item.frames


def run_loop(job: Any, generate: Callable[..., Any], params: Any, ctx: JobContext, desc: str) -> Iterator[Any]:
    """`generate(placement, params)` of a placed job, with the job's attention backend, in the pump."""

    def work(emit: Callable[[Any], None]) -> Iterator[Any]:
        from memory import attention_backend

        with attention_backend(job.attention_backend):
            yield generate(job.placement, params, on_step=emit, should_stop=ctx.should_stop)

    yield from pumped(work, desc)


def forward_events(items: Iterable[Any]) -> Generator[Event, None, np.ndarray]:
    """Pass a loop's events on and return its frames: `video = yield from forward_events(...)`."""
    video = None
    for item in items:
        if isinstance(item, np.ndarray):
            video = item
        else:
            yield item
    assert video is not None, "the loop ended without frames"
    return video
