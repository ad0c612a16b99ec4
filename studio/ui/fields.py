"""Input components whose own checks name the API field and the fix.

gradio's Slider/Dropdown/Radio reject out-of-range values in `preprocess` with messages such as
"Value 17 is greater than maximum value 16." that do not say which parameter was wrong; API users
see only that. These subclasses re-raise the same rejection with the field name and a fix. They
render with the parent's frontend (`is_template`).
"""
from __future__ import annotations

from typing import Any

import gradio as gr


def _named(component: gr.components.Component, payload: Any, parent_preprocess) -> Any:
    try:
        return parent_preprocess(payload)
    except Exception as err:
        field = getattr(component, "api_field", None) or component.label or "value"
        if isinstance(component, gr.Image):
            fix = "upload a PNG, JPEG or WebP image"
        elif isinstance(component, gr.Video):
            fix = "upload a video file (mp4, mov, webm, mkv, avi, gif)"
        elif hasattr(component, "minimum"):
            fix = f"use a number from {component.minimum:g} to {component.maximum:g}"
        else:
            fix = "use one of: " + ", ".join(str(c[1] if isinstance(c, tuple) else c) for c in component.choices)
        raise gr.Error(f"{field}: {payload!r} is not accepted ({err}) — {fix}", title=f"Check '{field}'") from None


class FieldSlider(gr.Slider):
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return _named(self, payload, super().preprocess)


class FieldDropdown(gr.Dropdown):
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return _named(self, payload, super().preprocess)


class FieldRadio(gr.Radio):
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return _named(self, payload, super().preprocess)


def api_field(component: gr.components.Component, name: str) -> gr.components.Component:
    """Tag a component with the API parameter name its errors should mention."""
    component.api_field = name
    return component


class FieldImage(gr.Image):
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return _named(self, payload, super().preprocess)


class FieldVideo(gr.Video):
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return _named(self, payload, super().preprocess)
