"""`python -m studio plan ...`: print the memory plan of a job without loading anything.

The lead wires `add_plan_arguments` / `run_plan` into `python -m studio`; both work on their own:

    parser = argparse.ArgumentParser(); add_plan_arguments(parser); sys.exit(run_plan(parser.parse_args()))
"""
from __future__ import annotations

import argparse
import json
import sys

from studio.errors import StudioError


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", required=True, help="preset id (a file name in presets/, e.g. framepack)")
    parser.add_argument("--width", type=int, default=None, help="output width in px (default: the preset's bucket)")
    parser.add_argument("--height", type=int, default=None, help="output height in px (default: the preset's bucket)")
    parser.add_argument("--seconds", type=float, default=None, help="video length (default: the preset's)")
    parser.add_argument("--vram", type=float, default=None,
                        help="GB of device memory to plan for (default: free memory of CUDA device 0)")
    parser.add_argument("--ram", type=float, default=None, help="GB of host RAM to plan for (default: available)")
    parser.add_argument("--preservation", type=float, default=None,
                        help="gpu_memory_preservation in GB: kept free of resident blocks (default: preset's, 6)")
    parser.add_argument("--reserve", type=float, default=1.0, help="GB of working memory kept free (default 1)")
    parser.add_argument("--pinned-cap", type=float, default=None, help="GB of pinned host memory (default: RAM/2)")
    parser.add_argument("--fp8", action="append", default=[], metavar="COMPONENT",
                        help="store this component's weights in fp8 (layerwise casting); repeatable")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON (top-level peak_vram_gb, peak_ram_gb)")


def run_plan(args: argparse.Namespace) -> int:
    """Prints the plan; 0 when it fits, 1 when it does not, 2 on bad input."""
    from memory.plan import load_preset, make_plan, format_plan

    try:
        preset = load_preset(args.preset)
        defaults = dict(preset.get("defaults") or {})
        if preset.get("tiny_of"):
            defaults = {**(load_preset(preset["tiny_of"]).get("defaults") or {}), **defaults}
        bucket = int(defaults.get("bucket", 640))
        plan = make_plan(
            preset, width=args.width or bucket, height=args.height or bucket,
            seconds=args.seconds if args.seconds is not None else float(defaults.get("seconds", 5.0)),
            vram_gb=args.vram, ram_gb=args.ram,
            gpu_memory_preservation_gb=(args.preservation if args.preservation is not None
                                        else float(defaults.get("gpu_memory_preservation", 6.0))),
            reserve_gb=args.reserve, pinned_cap_gb=args.pinned_cap, fp8=tuple(args.fp8),
        )
    except (StudioError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(format_plan(plan))
    return 0 if plan.fits else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memory.cli", description=__doc__.splitlines()[0])
    add_plan_arguments(parser)
    return run_plan(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
