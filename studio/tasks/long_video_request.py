"""The long-video request: every FramePack parameter, validated once for UI, API and CLI."""
from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from studio.errors import InputError
from studio.validation import as_bool, as_choice, as_float, as_image, as_int, as_text
from studio.video_io import probe_video

MODES = ("framepack", "f1", "extend")
SAMPLERS = ("unipc", "euler")
MAX_SEED = 2**32 - 1
PRESET_FOR_MODE = {"framepack": "framepack", "f1": "framepack-f1", "extend": "framepack-f1"}


@dataclass
class LongVideoRequest:
    task: ClassVar[str] = "long_video"
    input_image: Any = None                 # path / PIL / array; optional in extend mode
    prompt: str = ""
    n_prompt: str = ""
    seed: int = 31337
    total_second_length: float = 5.0
    latent_window_size: int = 9
    steps: int = 25
    cfg: float = 1.0
    gs: float = 10.0
    rs: float = 0.0
    gpu_memory_preservation: float = 6.0
    use_teacache: bool = True
    mp4_crf: int = 16
    end_frame: Any = None
    end_frame_influence: float = 1.0
    use_random_seed: bool = False
    save_section_frames: bool = False
    mode: str = "framepack"
    bucket: int = 640
    sampler: str = "unipc"
    teacache_threshold: float = 0.15
    prompt_blend_sections: int = 0
    input_video: Any = None                 # extend mode: the video to continue
    extend_context_frames: int = 16
    fp8_transformer: bool = False           # store transformer weights in float8 (half the bytes)
    # Filled by validation (not parameters):
    image_array: np.ndarray | None = field(default=None, repr=False)
    end_array: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.mode = as_choice("mode", self.mode, MODES)
        self.prompt = as_text("prompt", self.prompt)
        self.n_prompt = as_text("n_prompt", self.n_prompt)
        self.use_random_seed = as_bool("use_random_seed", self.use_random_seed)
        if self.use_random_seed:
            # The seed actually used is stored, so a rerun from settings.json reproduces the job.
            self.seed, self.use_random_seed = secrets.randbelow(MAX_SEED + 1), False
        self.seed = as_int("seed", self.seed, 0, MAX_SEED)
        self.total_second_length = as_float("total_second_length", self.total_second_length, 1.0, 120.0,
                                            fix="use 1 to 120 seconds")
        self.latent_window_size = as_int("latent_window_size", self.latent_window_size, 1, 33, fix="use 9 (default), 1–33")
        self.steps = as_int("steps", self.steps, 1, 100, fix="use 25 (default), 1–100")
        self.cfg = as_float("cfg", self.cfg, 1.0, 32.0, fix="use 1 (off, default) to 32")
        self.gs = as_float("gs", self.gs, 1.0, 32.0, fix="use 10 (default), 1–32")
        self.rs = as_float("rs", self.rs, 0.0, 1.0, fix="use 0 (default) to 1")
        self.gpu_memory_preservation = as_float("gpu_memory_preservation", self.gpu_memory_preservation, 0.0, 128.0,
                                                fix="use 6 GB (default); larger if you run out of memory")
        self.use_teacache = as_bool("use_teacache", self.use_teacache)
        self.teacache_threshold = as_float("teacache_threshold", self.teacache_threshold, 0.0, 1.0, lo_open=True)
        self.mp4_crf = as_int("mp4_crf", self.mp4_crf, 0, 51, fix="use 16 (default); 0 is lossless, not browser-playable")
        self.save_section_frames = as_bool("save_section_frames", self.save_section_frames)
        self.bucket = as_int("bucket", self.bucket, 64, 1024, fix="use 640 (default); a multiple of 32 from 64 to 1024")
        if self.bucket % 32:
            raise InputError("bucket", f"{self.bucket} is not a multiple of 32", "use 640 (default), 512, 480 ...")
        self.sampler = as_choice("sampler", self.sampler, SAMPLERS)
        self.prompt_blend_sections = as_int("prompt_blend_sections", self.prompt_blend_sections, 0, 8)
        self.end_frame_influence = as_float("end_frame_influence", self.end_frame_influence, 0.0, 1.0, lo_open=True)
        self.fp8_transformer = as_bool("fp8_transformer", self.fp8_transformer)
        self.extend_context_frames = as_int("extend_context_frames", self.extend_context_frames, 1, 256)

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
        from models.framepack.prompts import parse_timestamped_prompt  # raises InputError("prompt", ...)

        parse_timestamped_prompt(self.prompt, self.total_second_length)

    @property
    def preset_id(self) -> str:
        return PRESET_FOR_MODE[self.mode]

    def to_settings(self, job_dir: Path) -> dict[str, Any]:
        job_dir = Path(job_dir)
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("image_array", "end_array")}
        data["input_image"] = None
        if self.image_array is not None:
            Image.fromarray(self.image_array).save(job_dir / "input_image.png")
            data["input_image"] = "input_image.png"
        data["end_frame"] = None
        if self.end_array is not None:
            Image.fromarray(self.end_array).save(job_dir / "end_frame.png")
            data["end_frame"] = "end_frame.png"
        if self.input_video:
            name = "input_video" + (Path(self.input_video).suffix.lower() or ".mp4")
            if not (job_dir / name).exists():
                shutil.copyfile(self.input_video, job_dir / name)
            data["input_video"] = name
        return data

    @classmethod
    def from_settings(cls, data: dict[str, Any], base_dir: Path) -> "LongVideoRequest":
        names = {f.name for f in fields(cls)} - {"image_array", "end_array"}
        data = {k: v for k, v in data.items() if k in names}
        for key in ("input_image", "end_frame", "input_video"):
            if data.get(key):
                data[key] = str(Path(base_dir) / data[key])
        return cls(**data)
