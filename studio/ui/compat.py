"""FramePack-compatible outputs for `/process`.

FramePack users' batch scripts read `result[0]["video"]`; gradio 6's client returns a plain
gr.Video as a bare path string, so `/process` uses this Video whose API value is a dict
`{"video": path, "subtitles": None}` like gradio 4's, while the browser still sees a video.
"""
from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.data_classes import FileData, GradioModel


class VideoWithSubtitles(GradioModel):
    video: FileData
    subtitles: FileData | None = None


class FramePackVideo(gr.Video):
    data_model = VideoWithSubtitles
    is_template = True  # rendered by gradio's own Video frontend

    def postprocess(self, value: Any) -> VideoWithSubtitles | None:
        file_data = super().postprocess(value)
        if file_data is None:
            return None
        return VideoWithSubtitles(video=file_data, subtitles=None)

    def api_info(self) -> dict[str, Any]:
        return VideoWithSubtitles.model_json_schema()
