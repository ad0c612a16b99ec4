"""Interpolation task: a video in, (n-1)*factor+1 frames out, streamed through ffmpeg.

`interpolate_frames` (the documented Python function), the tab, `/interpolate` and
`python -m studio interpolate` all run `open_method`, so every front door gives the same frames.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence

import numpy as np

from core.errors import InputError, JobStopped
from studio.env import StudioEnv
from studio.events import Event, Preview, Progress, Result
from studio.fields import (
    param,
    seed_param,
    settings_of,
    validate_fields,
    values_from_settings,
)
from studio.outputs import atomic_save_png, copy_input
from studio.pump import pump
from studio.tasks.base import JobContext
from studio.tasks.placed import placed
from studio.validation import as_choice, as_int
from studio.video_io import (
    DEFAULT_CRF,
    Mp4Writer,
    count_frames,
    iter_frames,
    probe_video,
)

METHODS = ("flow", "ldf-vfi")  # flow: weight-free; ldf-vfi: diffusion model (presets/ldf-vfi.toml)
MIN_FACTOR, MAX_FACTOR = 2, 16
OUTPUT_FORMATS = ("mp4", "png")
LDF_PRESET = "ldf-vfi"

# (frames, factor, should_stop, on_progress(done, total | None, what)) -> frames
ProgressFn = Callable[[int, "int | None", str], None]
StreamFn = Callable[[Iterable[np.ndarray], int, Callable[[], bool], ProgressFn], Iterator[np.ndarray]]


@contextlib.contextmanager
def open_method(method: str, ctx: JobContext, *, width: int, height: int, seconds: float,
                seed: int = 0, steps: int | None = None, shift: float | None = None) -> Iterator[StreamFn]:
    """The streaming interpolator for `method`, with its weights placed for the job if it has any."""
    as_choice("method", method, METHODS)
    if method == "flow":
        from studio.interpolation.flow import (
            interpolate_stream,  # deferred: OpenCV import
        )

        yield lambda frames, factor, should_stop, on_progress: interpolate_stream(frames, factor,
                                                                               should_stop=should_stop)
        return
    from models.ldf_vfi.loading import load_components
    from models.ldf_vfi.pipeline import interpolate as ldf_interpolate

    defaults = ctx.env.preset_for(LDF_PRESET).defaults
    with placed(ctx, LDF_PRESET, load_components, width=width, height=height, seconds=seconds) as job:
        options = {"steps": int(steps or defaults.get("steps", 16)), "shift": float(shift or defaults.get("shift", 8.0)),
                   "seed": seed, "tile_px": int(defaults.get("vae_tile_px", 256)),
                   "window_frames": int(defaults.get("window_frames", 60))}
        ctx.record["ldf_vfi"] = options

        def run(frames: Iterable[np.ndarray], factor: int, should_stop: Callable[[], bool],
                on_progress: ProgressFn) -> Iterator[np.ndarray]:
            return ldf_interpolate(job.placement, frames, factor, should_stop=should_stop, on_progress=on_progress,
                                   **options)

        yield run


def interpolate_frames(frames: Sequence[np.ndarray], factor: int, method: str = "flow",
                       env: StudioEnv | None = None) -> list[np.ndarray]:
    """Interpolate a list of HxWx3 uint8 RGB frames.

    Returns exactly (n-1)*factor + 1 frames for n input frames; input frame i is returned
    unchanged at position i*factor. factor is 2..16. `method="ldf-vfi"` needs its weights
    (or `env=StudioEnv(tiny=True)`, whose output is noise).
    """
    factor = as_int("factor", factor, MIN_FACTOR, MAX_FACTOR)
    frames = list(frames)
    # Sizes only feed the memory plan; the method itself validates the frames.
    h, w = frames[0].shape[:2] if frames and hasattr(frames[0], "shape") else (16, 16)
    with tempfile.TemporaryDirectory(prefix="frame-studio-") as scratch:
        ctx = JobContext(job_dir=Path(scratch), env=env or StudioEnv())
        with open_method(method, ctx, width=w, height=h, seconds=len(frames) * factor / 30) as run:
            return list(run(frames, factor, lambda: False, lambda done, total, what: None))


@dataclass
class InterpolateRequest:
    task: ClassVar[str] = "interpolate"
    defaults_preset: ClassVar[str] = LDF_PRESET  # where the model method's step/shift defaults come from
    video: str = param(None, "video", "Input video", "The video to make smoother or slower "
                       "(mp4, mov, webm, mkv, avi, gif).", positional=True)
    factor: int = param(2, "int", "Factor (output frames per input interval)",
                        "2 doubles the frame rate, 4 quadruples it ... up to 16.", min=MIN_FACTOR, max=MAX_FACTOR,
                        step=1, fix=f"use a whole number from {MIN_FACTOR} to {MAX_FACTOR}")
    method: str = param("flow", "choice", "Method", "flow: weight-free optical flow on the CPU, nothing to "
                        "download. ldf-vfi: a diffusion interpolator (needs its weights and a GPU to be fast).",
                        choices=METHODS)
    keep_duration: bool = param(True, "bool", "Keep duration (fps x factor)",
                                "On: smoother video of the same length. Off: slow motion at the input's fps.")
    side_by_side: bool = param(False, "bool", "Also make a side-by-side comparison",
                               "Writes side_by_side.mp4 (original | interpolated) next to the result.")
    mp4_crf: int = param(DEFAULT_CRF, "int", "MP4 quality (crf; 0 = lossless RGB, not browser-playable)",
                         "x264 quality: lower is better and larger.", min=0, max=51, step=1,
                         fix="use 16 (default) or 0 for lossless RGB", cli=("--crf",))
    output_format: str = param("mp4", "choice", "Output format", "png writes numbered frames into the job "
                               "folder (the CLI picks it when --out ends with /).", choices=OUTPUT_FORMATS,
                               api=False)
    seed: int = seed_param(0, "Model methods only: the seed of their noise.")
    steps: int | None = param(None, "int", "Steps", "Model methods only: denoising steps (the preset's "
                              "default, 16 for LDF-VFI).", min=1, max=100, step=1, optional=True,
                              preset_default="steps", fix="use 16 (default), 1–100")
    shift: float | None = param(None, "float", "Shift", "Model methods only: the noise schedule's shift "
                                "(8 for LDF-VFI); higher spends more steps on coarse motion.", min=0.5, max=20.0,
                                step=0.5, optional=True, preset_default="shift", fix="use 8 (default)")

    cli_skip: ClassVar[tuple[str, ...]] = ("output_format",)
    cli_out_help: ClassVar[str] = "OUT.mp4, or FOLDER/ for numbered PNG frames"

    @classmethod
    def from_cli(cls, values: dict[str, Any], args: Any) -> dict[str, Any]:
        """`--out FOLDER/` (or an existing folder) writes numbered PNG frames instead of an mp4."""
        out = getattr(args, "out", None)
        png = out is not None and (out.endswith(("/", os.sep)) or Path(out).is_dir())
        return {**values, "output_format": "png" if png else "mp4"}

    def __post_init__(self) -> None:
        if self.video is None or (isinstance(self.video, str) and not self.video.strip()):
            raise InputError("video", "no video given", "upload a video file (mp4, mov, webm, mkv, avi, gif)")
        self.video = str(self.video)
        validate_fields(self)
        self.info = probe_video(self.video, field="video")

    def to_settings(self, job_dir: Path) -> dict[str, Any]:
        return {**settings_of(self), "video": copy_input(self.video, job_dir, "input")}

    @classmethod
    def from_settings(cls, data: dict[str, Any], base_dir: Path) -> "InterpolateRequest":
        return cls(**values_from_settings(cls, data, base_dir))


def _side_by_side(original: np.ndarray, made: np.ndarray) -> np.ndarray:
    return np.concatenate([original, made], axis=1)


def run_interpolate(req: InterpolateRequest, ctx: JobContext) -> Iterator[Event]:
    info = req.info
    # The frames iter_frames will deliver (VFR input: resampled by its timestamps to info.fps).
    n_in = info.frames if info.frames is not None else count_frames(req.video)
    if n_in < 2:
        raise InputError("video", f"has {n_in} frame(s)", "use a video with at least 2 frames")
    n_out = (n_in - 1) * req.factor + 1
    out_fps = info.fps * req.factor if req.keep_duration else info.fps
    ctx.record["interpolation"] = {"input_frames": n_in, "output_frames": n_out, "input_fps": info.fps,
                                   "output_fps": out_fps, "method": req.method,
                                   "input_seconds": round(info.duration, 4), "input_vfr": info.vfr}
    yield Progress(0, n_in - 1, f"interpolating {n_in} frames x{req.factor} ({req.method})")

    with open_method(req.method, ctx, width=info.width, height=info.height, seconds=n_out / out_fps,
                     seed=req.seed, steps=req.steps, shift=req.shift) as interpolate:
        def work(emit: Callable[[Any], None]) -> Iterator[np.ndarray]:
            # Model methods report steps through a callback; the pump interleaves them with frames.
            return interpolate(iter_frames(req.video), req.factor, ctx.should_stop,
                               lambda done, total, what: emit(Progress(done, total or 0, f"{req.method}: {what}")))

        yield from _write_outputs(req, ctx, pump(work), n_in, n_out, out_fps)


def _write_outputs(req: InterpolateRequest, ctx: JobContext, made: Iterator[Any], n_in: int, n_out: int,
                   out_fps: float) -> Iterator[Event]:
    """Write frames as they come (Progress items in the stream are passed on); on a stop the
    writers finish normally, so every frame written so far stays in a playable file."""
    info = req.info
    out_name = "interpolated.mp4" if req.output_format == "mp4" else "frames"
    out_path = ctx.job_dir / out_name
    written = 0
    last_original = np.zeros((info.height, info.width, 3), np.uint8)
    stop: JobStopped | None = None

    with contextlib.ExitStack() as stack:
        # Writers finish their file on a normal exit (including a stop); an error discards it.
        writer = stack.enter_context(Mp4Writer(out_path, out_fps, req.mp4_crf)) if req.output_format == "mp4" else None
        sbs = stack.enter_context(Mp4Writer(ctx.job_dir / "side_by_side.mp4", out_fps, req.mp4_crf)) \
            if req.side_by_side else None
        if writer is None:
            out_path.mkdir()
        first_pair: list[np.ndarray] = []
        try:
            for item in made:
                if isinstance(item, Progress):
                    yield item
                    continue
                frame, index = item, written
                if index % req.factor == 0:
                    last_original = frame
                if writer:
                    writer.write(frame)
                else:
                    atomic_save_png(frame, out_path / f"{index:08d}.png")
                if sbs:
                    sbs.write(np.concatenate([last_original, frame], axis=1))
                written += 1
                if index in (0, req.factor // 2, req.factor):
                    first_pair.append(frame)
                    if index == req.factor:
                        yield Preview(np.concatenate(first_pair, axis=1),
                                      "first pair: frame 0 | interpolated middle | frame 1")
                elif index % req.factor == 0:
                    yield Progress(index // req.factor, n_in - 1, "pairs interpolated")
        except JobStopped as err:
            stop = err  # leave the `with` normally: the writers finish the frames written so far
    ctx.record["interpolation"]["written_frames"] = written
    if stop is not None or (written < n_out and ctx.should_stop()):
        raise JobStopped(f"stopped after {written} of {n_out} frames; {out_name} holds them",
                         done=written, total=n_out, unit="frames")
    if written < n_out:
        raise RuntimeError(f"interpolator produced {written} frames, expected {n_out}")
    yield Result(out_path, {"frames": written, "fps": out_fps, "factor": req.factor, "method": req.method,
                            "side_by_side": "side_by_side.mp4" if sbs else None})
