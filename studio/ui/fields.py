"""Input components whose own checks name the API field and the fix.

gradio's Slider/Dropdown/Radio reject out-of-range values in `preprocess` with messages such as
"Value 17 is greater than maximum value 16." that do not say which parameter was wrong; API users
see only that. These subclasses re-raise the same rejection with the field name and a fix. They
render with the parent's frontend (`is_template`).

Number controls made by `Controls` also run the request's own check of their declared field first
(`field_check`), so a bad value gets the very sentence the request, the API and the CLI give ("seed:
'abc' is not a number — use a whole number from 0 to 4294967295"), and image uploads are checked
from their header before gradio converts them. gradio's slider clamps a typed out-of-range value
silently when its number box loses focus; `_KEEP_OUT_OF_RANGE` stops that in the browser, and the
value is refused by name on leaving the box and again at Start.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from core.errors import InputError
from studio.ui.errors import refused, user_error
from studio.validation import IMAGE_FIX, check_image_header


def _field_name(component: gr.components.Component) -> str:
    return getattr(component, "api_field", None) or component.label or "value"


def _refuse(err: InputError) -> gr.Error:
    return refused(err)


def _num(value: float) -> str:
    """4294967295, not 4.29497e+09; 0.05, not 0.05000000001."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _shown(payload: Any) -> str:
    """The value as a user knows it: an upload by its file name, never a FileData repr."""
    name = getattr(payload, "orig_name", None) or (Path(payload.path).name if getattr(payload, "path", None) else None)
    text = repr(name) if name else repr(payload)
    return text if len(text) <= 80 else text[:77] + "..."


def _named(component: gr.components.Component, payload: Any, parent_preprocess) -> Any:
    field = _field_name(component)
    try:
        return parent_preprocess(payload)
    except gr.Error as err:
        if str(getattr(err, "message", err)).startswith(f"{field}: "):
            raise
    except Exception:  # gradio's own reasons name no field ("'<' not supported between ...")
        pass
    if isinstance(component, gr.Image):
        fix = IMAGE_FIX
    elif isinstance(component, gr.Video):
        fix = "upload a video file (mp4, mov, webm, mkv, avi, gif)"
    elif isinstance(component, gr.Checkbox):
        fix = "use true or false"
    elif getattr(component, "minimum", None) is not None and getattr(component, "maximum", None) is not None:
        fix = f"use a number from {_num(component.minimum)} to {_num(component.maximum)}"
    elif isinstance(component, gr.Number):
        fix = "use a number" + (f" of at least {_num(component.minimum)}" if component.minimum is not None else "")
    else:
        fix = "use one of: " + ", ".join(str(c[1] if isinstance(c, tuple) else c) for c in component.choices)
    raise user_error(f"{field}: {_shown(payload)} is not accepted — {fix}", field)


def _checked(component: gr.components.Component, payload: Any) -> Any:
    """The request's own check of the declared field (set by Controls), as the control's refusal."""
    check = getattr(component, "field_check", None)
    if check is None or payload is None:
        return payload
    try:
        return check(payload)
    except InputError as err:
        raise _refuse(err) from None


class FieldSlider(gr.Slider):
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return _named(self, _checked(self, payload), super().preprocess)


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
        return _named(self, _checked(self, payload), super().preprocess)


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
        path = getattr(payload, "path", None)
        if path and not (getattr(payload, "url", None) or "").startswith("data:"):
            # Header first (a 20 KB PNG can claim 13000x13000), then the file as uploaded: gradio
            # would convert it to RGB (and drop its alpha) before any check; as_image reads it,
            # applies its EXIF orientation and converts it the same way for UI, API and CLI.
            try:
                check_image_header(_field_name(self), path)
            except InputError as err:
                raise _refuse(err) from None
            return str(path)
        return _named(self, payload, super().preprocess)


class FieldVideo(gr.Video):
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return _named(self, payload, super().preprocess)


# ------------------------------------------------------------------------------------------ controls


# gradio's slider clamps its number box to [min, max] on blur without a word (500 s became 120 s).
# A capture-phase blur listener (installed on page load) sees the event first: out of range, it
# keeps the value (outlined), stops gradio's clamp and sends a `release` event, whose check names
# the field; Start refuses the value too.
_KEEP_OUT_OF_RANGE = """() => {
  if (window.__frameStudioKeepsRange) return [];
  window.__frameStudioKeepsRange = true;
  document.addEventListener("blur", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "number"
        || !(box.getAttribute("aria-label") || "").startsWith("number input for ")) return;
    if (!box.validity.rangeOverflow && !box.validity.rangeUnderflow) { box.style.outline = ""; return; }
    event.stopImmediatePropagation();
    box.style.outline = "2px solid var(--error-text-color, #dc2626)";
    box.dispatchEvent(new Event("pointerup", {bubbles: true}));
  }, true);
  return [];
}"""


def _accepted(value: Any) -> None:
    """Nothing to do: the control's preprocess has already refused a bad value by name."""


def checks_in_browser(component: gr.components.Component, name: str, spec: Any, default: Any) -> None:
    """The request's check of `name` as the control's own (see FieldSlider/FieldNumber), run when
    the user leaves the control, before Start (call inside the tab's Blocks)."""
    from studio.fields import check_value

    component.field_check = lambda value: check_value(name, spec, value, default)
    quiet = {"api_visibility": "private", "show_progress": "hidden", "queue": False}
    if isinstance(component, FieldSlider):
        root = gr.context.Context.root_block
        if root is not None and not getattr(root, "keeps_out_of_range", False):  # once per page, on load
            root.keeps_out_of_range = True
            root.load(None, None, None, js=_KEEP_OUT_OF_RANGE, **quiet)
        component.release(_accepted, component, None, **quiet)
    else:
        component.blur(_accepted, component, None, **quiet)


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
        if spec.kind in ("int", "float") and isinstance(component, (FieldSlider, FieldNumber)):
            checks_in_browser(component, name, spec, self.defaults.get(name))
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
        import typing

        inputs = self.api(names)
        own = [p for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD]
        # gradio injects special parameters (gr.Request, gr.Progress) only into positional ones: they
        # stay first and positional, the declared fields follow as keywords.
        params = own + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=self.defaults.get(n))
                        for n in inputs]
        if inspect.isgeneratorfunction(fn):  # gradio streams only what is a generator function
            def call(*args: Any, **kwargs: Any) -> Any:
                yield from fn(*args, **kwargs)
        else:
            def call(*args: Any, **kwargs: Any) -> Any:
                return fn(*args, **kwargs)
        call.__name__ = call.__qualname__ = fn.__name__
        call.__doc__ = fn.__doc__
        call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        # gradio finds gr.Request / gr.EventData parameters by their type hints.
        call.__annotations__ = {k: v for k, v in typing.get_type_hints(fn).items() if k != "return"}
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

    from studio.outputs import job_file

    def load(settings: dict[str, Any], base: Path) -> list[Any]:
        values = []
        for name, component in controls.api().items():
            value = settings.get(name, controls.defaults.get(name))
            if controls.specs[name].kind in ("image", "video", "file") and value:
                found = job_file(Path(base), value)  # never a path outside the job folder
                value = str(found) if found else None
            values.append(value)
        return values

    return load
