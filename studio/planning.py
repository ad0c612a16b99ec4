"""Memory plans for presets: preset -> family profile + components -> memory.make_plan.

memory/ plans from a profile and component sizes alone; this is where a preset id becomes those.
Used by jobs (studio/tasks/placed.py), the tabs' plan panels and `python -m studio plan`.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Mapping

from core.errors import InputError, StudioError
from studio.presets import Preset, get_preset, load_presets

FULL_MODEL = "plan for the full model"
FULL_MODEL_NOTE = FULL_MODEL + " {full!r} (tiny mode runs tiny weights {tiny!r}, which this plan does not cover)"
_VERDICTS = {": DOES NOT FIT": ": the full model DOES NOT FIT here", ": fits": ": the full model fits here"}


def plan_for(preset: Preset | str, width: int, height: int, seconds: float | None = None,
             vram_gb: float | None = None, ram_gb: float | None = None,
             gpu_memory_preservation_gb: float = 6.0, *, frames: int | None = None,
             modules: Mapping[str, Any] | None = None, presets: dict[str, Preset] | None = None,
             **options: Any) -> Any:  # -> memory.plan.MemoryPlan
    """The plan of one job of `preset`. `modules` (loaded components, e.g. a tiny kit's) replace the
    stored configs as the source of sizes; a tiny preset without them is planned as its parent's
    full-size model and the plan says so. Other keywords go to `memory.make_plan`."""
    from memory.plan import make_plan
    from models.registry import get_family

    if isinstance(preset, str):
        preset = get_preset(preset, presets)
    all_presets = presets if presets is not None else load_presets()
    notes: list[str] = list(options.pop("notes", ()))
    source = preset
    if preset.is_tiny and not modules:
        # Without the twin's built modules there are no tiny sizes to plan: plan (and name) the
        # full model, which is what the user will run later, and say so first.
        source = all_presets[preset.tiny_of]
        notes.insert(0, FULL_MODEL_NOTE.format(full=source.id, tiny=preset.id))
    components: Mapping[str, Any] = modules if modules else source.raw.get("components", {})
    if source.components:
        profile = get_family(preset.family).profile
    else:
        from memory.profile import weightless_profile

        profile = weightless_profile(preset.family)
    family_options = {k: source.defaults[k] for k in profile.preset_options if k in source.defaults}
    options["options"] = {**family_options, **(options.get("options") or {})}
    window = options.pop("window", None)
    if window is None and source.defaults.get("latent_window_size"):
        window = int(source.defaults["latent_window_size"])
    return make_plan(profile, components, width, height, seconds, vram_gb, ram_gb, gpu_memory_preservation_gb,
                     frames=frames, window=window, label=source.id, notes=tuple(notes), **options)


def plan_text(plan: Any) -> str:
    """`format_plan`, except that a full model's plan standing in for its tiny twin says so on its
    first line and words its verdict as the full model's (the tiny run itself is far smaller)."""
    from memory.plan import format_plan

    text = format_plan(plan)
    stand_in = next((n for n in plan.notes if n.startswith(FULL_MODEL)), None)
    if stand_in is None:
        return text
    lines = [line for line in text.splitlines() if line.strip() != f"note: {stand_in}"]  # it heads the text
    for i, line in enumerate(lines):
        if line.lstrip().startswith("peak VRAM"):
            for verdict, worded in _VERDICTS.items():
                if line.endswith(verdict):
                    lines[i] = line[: -len(verdict)] + worded
    return "\n".join([stand_in, *lines])


# ------------------------------------------------------------------------------------------ CLI


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", required=True, help="preset id (a file name in presets/, e.g. framepack)")
    parser.add_argument("--width", type=int, default=None, help="output width in px (default: the preset's)")
    parser.add_argument("--height", type=int, default=None, help="output height in px (default: the preset's)")
    parser.add_argument("--seconds", type=float, default=None, help="video length (default: the preset's)")
    parser.add_argument("--frames", type=int, default=None, help="video length in frames (instead of --seconds)")
    parser.add_argument("--vram", type=float, default=None,
                        help="GB of device memory to plan for (default: free memory of CUDA device 0)")
    parser.add_argument("--ram", type=float, default=None, help="GB of host RAM to plan for (default: available)")
    parser.add_argument("--preservation", type=float, default=None,
                        help="gpu_memory_preservation in GB: kept free of resident blocks (default: preset's, 6)")
    parser.add_argument("--reserve", type=float, default=1.0, help="GB of working memory kept free (default 1)")
    parser.add_argument("--pinned-cap", type=float, default=None, help="GB of pinned host memory (default: RAM/2)")
    parser.add_argument("--fp8", action="append", default=[], metavar="COMPONENT",
                        help="store this component's weights in fp8 (layerwise casting); repeatable")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a family memory option, e.g. chunked=true (Wan); repeatable")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON (top-level peak_vram_gb, peak_ram_gb)")


def _option_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def run_plan(args: argparse.Namespace) -> int:
    """Prints the plan; 0 when it fits, 1 when it does not, 2 on bad input."""
    try:
        preset = get_preset(args.preset)
        d = preset.defaults
        width = args.width or int(d.get("width", d.get("bucket", 640)))
        height = args.height or int(d.get("height", d.get("bucket", 640)))
        frames = args.frames if args.frames is not None else (None if args.seconds is not None else d.get("frames"))
        seconds = args.seconds if args.seconds is not None else (None if frames is not None
                                                                   else float(d.get("seconds", 5.0)))
        options = {}
        for item in args.option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise InputError("--option", f"{item!r} is not KEY=VALUE", "write e.g. --option chunked=true")
            options[key.strip()] = _option_value(value)
        preservation = (args.preservation if args.preservation is not None
                        else float(d.get("gpu_memory_preservation", 6.0)))
        plan = plan_for(preset, width, height, seconds, args.vram, args.ram, preservation, frames=frames,
                        reserve_gb=args.reserve, pinned_cap_gb=args.pinned_cap, fp8=tuple(args.fp8),
                        options=options)
    except (StudioError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(plan.to_dict(), indent=2) if args.json else plan_text(plan))
    return 0 if plan.fits else 1
