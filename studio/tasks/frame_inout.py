"""Frame In/Out task: an image on a larger canvas + trajectories + an identity -> objects that enter
or leave the frame along the drawn paths (FrameINO on Wan2.2-TI2V-5B).

Reads top to bottom: image -> canvas (expanded, sides multiples of 32) -> the model's size ->
trajectories (canvas pixels, checked) -> identity cut-out -> instant preview (the cut-out moved
along the paths, no weights) -> FrameINO -> the full-canvas video and the video cropped back to
the original framing.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np
from PIL import Image

from core.errors import InputError
from studio.events import Event, PartialVideo, Progress, Result
from studio.fields import (
    param,
    seed_param,
    settings_of,
    validate_fields,
    values_from_settings,
)
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

PRESET = "frameino-5b"
UNITS = ("px", "%")
SEGMENTATION = ("auto", "person", "grabcut", "mask")


def _trajectories(value: Any) -> list:
    from models.frameino.geometry import validate_trajectories

    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError("trajectories", "no trajectories", "draw at least one line (click points on the canvas) "
                         "or give JSON [object][line][point][x, y]")
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        if os.path.isfile(text):
            text = Path(text).read_text(encoding="utf-8")
        try:
            value = json.loads(text)
        except ValueError as err:
            raise InputError("trajectories", f"not JSON ({err.msg} at character {err.pos})",
                             "give JSON like [[[[100, 200], [400, 220]]]]: [object][line][point][x, y]") from None
    return validate_trajectories(value, field="trajectories")


def _box(value: str) -> tuple[int, int, int, int] | None:
    if not value or not value.strip():
        return None
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in value.replace(" ", "").split(","))
    except ValueError:
        raise InputError("identity_box", f"{value!r} is not four numbers", "give x0,y0,x1,y1 in the identity "
                         "image's pixels, e.g. 40,30,200,260") from None
    if x1 <= x0 or y1 <= y0:
        raise InputError("identity_box", f"{value!r} is empty", "x1 must exceed x0 and y1 exceed y0")
    return x0, y0, x1, y1


@dataclass
class FrameInOutRequest:
    task: ClassVar[str] = "frame_inout"
    defaults_preset: ClassVar[str] = PRESET

    image: Any = param(None, "image", "Image", "The first frame. It is placed on a larger canvas; objects can "
                       "enter from or leave into the added border.", positional=True, cli=("--image",))
    expand_top: float = param(0.0, "float", "Expand top", "Canvas added above the image (px or % of the height).",
                              min=0.0, max=2048.0, step=1.0)
    expand_bottom: float = param(0.0, "float", "Expand bottom", "Canvas added below the image.", min=0.0,
                                 max=2048.0, step=1.0)
    expand_left: float = param(0.0, "float", "Expand left", "Canvas added left of the image (px or % of the width).",
                               min=0.0, max=2048.0, step=1.0)
    expand_right: float = param(0.0, "float", "Expand right", "Canvas added right of the image.", min=0.0,
                                max=2048.0, step=1.0)
    expand_unit: str = param("px", "choice", "Expansion unit", "px: pixels of the image; %: percent of the "
                             "image's side. Every canvas side is rounded up to a multiple of 32.", choices=UNITS)
    trajectories: Any = param("[]", "json", "Trajectories (JSON)", "[object][line][point][x, y] in canvas pixels "
                              "(the image's pixels shifted by the left / top expansion); points may lie outside "
                              "the image. Drawn by clicking on the canvas, or pasted here.",
                              cli=("--trajectories",))
    identity_image: Any = param(None, "image", "Identity reference", "What enters the frame (object 1): it is "
                                "cut out offline and given to the model as its identity frame.", optional=True,
                                cli=("--identity",))
    identity_mask: Any = param(None, "image", "Identity mask (optional)", "A black/white mask (or use an RGBA "
                               "identity image): white = the object. Used when segmentation is 'mask'.",
                               optional=True)
    segmentation: str = param("auto", "choice", "Cut-out", "auto: a person if one is found, else GrabCut on the "
                              "centre; person: mediapipe's selfie segmentation; grabcut: OpenCV GrabCut in the "
                              "box (or the centre); mask: the uploaded mask or alpha.", choices=SEGMENTATION)
    identity_box: str = param("", "text", "Cut-out box (grabcut)", "x0,y0,x1,y1 around the object in the "
                              "identity image; empty: the centre.")
    prompt: str = param("", "text", "Prompt", "What happens: who enters or leaves and how.", lines=2)
    negative_prompt: str = param("", "text", "Negative prompt", "What to avoid (used when guidance is above 1).")
    frames: int | None = param(None, "int", "Frames", "Length in frames (4k+1); empty: the model's (81).", min=5,
                               max=121, step=4, optional=True, fix="use 4k+1 frames from 5 to 121, e.g. 81")
    steps: int | None = param(None, "int", "Steps", "Denoising steps; empty: the model's (50). Fewer is faster "
                              "and rougher.", min=1, max=100, step=1, optional=True)
    guidance: float | None = param(None, "float", "Guidance", "How strongly the video follows the prompt; empty: "
                                   "the model's (5).", min=1.0, max=20.0, step=0.1, optional=True)
    shift: float | None = param(None, "float", "Shift", "The noise schedule's shift; empty: the model's.", min=0.5,
                                max=30.0, step=0.5, optional=True)
    seed: int = seed_param(0)
    fp8_transformer: bool = param(False, "bool", "Store transformer weights in fp8", "Half the transformer's RAM "
                                  "and streamed VRAM; slightly different result.", cli=("--fp8",))
    mp4_crf: int = param(16, "int", "MP4 crf (16 default; 0 lossless, not browser-playable)",
                         "x264 quality: lower is better and larger.", min=0, max=51, step=1)

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.frames is not None and (self.frames - 1) % 4:
            raise InputError("frames", f"{self.frames} frames", "FrameINO needs 4k + 1 frames, e.g. "
                             f"{(self.frames - 1) // 4 * 4 + 1} or {(self.frames - 1) // 4 * 4 + 5}")
        self.image_array = as_image("image", self.image, required=True)
        self.trajectory_list = _trajectories(self.trajectories)
        self.identity_array = as_image("identity_image", self.identity_image, required=False, keep_alpha=True)
        self.mask_array = as_image("identity_mask", self.identity_mask, required=False)
        self.box = _box(self.identity_box)
        if self.segmentation == "mask" and self.mask_array is None and (
                self.identity_array is None or self.identity_array.shape[-1] != 4):
            raise InputError("identity_mask", "segmentation 'mask' needs a mask",
                             "upload a mask, or an identity image with transparency, or pick another cut-out")

    def to_settings(self, job_dir: Path) -> dict[str, Any]:
        data = settings_of(self)
        data["trajectories"] = self.trajectory_list  # as checked, in canvas pixels
        for name, array in (("image", self.image_array), ("identity_image", self.identity_array),
                            ("identity_mask", self.mask_array)):
            data[name] = None
            if array is not None:
                save_png(array, job_dir / f"{name}.png")
                data[name] = f"{name}.png"
        return data

    @classmethod
    def from_settings(cls, data: dict[str, Any], base_dir: Path) -> "FrameInOutRequest":
        data = values_from_settings(cls, data, base_dir)
        if not isinstance(data.get("trajectories"), str):  # stored as checked lists
            data["trajectories"] = json.dumps(data.get("trajectories"))
        return cls(**data)


# ------------------------------------------------------------------------------------------ task


def run_frame_inout(req: FrameInOutRequest, ctx: JobContext) -> Iterator[Event]:
    from models.frameino import geometry
    from models.frameino.preview import preview_frames

    note = NOISE_NOTE if ctx.env.tiny else ""
    d = ctx.env.preset_for(PRESET).defaults
    fps = float(d.get("fps", 16))
    frames = req.frames or int(d.get("frames", 81))
    h, w = req.image_array.shape[:2]
    expansion = geometry.Expansion(req.expand_top, req.expand_bottom, req.expand_left, req.expand_right,
                                   req.expand_unit)
    layout = geometry.canvas_layout(w, h, expansion)
    # The canvas at the model's size class (FrameINO trains at 1280x704); points scale with it.
    model_layout, scale = geometry.fit_to_model(layout, (int(d.get("width", 1280)), int(d.get("height", 704))))
    image = np.asarray(Image.fromarray(req.image_array).resize(
        (model_layout.box[2] - model_layout.box[0], model_layout.box[3] - model_layout.box[1]), Image.LANCZOS))
    canvas, region = geometry.make_canvas(image, model_layout)
    trajectories = geometry.scale_trajectories(req.trajectory_list, scale)
    ctx.record["frame_inout"] = {"canvas": [layout.width, layout.height], "box": list(layout.box),
                                 "model_canvas": [model_layout.width, model_layout.height],
                                 "model_box": list(model_layout.box), "frames": frames, "fps": fps,
                                 "objects": len(trajectories)}

    identity = cutouts = None
    if req.identity_array is not None:
        from models.frameino.segment import cut_out, identity_frame

        yield Progress(0, 1, "cutting out the identity")
        method = req.segmentation
        cutout, _mask = cut_out(req.identity_array, method=method, box=req.box, mask=req.mask_array)
        save_png(cutout, ctx.job_dir / "identity_cutout.png")
        identity = identity_frame(cutout, model_layout.width, model_layout.height)
        cutouts = {0: cutout}

    preview = ctx.job_dir / "preview.mp4"
    write_video(preview, preview_frames(canvas, region, trajectories, cutouts or {}, frames), fps, 23)
    ctx.record["preview"] = preview.name
    yield PartialVideo(preview, frames, "Preview: the identity moved along the trajectories over the canvas "
                                        "(timing and path only, not the model's video)")
    rendered = geometry.render_trajectories(trajectories, model_layout.width, model_layout.height, frames)

    yield Progress(0, 1, "loading FrameINO")
    video = yield from forward_events(_run_model(req, ctx, canvas, region, rendered, identity, model_layout, frames,
                                                 note))
    full = ctx.job_dir / "canvas.mp4"
    write_video(full, video, fps, req.mp4_crf)
    yield PartialVideo(full, int(video.shape[0]), f"full canvas: {model_layout.width}x{model_layout.height}{note}")
    cropped = geometry.crop_back(video, model_layout)
    path = ctx.job_dir / "video.mp4"
    write_video(path, cropped, fps, req.mp4_crf)
    yield Result(path, {"frames": int(cropped.shape[0]), "fps": fps, "seconds": cropped.shape[0] / fps,
                        "canvas_video": str(full), "tiny_weights": ctx.env.tiny})


LOOP = ("models.frameino.loading:load_components", "models.frameino.pipeline:generate_frameino",
        "models.frameino.pipeline:FrameInoParams", "models.frameino.memory:run_options")


def _run_model(req: FrameInOutRequest, ctx: JobContext, canvas: np.ndarray, region: np.ndarray,
               rendered: np.ndarray, identity: np.ndarray | None, layout: Any, frames: int,
               note: str) -> Iterator[Any]:
    from models.registry import resolve_path

    loader, generate, params_type, run_options = (resolve_path(p) for p in LOOP)
    with placed(ctx, PRESET, loader, width=layout.width, height=layout.height, frames=frames,
                fp8=fp8_components(req)) as job:
        d = job.preset.defaults
        params = params_type(prompt=req.prompt, negative_prompt=req.negative_prompt, canvas_image=canvas,
                             region=region, trajectory_video=rendered, identity=identity, frames=frames,
                             steps=req.steps or int(d.get("steps", 50)),
                             guidance=req.guidance or float(d.get("guidance", 5.0)),
                             shift=req.shift or (float(d["shift"]) if "shift" in d else None), seed=req.seed,
                             **run_options(job.plan))
        yield from run_loop(job, generate, params, ctx, f"FrameINO{note}")
