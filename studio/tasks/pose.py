"""Pose animation and pose extraction tasks: a reference character + motion -> an animation.

Motion comes as a driving video (its poses extracted offline on the CPU), a skeleton video used as
is, or OpenPose JSON. Methods (one request, a method choice), all through memory/:
- `vace`: Wan2.1 VACE 1.3B / 14B, the skeleton video as control video, the reference as reference;
- `animate`: Wan2.2-Animate-14B, reference + skeleton video + 512x512 face-crop video (animation
  mode; replacement mode is not offered yet);
- `frameprompt`: the FramePrompt in-context sequence [reference | skeleton | target] on a Wan I2V
  model, with the user's FramePrompt checkpoint or LoRA (no public weights exist).

Reads top to bottom: inputs -> motion (poses) -> retarget onto the reference -> skeleton files
(video + JSON, downloadable) -> puppet preview (seconds, no weights) -> the method's loop -> mp4.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np

from core.errors import InputError
from studio.events import Event, PartialVideo, Progress, Result
from studio.fields import (
    param,
    seed_param,
    settings_of,
    validate_fields,
    values_from_settings,
)
from studio.outputs import atomic_copy, copy_input
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
from studio.video_io import iter_frames, probe_video

METHODS = ("vace", "animate", "frameprompt")
SIZES = ("14b", "1.3b")
PRESET_OF = {("vace", "14b"): "wan-vace-14b", ("vace", "1.3b"): "wan-vace-1.3b",
             ("animate", "14b"): "wan-animate-14b", ("animate", "1.3b"): "wan-animate-14b",
             # A 1.3B FramePrompt is a full checkpoint with its own config; its VAE, UMT5 and CLIP are
             # Wan I2V's, so it runs on the same preset (whose plan then counts a 14B transformer).
             ("frameprompt", "14b"): "frameprompt-14b", ("frameprompt", "1.3b"): "frameprompt-14b"}
RENDER_TARGET = {"vace": "vace", "animate": "animate", "frameprompt": "frameprompt"}
RESOLUTIONS = ("auto", "1280x720", "720x1280", "832x480", "480x832", "960x960", "640x640")
MOTION_FIELDS = ("driving_video", "skeleton_video", "pose_json")


def _one_motion(req: Any) -> str:
    given = [name for name in MOTION_FIELDS if getattr(req, name)]
    if len(given) != 1:
        raise InputError("driving_video", "no motion given" if not given else f"several motions given ({', '.join(given)})",
                         "give exactly one of: a driving video, a skeleton video, or OpenPose JSON")
    return given[0]


def _check_motion(name: str, value: Any) -> str:
    if name == "pose_json":
        path = Path(str(value))
        if not path.is_file():
            raise InputError("pose_json", f"{value!r} is not a file", "upload an OpenPose .json file")
        return str(path)
    probe_video(value, field=name)
    return str(value)


@dataclass
class PoseRequest:
    task: ClassVar[str] = "pose_animate"
    defaults_preset: ClassVar[str] = "wan-vace-14b"

    method: str = param("vace", "choice", "Method",
                        "vace: Wan2.1 VACE (pose video as control, the reference as reference). "
                        "animate: Wan2.2-Animate-14B (pose video + face-crop video; animation mode). "
                        "frameprompt: FramePrompt's in-context sequence on Wan I2V; needs your FramePrompt "
                        "checkpoint or LoRA (none is public).", choices=METHODS)
    model_size: str = param("14b", "choice", "Model size",
                            "14b: best quality, 720p. 1.3b: VACE / FramePrompt 1.3B at 480p, fits 6 GB cards "
                            "easily (Animate exists only as 14B).", choices=SIZES)
    reference_image: Any = param(None, "image", "Reference character", "The character to animate: one person, "
                                 "whole body visible works best.", optional=True, cli=("--reference",))
    driving_video: Any = param(None, "video", "Driving video", "A video of someone moving: their pose is "
                               "extracted on the CPU (body, hands, face) and drives the character.", optional=True,
                               cli=("--driving",))
    skeleton_video: Any = param(None, "video", "Skeleton video (used as is)",
                                "An already drawn pose video in the model's format; no extraction and no "
                                "retargeting.", optional=True, cli=("--skeleton",))
    pose_json: Any = param(None, "file", "OpenPose JSON", "Poses as OpenPose JSON (one dict per frame, as "
                           "ControlNet / ComfyUI write them, or this tab's download).", optional=True)
    retarget: bool = param(True, "bool", "Retarget to the reference's body",
                           "Scale the driving skeleton to the reference's bone lengths and keep its feet on the "
                           "reference's ground line. Turn off when the driver already has the character's build.")
    prompt: str = param("", "text", "Prompt", "What the character looks like and does (optional for vace).", lines=2)
    negative_prompt: str = param("", "text", "Negative prompt", "What to avoid (used when guidance is above 1).")
    resolution: str = param("auto", "choice", "Resolution", "auto: the model's size (1280x720 for 14B, 832x480 "
                            "for 1.3B) in the reference's orientation; the reference is resized and centre-cropped.",
                            choices=RESOLUTIONS)
    frames: int | None = param(None, "int", "Frames", "Length of the animation in frames (4k+1), or fewer if the "
                               "motion is shorter; empty: the model's (vace 81; animate the whole motion up to 241, in "
                               "77-frame segments; frameprompt 41, the paper's 40 targets + 1).", min=5, max=241,
                               step=4, optional=True, fix="use 4k+1 frames from 5 to 241, e.g. 81")
    steps: int | None = param(None, "int", "Steps", "Denoising steps; empty: the model's (50 for VACE/FramePrompt, "
                              "20 for Animate). Fewer is faster and rougher.", min=1, max=100, step=1, optional=True)
    guidance: float | None = param(None, "float", "Guidance", "How strongly the video follows the prompt; "
                                   "empty: the model's (5; Animate 1, i.e. no negative pass).", min=1.0, max=20.0,
                                   step=0.1, optional=True)
    shift: float | None = param(None, "float", "Shift", "The noise schedule's shift; empty: the model's.",
                                min=0.5, max=30.0, step=0.5, optional=True)
    seed: int = seed_param(0)
    control_strength: float = param(1.0, "float", "Pose strength (vace)", "How strictly VACE follows the "
                                    "skeleton: lower lets the model deviate.", min=0.0, max=2.0, step=0.05)
    frameprompt_weights: str = param("", "text", "FramePrompt weights (frameprompt)",
                                     "Path to your FramePrompt checkpoint (a transformer folder or .safetensors) "
                                     "or LoRA (.safetensors), or an HF repo id in your cache.")
    lora_strength: float = param(1.0, "float", "LoRA strength (frameprompt)", "Scale of a FramePrompt LoRA.",
                                 min=0.0, max=2.0, step=0.05)
    causal: bool = param(True, "bool", "Causal context (frameprompt)", "Targets attend to the reference and "
                         "skeleton, not the other way round, as FramePrompt was trained.")
    fp8_transformer: bool = param(False, "bool", "Store transformer weights in fp8",
                                  "Half the transformer's RAM and streamed VRAM (14B models in 16 GB of RAM); "
                                  "slightly different result.", cli=("--fp8",))
    mp4_crf: int = param(16, "int", "MP4 crf (16 default; 0 lossless, not browser-playable)",
                         "x264 quality: lower is better and larger.", min=0, max=51, step=1)

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.frames is not None and (self.frames - 1) % 4:
            raise InputError("frames", f"{self.frames} frames", f"Wan models need 4k + 1 frames, e.g. "
                             f"{(self.frames - 1) // 4 * 4 + 1} or {(self.frames - 1) // 4 * 4 + 5}")
        self.reference_array = as_image("reference_image", self.reference_image, required=True)
        self.motion = _one_motion(self)
        setattr(self, self.motion, _check_motion(self.motion, getattr(self, self.motion)))
        if self.method == "animate" and self.motion != "driving_video":
            raise InputError(self.motion, "animate also needs the face-crop video, which is cut from a "
                             "driving video", "give the driving video instead")
        if self.method == "frameprompt" and not self.frameprompt_weights.strip():
            raise InputError("frameprompt_weights", "frameprompt has no public weights",
                             "give the path of your FramePrompt checkpoint or LoRA, or pick vace / animate")

    @property
    def preset_id(self) -> str:
        return PRESET_OF[(self.method, self.model_size)]

    def to_settings(self, job_dir: Path) -> dict[str, Any]:
        data = settings_of(self)
        save_png(self.reference_array, job_dir / "reference_image.png")
        data["reference_image"] = "reference_image.png"
        for name in MOTION_FIELDS:
            if data[name]:
                data[name] = copy_input(data[name], job_dir, name)
        return data

    @classmethod
    def from_settings(cls, data: dict[str, Any], base_dir: Path) -> "PoseRequest":
        return cls(**values_from_settings(cls, data, base_dir))


@dataclass
class ExtractPoseRequest:
    task: ClassVar[str] = "extract_pose"
    cli_out_help: ClassVar[str] = "copy the skeleton video here (file or folder/)"

    video: Any = param(None, "video", "Driving video", "The video whose poses are extracted (body, hands, face) "
                       "on the CPU, offline.", positional=True)
    target: str = param("vace", "choice", "Skeleton style", "How the skeleton video is drawn: vace (body + face "
                        "dots), animate (body with toes + hands), frameprompt (OpenPose body, hands, face).",
                        choices=tuple(RENDER_TARGET.values()))
    hands: bool = param(True, "bool", "Hands", "Find both hands (21 points each); off is faster.")
    face: bool = param(True, "bool", "Face", "Find the face (68 points); off is faster.")
    smoothing: float = param(0.5, "float", "Smoothing", "Removes jitter between frames: 0 = raw points, 1 = "
                             "strongest (slow motions only).", min=0.0, max=1.0, step=0.05)
    json_out: str | None = None  # CLI only (--json): also copy the OpenPose JSON here

    @classmethod
    def add_cli_extras(cls, parser: Any) -> None:
        parser.add_argument("--json", dest="json_out", default=None, metavar="OUT.json",
                            help="also write the poses as OpenPose JSON to this file")

    @classmethod
    def from_cli(cls, values: dict[str, Any], args: Any) -> dict[str, Any]:
        return {**values, "json_out": args.json_out}

    def __post_init__(self) -> None:
        validate_fields(self)
        self.info = probe_video(self.video, field="video")
        self.video = str(self.video)

    def to_settings(self, job_dir: Path) -> dict[str, Any]:
        data = settings_of(self)
        data["video"] = copy_input(self.video, job_dir, "driving")
        return data

    @classmethod
    def from_settings(cls, data: dict[str, Any], base_dir: Path) -> "ExtractPoseRequest":
        return cls(**values_from_settings(cls, data, base_dir))


# ------------------------------------------------------------------------------------------ extraction


def _options(hands: bool, face: bool, smoothing: float) -> Any:
    """The request's 0..1 smoothing as the One-Euro filter's cutoff: 0.5 is the extractor's default
    (1 Hz); each 0.5 step towards 1 divides the cutoff by 4 (smoother, more lag)."""
    from models.pose.extract import ExtractOptions

    return ExtractOptions(hands=hands, face=face, smoothing=smoothing > 0, min_cutoff=4.0 ** (1 - 2 * smoothing))


def _extract(ctx: JobContext, path: str, *, hands: bool, face: bool, smoothing: float) -> Iterator[Any]:
    """Poses of a video, streaming, with progress: yields Progress events, then the PoseSequence.
    What was filled in or dropped for missing people goes into the job's log."""
    from models.pose.extract import iter_poses
    from models.pose.keypoints import PoseSequence

    info = probe_video(path)
    total = info.frames or None
    events: list[Any] = []
    frames: list[Any] = []

    def work(emit: Callable[[Any], None]) -> Iterator[Any]:
        yield from iter_poses(iter_frames(path), info.fps, _options(hands, face, smoothing), total=total,
                              on_progress=lambda done, _total: emit(Progress(done, total or done, "")),
                              should_stop=ctx.should_stop, events=events)

    for item in pump(work):
        if isinstance(item, Progress):
            yield Progress(item.step, max(item.total, 1), f"extracting poses: frame {item.step}"
                                                          + (f"/{total}" if total else ""))
        else:
            frames.append(item)
    ctx.record.setdefault("pose_log", []).extend(str(e) for e in events)
    yield PoseSequence(frames, info.fps)


def run_extract_pose(req: ExtractPoseRequest, ctx: JobContext) -> Iterator[Event]:
    from models.pose.render import render_sequence

    seq = None
    for item in _extract(ctx, req.video, hands=req.hands, face=req.face, smoothing=req.smoothing):
        if isinstance(item, Progress):
            yield item
        else:
            seq = item
    assert seq is not None
    json_path = ctx.job_dir / "poses.json"
    _save_json(seq, json_path)
    if req.json_out:
        Path(req.json_out).parent.mkdir(parents=True, exist_ok=True)
        atomic_copy(json_path, Path(req.json_out))
    video = ctx.job_dir / "skeleton.mp4"
    write_video(video, render_sequence(seq, req.target), seq.fps, 16)
    found = sum(1 for f in seq.frames if f.people)
    ctx.record["extract_pose"] = {"frames": len(seq), "with_person": found, "json": json_path.name}
    yield Result(video, {"frames": len(seq), "fps": seq.fps, "frames_with_person": found, "json": str(json_path),
                         "log": ctx.record.get("pose_log", [])})


# ------------------------------------------------------------------------------------------ animation


def _size(req: PoseRequest, defaults: dict[str, Any]) -> tuple[int, int]:
    if req.resolution != "auto":
        width, height = (int(v) for v in req.resolution.split("x"))
        return width, height
    width, height = int(defaults.get("width", 1280)), int(defaults.get("height", 720))
    portrait = req.reference_array.shape[0] > req.reference_array.shape[1]
    return (min(width, height), max(width, height)) if portrait else (max(width, height), min(width, height))


def _resample(seq: Any, fps: float, frames: int) -> Any:
    """The motion at the model's frame rate (nearest frame), at most `frames` long."""
    from models.pose.keypoints import PoseSequence

    if not seq.frames:
        raise InputError("driving_video", "no frames with poses", "give a video in which a person is visible")
    count = min(frames, int((len(seq) - 1) / seq.fps * fps) + 1) if seq.fps > 0 else min(frames, len(seq))
    picks = [min(len(seq) - 1, round(i * seq.fps / fps)) for i in range(count)]
    return PoseSequence([seq.frames[i] for i in picks], fps), picks


def _wan_frames(available: int, wanted: int) -> int:
    """The largest 4k+1 frame count not above min(available, wanted)."""
    n = min(available, wanted)
    if n < 5:
        raise InputError("driving_video", f"only {available} frames of motion at the model's rate",
                         "give at least 5 frames (about 0.3 s at 16 fps)")
    return (n - 1) // 4 * 4 + 1


def _scaled_sequence(seq: Any, width: int, height: int, mode: str = "crop") -> Any:
    """Points moved from the driver's frame into the output frame (resized and centre-cropped as
    the reference is)."""
    from models.pose.keypoints import PoseFrame, PoseSequence

    out = []
    for frame in seq.frames:
        scale = max(width / frame.width, height / frame.height)
        dx, dy = (frame.width * scale - width) / 2, (frame.height * scale - height) / 2
        people = []
        for person in frame.people:
            p = person.copy()
            for arr in p.parts().values():
                arr[:, 0] = arr[:, 0] * scale - dx
                arr[:, 1] = arr[:, 1] * scale - dy
            people.append(p)
        out.append(PoseFrame(width, height, people))
    return PoseSequence(out, seq.fps)


def run_pose(req: PoseRequest, ctx: JobContext) -> Iterator[Event]:
    from models.imaging import resize_and_center_crop
    from models.pose.openpose_json import loads_openpose

    note = NOISE_NOTE if ctx.env.tiny else ""
    defaults = ctx.env.preset_for(req.preset_id).defaults
    width, height = _size(req, defaults)
    fps = float(defaults.get("fps", 16))
    wanted = req.frames or {"vace": int(defaults.get("frames", 81)), "animate": 241,
                            # [reference | N skeleton | N target]: the preset's 81 = 1 + 2 x 40
                            "frameprompt": (int(defaults.get("frames", 81)) - 1) // 2 + 1}[req.method]
    reference = resize_and_center_crop(req.reference_array, height, width)
    record = ctx.record["pose_animate"] = {"method": req.method, "preset": req.preset_id, "width": width, "height": height,
                                   "fps": fps, "motion": req.motion}

    # 1. motion -> a pose sequence at the model's rate, in the output frame
    skeleton_frames: list[np.ndarray] | None = None
    seq = driver = ref_pose = None
    if req.motion == "skeleton_video":
        skeleton_frames = [resize_and_center_crop(f, height, width) for f in iter_frames(req.skeleton_video)]
        info = probe_video(req.skeleton_video)
        picks = [min(len(skeleton_frames) - 1, round(i * info.fps / fps))
                 for i in range(int((len(skeleton_frames) - 1) / info.fps * fps) + 1)]
        count = _wan_frames(len(picks), wanted)
        skeleton_frames = [skeleton_frames[i] for i in picks[:count]]
        record["retargeted"] = False
    else:
        if req.motion == "pose_json":
            seq = loads_openpose(Path(req.pose_json).read_text(encoding="utf-8"), fps=fps, field="pose_json")
        else:
            for item in _extract(ctx, req.driving_video, hands=True, face=True, smoothing=0.5):
                if isinstance(item, Progress):
                    yield item
                else:
                    seq = item
        seq, picks = _resample(seq, fps, wanted)
        count = _wan_frames(len(seq), wanted)
        seq.frames, picks = seq.frames[:count], picks[:count]
        driver = seq  # in the driving video's own frame: the face crops are cut from it
        seq = _scaled_sequence(seq, width, height)
        ref_pose = _reference_pose(ctx, req.reference_array, width, height)
        record["retargeted"] = bool(req.retarget and ref_pose is not None)
        if req.retarget and ref_pose is None:
            ctx.record.setdefault("pose_log", []).append("no person found in the reference: retargeting skipped")
        if record["retargeted"]:
            from models.pose.retarget import retarget

            seq = retarget(seq, ref_pose, (width, height))
        _save_json(seq, ctx.job_dir / "poses.json")
    record.update(frames=count, log=ctx.record.get("pose_log", []))

    # 2. the skeleton video in the method's format (downloadable), and the puppet preview
    if skeleton_frames is None:
        from models.pose.render import render_sequence

        skeleton_frames = list(render_sequence(seq, RENDER_TARGET[req.method], (width, height)))
    skeleton_path = ctx.job_dir / "skeleton.mp4"
    write_video(skeleton_path, skeleton_frames, fps, 16)
    yield PartialVideo(skeleton_path, len(skeleton_frames), f"skeleton: {len(skeleton_frames)} frames at {fps:g} fps")
    if seq is not None and ref_pose is not None:
        from models.pose.puppet import puppet_frames

        preview = ctx.job_dir / "preview.mp4"
        write_video(preview, puppet_frames(reference, ref_pose, seq, RENDER_TARGET[req.method], retarget_first=False),
               fps, 23)
        record["preview"] = preview.name
        yield PartialVideo(preview, len(seq), "Preview: the reference moved along the skeleton (a puppet, "
                                              "not the model's video) — check alignment and timing")

    # 3. the method's loop
    face = None
    if req.method == "animate":
        from models.pose.render import face_crops

        face = list(face_crops(_picked(req.driving_video, picks), driver))
    yield Progress(0, 1, f"loading {req.method}")
    video = yield from forward_events(_run_method(req, ctx, reference, skeleton_frames, face, width, height, count,
                                                  note))
    path = ctx.job_dir / "video.mp4"
    write_video(path, video, fps, req.mp4_crf)
    yield Result(path, {"frames": int(video.shape[0]), "fps": fps, "seconds": video.shape[0] / fps,
                        "method": req.method, "skeleton": skeleton_path.name, "tiny_weights": ctx.env.tiny})


def _reference_pose(ctx: JobContext, image: np.ndarray, width: int, height: int) -> Any:
    """The reference character's own pose (for retargeting and the puppet) in the output frame, or
    None if no one is found. Found on the full-size upload (small outputs would hide the body), then
    moved by the same resize and centre crop as the image. Without the extractor installed (a Space)
    JSON motion still runs, unretargeted and without the puppet; the log says why."""
    from core.errors import MissingWeightsError
    from models.pose.extract import extract_image
    from models.pose.keypoints import PoseSequence

    try:
        frame = extract_image(image, hands=True, face=True)
    except MissingWeightsError as err:
        ctx.record.setdefault("pose_log", []).append(f"reference pose not found: {err}")
        return None
    if not frame.people:
        return None
    return _scaled_sequence(PoseSequence([frame], 1.0), width, height).frames[0].people[0]


def _save_json(seq: Any, path: Path) -> None:
    from models.pose.openpose_json import dumps_openpose

    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps_openpose(seq), encoding="utf-8")
    tmp.replace(path)


def _picked(path: str, picks: list[int]) -> Iterator[np.ndarray]:
    """The video's frames at the (non-decreasing) indices `picks`, streaming; repeats allowed."""
    wanted = iter(picks)
    target = next(wanted, None)
    for index, frame in enumerate(iter_frames(path)):
        while target is not None and target == index:
            yield frame
            target = next(wanted, None)
        if target is None:
            return


# ------------------------------------------------------------------------------------------ the methods' loops

# (loader, loop, params type, the plan's run options) as import paths, per method.
POSE_LOOPS = {
    "vace": ("models.wan.loading:load_components", "models.wan.vace:generate_vace", "models.wan.vace:VaceParams",
             "models.wan.profile:run_options"),
    "animate": ("models.wan.loading:load_components", "models.wan.animate:generate_animate",
                "models.wan.animate:AnimateParams", "models.wan.profile:run_options"),
    "frameprompt": ("models.frameprompt.weights:load_components", "models.frameprompt.pipeline:generate_frameprompt",
                    "models.frameprompt.pipeline:FramePromptParams", "models.wan.profile:run_options"),
}


def _method_params(req: PoseRequest, d: dict[str, Any], reference: np.ndarray, skeleton: np.ndarray,
                   face: np.ndarray | None, width: int, height: int) -> dict[str, Any]:
    """The loop's own parameters for this request (empty fields: the preset's values)."""
    common = dict(prompt=req.prompt, negative_prompt=req.negative_prompt, width=width, height=height,
                  steps=req.steps or int(d.get("steps", 50)), guidance=req.guidance or float(d.get("guidance", 5.0)),
                  shift=req.shift or (float(d["shift"]) if "shift" in d else None), seed=req.seed)
    if req.method == "vace":
        return {**common, "pose_video": skeleton, "reference_image": reference,
                "conditioning_scale": req.control_strength}
    if req.method == "animate":
        return {**common, "reference_image": reference, "pose_video": skeleton, "face_video": face,
                "segment_frames": int(d.get("frames", 77))}
    # FramePrompt's targets fill whole latent frames (N = 4k): the 4k+1 motion frames minus the last.
    return {**common, "reference": reference, "skeleton": skeleton[:-1], "causal": req.causal}


def _frameprompt_weights(req: PoseRequest) -> Any:
    from models.frameprompt.weights import FramePromptWeights

    weights = FramePromptWeights.from_spec(req.frameprompt_weights, req.lora_strength)
    if req.model_size == "1.3b" and weights.lora:
        raise InputError("frameprompt_weights", "a LoRA applies to the 14B base, but model size is 1.3b",
                         "give the full 1.3B FramePrompt checkpoint, or set model size to 14b")
    return weights


def _run_method(req: PoseRequest, ctx: JobContext, reference: np.ndarray, skeleton: list[np.ndarray],
                face: list[np.ndarray] | None, width: int, height: int, frames: int, note: str) -> Iterator[Any]:
    """One Wan-layer loop in the pump, through memory/ (`placed`)."""
    from models.registry import resolve_path

    load_path, generate_path, params_path, options_path = POSE_LOOPS[req.method]
    loader, generate, params_type, run_options = (resolve_path(p) for p in (load_path, generate_path, params_path,
                                                                            options_path))
    extra_key: tuple[str, ...] = ()
    if req.method == "frameprompt":
        from models.frameprompt.weights import loader as weights_loader

        weights = _frameprompt_weights(req)
        loader, extra_key = weights_loader(weights), weights.cache_key()
        ctx.record["frameprompt_weights"] = weights.describe()
    # Animate runs segment after segment: the plan's shape is one segment. FramePrompt's sequence is
    # [reference | N skeleton | N target], 1 + 2N frames.
    segment = int(ctx.env.preset_for(req.preset_id).defaults.get("frames", 77))
    planned = {"animate": min(frames, segment), "frameprompt": 1 + 2 * (len(skeleton) - 1)}.get(req.method, frames)
    with placed(ctx, req.preset_id, loader, width=width, height=height, frames=planned, fp8=fp8_components(req),
                extra_key=extra_key) as job:
        report = getattr(job.placement.get("transformer"), "frameprompt_lora_report", None)
        if report is not None:  # every key of the LoRA that did not load, by name, in the log and the UI
            ctx.record["lora"] = {"file": Path(report.path).name, "share_loaded": report.share,
                                  "unmatched": list(report.unmatched), "strength": report.strength}
            yield Progress(0, 1, report.summary())
        if face is not None:  # crops are cut at 512 (the released model's size); a tiny twin's is smaller
            side = int(getattr(job.placement.get("transformer").config, "motion_encoder_size", 512))
            face = [f if f.shape[0] == side else _resized(f, side) for f in face]
        values = _method_params(req, job.preset.defaults, reference, np.stack(skeleton),
                                None if face is None else np.stack(face), width, height)
        params = params_type(**values, **run_options(job.plan))
        yield from run_loop(job, generate, params, ctx, f"{req.method}{note}")


def _resized(image: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
