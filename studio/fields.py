"""Each request parameter is declared once, here-style, on its request dataclass:

    steps: int = param(25, "int", "Steps", min=1, max=100, help="Denoising steps per section; ...")

The declaration (`Field`) carries the default, the range or choices, the label and the help text.
From it come the check in the request's `__post_init__` (`validate_fields`), the tab's control
(studio/ui/fields.py), the named endpoint's parameters (same names, the controls' values as
defaults) and the CLI flag (`add_cli_arguments`). Nothing else repeats a default or a range.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator, Literal

from studio.validation import (
    MAX_PROMPT_CHARS,
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_text,
)

Kind = Literal["int", "float", "bool", "choice", "text", "image", "video", "file", "json"]
MAX_SEED = 2**32 - 1
SPEC_KEY = "frame_studio_field"
ALIAS_SUFFIX = "__flag"


@dataclass(frozen=True)
class Field:
    kind: Kind
    label: str
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    lo_open: bool = False          # (min, max] instead of [min, max]
    optional: bool = False         # None is allowed (meaning: the preset's / method's default)
    fix: str | None = None         # the fix sentence of an error (generated from the range if None)
    lines: int = 1                 # text boxes
    max_chars: int = MAX_PROMPT_CHARS
    cli: tuple[str, ...] = ()      # extra CLI flag names (kept for scripts written before)
    positional: bool = False       # the CLI takes it as a positional argument
    preset_default: str | None = None  # this key of the job's preset defaults replaces `default`
    api: bool = True               # an input of the named endpoint
    multiple_of: int | None = None

    def fix_text(self, default: Any) -> str:
        if self.fix:
            return self.fix
        if self.kind in ("int", "float") and self.min is not None and self.max is not None:
            return f"use {_fmt(default)} (default), {_fmt(self.min)}–{_fmt(self.max)}" if default is not None \
                else f"use {_fmt(self.min)}–{_fmt(self.max)}"
        if self.kind == "choice":
            return f"use one of: {', '.join(self.choices)}"
        return "see the field's help"


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def param(default: Any, kind: Kind, label: str, help: str = "", **spec: Any) -> Any:
    """A dataclass field carrying its declaration (see the module docstring)."""
    return dataclasses.field(default=default, metadata={SPEC_KEY: Field(kind, label, help, **spec)})


def seed_param(default: int = 0, help: str = "Same seed + same settings = the same video. "
               "Change it to get a different result.") -> Any:
    return param(default, "int", "Seed", help, min=0, max=MAX_SEED, fix=f"use a whole number from 0 to {MAX_SEED}")


def declared(request_type: type) -> Iterator[tuple[str, Field, Any]]:
    """(name, Field, default) of every declared parameter, in declaration order."""
    for f in dataclasses.fields(request_type):
        spec = f.metadata.get(SPEC_KEY)
        if spec is not None:
            yield f.name, spec, f.default


def field_spec(request_type: type, name: str) -> Field:
    for field_name, spec, _ in declared(request_type):
        if field_name == name:
            return spec
    raise KeyError(f"{request_type.__name__} declares no parameter {name!r}")


def defaults(request_type: type, preset_defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Declared defaults, with `preset_default` keys taken from the preset's defaults when given."""
    out = {}
    for name, spec, default in declared(request_type):
        if spec.preset_default and preset_defaults and spec.preset_default in preset_defaults:
            default = preset_defaults[spec.preset_default]
        out[name] = default
    return out


def check_value(name: str, spec: Field, value: Any, default: Any) -> Any:
    """The value as its declared type, or InputError naming `name` and the fix."""
    if value is None and spec.optional:
        return None
    fix = spec.fix_text(default)
    if spec.kind == "int":
        lo = int(spec.min) if spec.min is not None else -(2**63)
        hi = int(spec.max) if spec.max is not None else 2**63 - 1
        number = as_int(name, value, lo, hi, fix=fix)
        if spec.multiple_of and number % spec.multiple_of:
            from core.errors import InputError

            raise InputError(name, f"{number} is not a multiple of {spec.multiple_of}", fix)
        return number
    if spec.kind == "float":
        lo = spec.min if spec.min is not None else float("-inf")
        hi = spec.max if spec.max is not None else float("inf")
        return as_float(name, value, lo, hi, lo_open=spec.lo_open, fix=fix)
    if spec.kind == "bool":
        return as_bool(name, value)
    if spec.kind == "choice":
        return as_choice(name, value, spec.choices)
    if spec.kind == "text":
        return as_text(name, value, max_chars=spec.max_chars)
    return value  # media and JSON fields are read and checked by the request itself


def validate_fields(request: Any) -> None:
    """Check and coerce every declared parameter of `request` in place (call from __post_init__)."""
    for name, spec, default in declared(type(request)):
        setattr(request, name, check_value(name, spec, getattr(request, name), default))


def values_from_settings(request_type: type, data: dict[str, Any], base_dir: Any) -> dict[str, Any]:
    """A request's declared parameters from settings.json: other keys dropped, media files (named
    relative to the job folder) made paths again. The request re-validates everything."""
    from pathlib import Path

    values = {}
    for name, spec, _ in declared(request_type):
        if name in data:
            value = data[name]
            if spec.kind in ("image", "video", "file") and value:
                value = str(Path(base_dir) / value)
            values[name] = value
    return values


def settings_of(request: Any) -> dict[str, Any]:
    """Every declared parameter's value (media fields as they are; the request maps those)."""
    return {name: getattr(request, name) for name, _, _ in declared(type(request))}


# ------------------------------------------------------------------------------------------ CLI


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_cli_arguments(parser: argparse.ArgumentParser, request_type: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per declared parameter (`--total-second-length`, plus its declared aliases); every
    flag defaults to None so that an unset flag means the declared (or preset) default."""
    for name, spec, default in declared(request_type):
        if name in skip:
            continue
        help_text = spec.help or spec.label
        shown = default if not (spec.preset_default and default is not None) else f"the preset's, {default}"
        if spec.kind not in ("image", "video", "file", "json") and shown is not None:
            help_text += f" (default {_fmt(shown)})"
        help_text = help_text.replace("%", "%%")
        kwargs: dict[str, Any] = {"default": None, "help": help_text}
        if spec.kind == "int":
            kwargs["type"] = int
        elif spec.kind == "float":
            kwargs["type"] = float
        elif spec.kind == "choice":
            kwargs["choices"] = list(spec.choices)
        elif spec.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        if spec.positional:
            # `long-video IMAGE` and the older `--image IMAGE` both work (the flag has its own dest:
            # an absent positional would otherwise overwrite it).
            parser.add_argument(name, nargs="?", **kwargs)
            parser.add_argument(flag(name), *spec.cli, dest=name + ALIAS_SUFFIX, metavar=name.upper(), **kwargs)
            continue
        parser.add_argument(flag(name), *spec.cli, dest=name, **kwargs)


def request_kwargs_from_cli(args: argparse.Namespace, request_type: type,
                            preset_defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The request's keyword arguments from parsed flags: set flags, else preset defaults."""
    values = defaults(request_type, preset_defaults)
    for name in values:
        given = getattr(args, name, None)
        if given is None:
            given = getattr(args, name + ALIAS_SUFFIX, None)
        if given is not None:
            values[name] = given
    return values
