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
        elif isinstance(component, gr.Checkbox):
            fix = "use true or false"
        elif getattr(component, "minimum", None) is not None and getattr(component, "maximum", None) is not None:
            fix = f"use a number from {component.minimum:g} to {component.maximum:g}"
        elif isinstance(component, gr.Number):
            fix = "use a number" + (f" of at least {component.minimum:g}" if component.minimum is not None else "")
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


class FieldNumber(gr.Number):
    is_template = True
    # An optional number (None = the model's value): the browser shows and sends an empty box as 0,
    # which such fields never accept as a value (their declared minimum is above 0): 0 means "empty".
    empty_is_default = False

    def preprocess(self, payload: Any) -> Any:
        if self.empty_is_default and payload in (None, "", 0):
            return None
        return _named(self, payload, super().preprocess)


class FieldCheckbox(gr.Checkbox):
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


# ------------------------------------------------------------------------------------------ controls


class Controls:
    """The tab's input components, made from the request's declarations.

    A layout module places them: `c = Controls(LongVideoRequest, defaults)`, then `c("prompt")` where
    the prompt box goes. `c.missing()` lists declared parameters the layout forgot (a test checks
    every tab has none); `c.api(names)` is the `inputs_kwargs` of a named endpoint, so the endpoint's
    parameter names are the field names and its defaults are the controls' values."""

    def __init__(self, request_type: type, defaults: dict[str, Any]) -> None:
        from studio.fields import declared

        self.request_type = request_type
        self.specs = {name: spec for name, spec, _ in declared(request_type)}
        self.defaults = defaults
        self.made: dict[str, gr.components.Component] = {}

    def __call__(self, name: str, **overrides: Any) -> gr.components.Component:
        spec = self.specs[name]
        if name in self.made:
            raise ValueError(f"control {name!r} is placed twice")
        component = api_field(make_control(spec, self.defaults.get(name), **overrides), name)
        if spec.kind in ("image", "video", "json", "file") and spec.help:
            gr.Markdown(f"<small>{spec.help}</small>", elem_classes=["field-help"])
        self.made[name] = component
        return component

    def share(self, name: str, component: gr.components.Component) -> None:
        """Use a control another request's Controls already placed (one upload box serving two
        endpoints, e.g. the driving video of /pose_animate and /extract_pose)."""
        if name in self.made:
            raise ValueError(f"control {name!r} is placed twice")
        self.made[name] = component

    def missing(self) -> list[str]:
        return [n for n, s in self.specs.items() if s.api and n not in self.made]

    def api(self, names: list[str] | None = None) -> dict[str, gr.components.Component]:
        names = names if names is not None else [n for n, s in self.specs.items() if s.api]
        return {n: self.made[n] for n in names}

    def endpoint(self, fn: Any, names: list[str] | None = None) -> tuple[Any, dict[str, gr.components.Component]]:
        """(`fn` with the parameters `names` in its signature, their controls as `inputs_kwargs`).

        gradio reads a parameter's optionality from the signature when a control starts empty
        (images, videos): declaring them here makes `end_frame` optional for API callers, as the
        request declares. `fn(**values)` keeps any gradio special parameters it has (progress)."""
        import inspect

        inputs = self.api(names)
        own = [p for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD]
        params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=self.defaults.get(n))
                  for n in inputs] + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        if inspect.isgeneratorfunction(fn):  # gradio streams only what is a generator function
            def call(**kwargs: Any) -> Any:
                yield from fn(**kwargs)
        else:
            def call(**kwargs: Any) -> Any:
                return fn(**kwargs)
        call.__name__ = call.__qualname__ = fn.__name__
        call.__doc__ = fn.__doc__
        call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return call, inputs


def make_control(spec: Any, value: Any, **overrides: Any) -> gr.components.Component:
    """The gradio component for one declared parameter (label, help as `info`, range, choices)."""
    kind = spec.kind
    # Media components have no `info` line: Controls puts their help under them.
    media = kind in ("image", "video", "json", "file")
    common: dict[str, Any] = {"label": spec.label, **({"info": spec.help} if spec.help and not media else {})}

    if "choices" in overrides:  # a layout may offer a short list of sensible values instead of a range
        return FieldDropdown(**{**common, "value": value, **overrides})
    # An optional number left empty means "the model's value": a slider cannot be empty, a number box can.
    # (Only where 0 is not a value of its own: then the box's 0 can stand for "empty".)
    empty = value is None and getattr(spec, "optional", False) and spec.min is not None and spec.min > 0
    if kind in ("int", "float") and spec.min is not None and spec.max is not None and spec.max - spec.min <= 1e6 \
            and not empty:
        step = spec.step or (1 if kind == "int" else 0.01)
        kwargs = {**common, "minimum": spec.min, "maximum": spec.max, "step": step,
                  "value": value if value is not None else spec.min}
        return FieldSlider(**{**kwargs, **overrides})
    if kind in ("int", "float"):
        kwargs = {**common, "value": value, "precision": 0 if kind == "int" else None}
        if empty:  # the browser shows an empty number box as 0: say what 0 means (the request checks the range)
            kwargs.update(label=f"{spec.label} (0 = the model's)", minimum=0)
        elif spec.min is not None:
            kwargs["minimum"] = spec.min
        if spec.max is not None:
            kwargs["maximum"] = spec.max
        number = FieldNumber(**{**kwargs, **overrides})
        number.empty_is_default = empty
        return number
    if kind == "bool":
        return FieldCheckbox(**{**common, "value": bool(value), **overrides})
    if kind == "choice":
        cls = FieldRadio if len(spec.choices) <= 4 else FieldDropdown
        return cls(**{**common, "choices": list(spec.choices), "value": value, **overrides})
    if kind == "text":
        return gr.Textbox(**{**common, "value": value or "", "lines": spec.lines, **overrides})
    if kind == "image":
        # type="filepath": our validation reads the header first (size limits, modes, corrupt
        # files) and names the field; gradio would decode any size eagerly.
        return FieldImage(**{**common, "type": "filepath", "sources": ["upload", "clipboard"], **overrides})
    if kind == "video":
        return FieldVideo(**{**common, "sources": ["upload"], "include_audio": True, **overrides})
    if kind == "json":
        return gr.Code(**{**common, "language": "json", "value": value, **overrides})
    return gr.File(**{**common, **overrides})


def settings_loader(controls: Controls):
    """`load_settings` of a TabHandle: a past job's request values for `controls.api()`, in order;
    media fields name files in the job folder (missing ones load as empty)."""
    from pathlib import Path

    def load(settings: dict[str, Any], base: Path) -> list[Any]:
        values = []
        for name, component in controls.api().items():
            value = settings.get(name, controls.defaults.get(name))
            if controls.specs[name].kind in ("image", "video", "file") and value:
                value = str(Path(base) / value) if (Path(base) / value).exists() else None
            values.append(value)
        return values

    return load
