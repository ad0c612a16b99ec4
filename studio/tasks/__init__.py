"""The task registry: one line per task. UI tabs, API endpoints and CLI subcommands come from it."""
from __future__ import annotations

from studio.tasks.base import JobContext, TaskSpec
from studio.tasks.first_last import FirstLastRequest, run_first_last
from studio.tasks.frame_inout import FrameInOutRequest, run_frame_inout
from studio.tasks.interpolate import InterpolateRequest, run_interpolate
from studio.tasks.long_video import run_long_video
from studio.tasks.long_video_request import LongVideoRequest
from studio.tasks.pose import (
    ExtractPoseRequest,
    PoseRequest,
    run_extract_pose,
    run_pose,
)


def _interpolation_uses_weights(request: InterpolateRequest) -> bool:
    return request.method != "flow"  # flow is optical flow on the CPU: no weights, real under --tiny


def all_tasks() -> dict[str, TaskSpec]:
    tasks = [
        TaskSpec("long_video", "Long video", LongVideoRequest, run_long_video, "studio.ui.tabs.long_video",
                 "FramePack long video (same as /long_video)"),
        TaskSpec("first_last", "First–last frame", FirstLastRequest, run_first_last, "studio.ui.tabs.first_last",
                 "first and last frame (or two clips to bridge) -> video (same as /first_last)"),
        TaskSpec("pose_animate", "Pose animation", PoseRequest, run_pose, "studio.ui.tabs.pose",
                 "reference image + driving video / skeleton / OpenPose JSON -> animation (same as /pose_animate)",
                 cli_aliases=("pose",)),
        TaskSpec("extract_pose", "Pose extraction", ExtractPoseRequest, run_extract_pose, "",
                 "video -> skeleton video + OpenPose JSON, offline on the CPU (same as /extract_pose)",
                 uses_weights=lambda request: False),  # mediapipe's bundled models, never tiny
        TaskSpec("frame_inout", "Frame In/Out", FrameInOutRequest, run_frame_inout, "studio.ui.tabs.frame_inout",
                 "image on a larger canvas + trajectories (JSON) + identity -> objects enter / leave the frame "
                 "(same as /frame_inout)"),
        TaskSpec("interpolate", "Interpolation", InterpolateRequest, run_interpolate, "studio.ui.tabs.interpolation",
                 "2x–16x frame interpolation (same as /interpolate)", uses_weights=_interpolation_uses_weights),
    ]
    return {t.name: t for t in tasks}


__all__ = ["JobContext", "TaskSpec", "all_tasks"]
