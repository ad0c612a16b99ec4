"""The long-video request: every FramePack parameter, validated once for UI, API and CLI."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core.errors import InputError
from studio.fields import (
    MAX_SEED,
    check_value,
    field_spec,
    param,
    seed_param,
    settings_of,
    validate_fields,
    values_from_settings,
)
from studio.outputs import atomic_save_png, copy_input
from studio.validation import as_bool, as_image
from studio.video_io import probe_video

MODES = ("framepack", "f1", "extend")
SAMPLERS = ("unipc", "euler")
PRESET_FOR_MODE = {"framepack": "framepack", "f1": "framepack-f1", "extend": "framepack-f1"}


def planned_length(seconds: float, window: int, mode: str, fps: int = 30) -> tuple[int, float]:
    """(frames, seconds) a job really makes: the video is rounded to whole sections by the same
    schedule the pipeline runs (5 s of FramePack at window 9 = 4 sections = 145 frames = 4.83 s).
    In extend mode this is what is added after the video's own frames."""
    from models.framepack import schedule

    frames = schedule.total_frames(schedule.section_count(seconds, window, fps), window)
    frames -= 1 if mode == "extend" else 0  # the video's last frame stands in for the start frame
    return frames, frames / fps


def planned_length_text(seconds: Any, window: Any, mode: Any) -> str:
    """The real length, for the UI under the length control (a bad value says where it is wrong)."""
    try:
        seconds = check_value("total_second_length", field_spec(LongVideoRequest, "total_second_length"),
                              seconds, 5.0)
        window = check_value("latent_window_size", field_spec(LongVideoRequest, "latent_window_size"), window, 9)
    except InputError as err:
        return f"<small>⚠ {err}</small>"
    frames, real = planned_length(seconds, window, mode)
    added = " added after the video" if mode == "extend" else ""
    return f"<small>Real length: {frames} frames{added} = **{real:.2f} s** at 30 fps (whole sections)</small>"


@dataclass
class LongVideoRequest:
    """Every FramePack parameter; the first 16 are FramePack's own `/process` names, order and defaults."""

    task: ClassVar[str] = "long_video"
    defaults_preset: ClassVar[str] = "framepack"  # the bucket default comes from it (64 for its tiny twin)
    input_image: Any = param(None, "image", "Start image", "The first frame (inverted: the frame the video "
                             "ends up starting from). Optional in extend mode (the video's last frame is used).",
                             positional=True, optional=True, cli=("--image",))
    prompt: str = param("", "text", "Prompt", 'What happens. Timestamped: "[0s: a cat sits] [2s-4s: the cat '
                        'jumps]" switches prompts at section boundaries; other brackets are plain text '
                        '(write \\[ for a bracket that would read as a time, e.g. "a clock shows \\[12:30]").',
                        lines=3)
    n_prompt: str = param("", "text", "Negative prompt", "What to avoid. Only used when CFG (cfg) is above 1.",
                          cli=("--negative-prompt",))
    seed: int = seed_param(31337)
    total_second_length: float = param(5.0, "float", "Video length (seconds)",
                                       "Length of the new video at 30 fps; rounded to whole sections "
                                       "(4 x window frames each).", min=1.0, max=120.0, step=0.1,
                                       fix="use 1 to 120 seconds", cli=("--seconds",))
    latent_window_size: int = param(9, "int", "Latent window size",
                                     "Latent frames generated per section (x4 video frames). 9 is what "
                                     "FramePack was trained with; changing it is rarely better.",
                                     min=1, max=33, step=1, fix="use 9 (default), 1–33", cli=("--window",))
    steps: int = param(25, "int", "Steps", "Denoising steps per section. Fewer is faster and blurrier; "
                       "25 is FramePack's default.", min=1, max=100, step=1, fix="use 25 (default), 1–100")
    cfg: float = param(1.0, "float", "Real CFG (cfg; 1 = off)",
                       "Classifier-free guidance with the negative prompt. Above 1 it runs the model twice "
                       "per step; FramePack's distilled guidance (gs) usually makes it unnecessary.",
                       min=1.0, max=32.0, step=0.01, fix="use 1 (off, default) to 32")
    gs: float = param(10.0, "float", "Distilled CFG (gs)", "How strongly the video follows the prompt. Raise it "
                      "if the prompt is ignored, lower it if colours burn.", min=1.0, max=32.0, step=0.01,
                      fix="use 10 (default), 1–32")
    rs: float = param(0.0, "float", "CFG rescale (rs)", "Pulls over-saturated real-CFG results back; only "
                      "matters when cfg > 1.", min=0.0, max=1.0, step=0.01, fix="use 0 (default) to 1")
    gpu_memory_preservation: float = param(6.0, "float", "GPU memory preservation (GB kept free)",
                                           "GB of VRAM kept free of resident transformer blocks. Larger if "
                                           "you run out of memory; smaller is faster on big cards.",
                                           min=0.0, max=128.0, step=0.1,
                                           fix="use 6 GB (default); larger if you run out of memory",
                                           cli=("--preservation",))
    use_teacache: bool = param(True, "bool", "TeaCache (faster, slightly different result)",
                               "Skips transformer steps whose input barely changed: about 2x faster, hands and "
                               "fine detail can get worse. Off gives the exact result.", cli=("--teacache",))
    mp4_crf: int = param(16, "int", "MP4 crf (16 default; 0 lossless, not browser-playable)",
                         "x264 quality: lower is better and larger. 0 is lossless RGB, which browsers "
                         "cannot play.", min=0, max=51, step=1,
                         fix="use 16 (default); 0 is lossless, not browser-playable", cli=("--crf",))
    end_frame: Any = param(None, "image", "End frame (optional)", "The last frame the video should reach "
                           "(framepack mode only).", optional=True)
    use_random_seed: bool = param(False, "bool", "Random seed (the seed used is saved)",
                                  "Pick a new seed for every job; the one used is stored in settings.json.",
                                  cli=("--random-seed",))
    save_section_frames: bool = param(False, "bool", "Save each section's last frame as PNG",
                                      "Writes sections/section_NNN.png into the job folder.")
    end_frame_influence: float = param(1.0, "float", "End frame influence",
                                       "How strongly the end frame pulls the last section: 1 = reach it "
                                       "exactly, lower = a looser ending.", min=0.05, max=1.0, step=0.05,
                                       fix="use a value in (0, 1], 1 = full", cli=("--end-influence",))
    mode: str = param("framepack", "choice", "Mode", "framepack = inverted anti-drifting (the video grows "
                      "backwards from the end, best quality); f1 = forward; extend = continue a video.",
                      choices=MODES)
    bucket: int = param(640, "int", "Resolution bucket", "Base size of the 14 aspect-ratio buckets; the image "
                        "is resized to the nearest one. Smaller is faster and needs less memory.",
                        min=64, max=1024, step=32, multiple_of=32, preset_default="bucket",
                        fix="use 640 (default), 512, 480 ...; a multiple of 32 from 64 to 1024")
    sampler: str = param("unipc", "choice", "Sampler", "unipc is FramePack's; euler matches diffusers' "
                         "pipeline.", choices=SAMPLERS)
    teacache_threshold: float = param(0.15, "float", "TeaCache threshold", "Higher skips more steps: 0.15 is "
                                      "about 2.1x, 0.1 about 1.6x.", min=0.0, max=0.5, step=0.01, lo_open=True,
                                      fix="use 0.15 (default); a number in (0, 0.5]")
    prompt_blend_sections: int = param(0, "int", "Blend timestamped prompts over N sections",
                                       "Fades from one timestamped prompt to the next over this many "
                                       "sections instead of switching at once.", min=0, max=8, step=1)
    input_video: Any = param(None, "video", "Video to extend", "Extend mode: the video to continue. Its frames "
                             "are kept unchanged at the start of the output.", optional=True, cli=("--video",))
    extend_context_frames: int = param(16, "int", "Context frames taken from the end of the video",
                                       "How much of the video's end the model sees when continuing it.",
                                       min=1, max=256, step=1, cli=("--context-frames",))
    fp8_transformer: bool = param(False, "bool", "Store transformer weights in fp8",
                                  "Half the transformer's memory (RAM and streamed VRAM), slightly different "
                                  "result.", cli=("--fp8",))
    # Filled by validation (not parameters):
    image_array: np.ndarray | None = field(default=None, repr=False)
    end_array: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.use_random_seed = as_bool("use_random_seed", self.use_random_seed)
        if self.use_random_seed:
            # The seed actually used is stored, so a rerun from settings.json reproduces the job.
            self.seed, self.use_random_seed = secrets.randbelow(MAX_SEED + 1), False
        validate_fields(self)
        if self.mode == "extend":
            if self.input_video in (None, ""):
                raise InputError("input_video", "extend mode needs a video", "upload the video to continue")
            probe_video(self.input_video, field="input_video")
            self.input_video = str(self.input_video)
        self.image_array = as_image("input_image", self.input_image if self.image_array is None else self.image_array,
                                    required=self.mode != "extend")
        self.end_array = as_image("end_frame", self.end_frame if self.end_array is None else self.end_array,
                                  required=False)
        if self.end_array is not None and self.mode != "framepack":
            raise InputError("end_frame", f"an end frame needs mode 'framepack' (got {self.mode!r})",
                             "switch mode to framepack (inverted sampling) or remove the end frame")
        self._check_prompt()

    def _check_prompt(self) -> None:
        from models.framepack.prompts import (
            parse_timestamped_prompt,  # raises InputError("prompt", ...)
        )

        parse_timestamped_prompt(self.prompt, self.total_second_length)

    @property
    def preset_id(self) -> str:
        return PRESET_FOR_MODE[self.mode]

    def to_settings(self, job_dir: Path) -> dict[str, Any]:
        job_dir = Path(job_dir)
        data = settings_of(self)
        data["input_image"] = None
        if self.image_array is not None:
            atomic_save_png(self.image_array, job_dir / "input_image.png")
            data["input_image"] = "input_image.png"
        data["end_frame"] = None
        if self.end_array is not None:
            atomic_save_png(self.end_array, job_dir / "end_frame.png")
            data["end_frame"] = "end_frame.png"
        if self.input_video:
            data["input_video"] = copy_input(self.input_video, job_dir, "input_video")
        return data

    @classmethod
    def from_settings(cls, data: dict[str, Any], base_dir: Path) -> "LongVideoRequest":
        return cls(**values_from_settings(cls, data, base_dir))
