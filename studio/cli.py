"""`python -m studio`: one subcommand per task, plus rerun, plan, models and download.

Each task subcommand builds the same request type the UI and API build, and runs it through the
same runner, so a CLI job leaves the same job folder and settings.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from core.errors import JobStopped, StudioError
from studio.env import StudioEnv
from studio.events import PartialVideo, Preview, Progress, Result
from studio.fields import add_cli_arguments, request_kwargs_from_cli


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", type=Path, default=Path("outputs"), help="job folders go here (default ./outputs)")
    parser.add_argument("--models-dir", type=Path, default=None, help="folder with <owner>/<repo>/ model folders")
    parser.add_argument("--tiny", action="store_true", help="use tiny random weights (output is noise)")
    parser.add_argument("--offline", action="store_true", help="never touch the network")


def _env(args: argparse.Namespace) -> StudioEnv:
    return StudioEnv(outputs=args.outputs, models_dir=args.models_dir, tiny=args.tiny, offline=args.offline)


def _copy_result(result: Result, out: str | None) -> Path:
    """Copy the result to `out`: a file path, or a folder when it ends with / or exists as one."""
    src = Path(result.video)
    if out is None:
        return src
    as_folder = out.endswith(("/", os.sep))
    out = Path(out)
    if src.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted(src.iterdir()):
            shutil.copy2(f, out / f.name)
        return out
    if as_folder or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        out = out / src.name
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, out)
    return out


def run_with_console(spec_name: str, request: Any, env: StudioEnv, out: str | None) -> int:
    """Drive a job with a tqdm bar; print partial and final paths. Ctrl-C stops cooperatively."""
    from tqdm import tqdm

    from studio.runner import run_job
    from studio.tasks import all_tasks

    spec = all_tasks()[spec_name]
    stop = threading.Event()
    bar = None
    try:
        for event in run_job(spec, request, env, stop=stop):
            if isinstance(event, Progress):
                if bar is None or bar.total != event.total:
                    bar = tqdm(total=event.total, desc=event.desc or spec.title, file=sys.stderr)
                bar.n = event.step
                bar.set_description(event.desc or spec.title)
                bar.refresh()
            elif isinstance(event, PartialVideo):
                print(f"partial: {event.path} ({event.frames} frames)", file=sys.stderr)
            elif isinstance(event, Preview):
                pass
            elif isinstance(event, Result):
                if bar:
                    bar.close()
                final = _copy_result(event, out)
                print(f"job folder: {Path(event.video).parent}")
                print(f"result: {final}")
                if env.tiny:
                    print("note: tiny random weights were used; the video is noise, not a result.")
    except KeyboardInterrupt:
        stop.set()
        print("stopped; finished parts are kept in the job folder", file=sys.stderr)
        return 130
    except JobStopped as err:
        print(f"stopped: {err}", file=sys.stderr)
        return 130
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


# --- task subcommands: one per registry entry, flags generated from the request's declarations --

def _add_tasks(sub: argparse._SubParsersAction) -> None:
    from studio.tasks import all_tasks

    for spec in all_tasks().values():
        request_type = spec.request_type
        p = sub.add_parser(spec.name.replace("_", "-"), help=spec.cli_help or spec.title, aliases=list(spec.cli_aliases))
        # A request may take CLI-only adjustments (e.g. --out FOLDER/ -> PNG frames) in `from_cli`.
        add_cli_arguments(p, request_type, skip=tuple(getattr(request_type, "cli_skip", ())))
        if hasattr(request_type, "add_cli_extras"):  # CLI-only shorthands, read back in `from_cli`
            request_type.add_cli_extras(p)
        p.add_argument("--out", default=None, help=getattr(request_type, "cli_out_help",
                                                            "copy the result here (file or folder/)"))
        _common(p)
        p.set_defaults(handler=lambda args, spec=spec: _run_task(spec, args))


def _run_task(spec: Any, args: argparse.Namespace) -> int:
    env = _env(args)
    request_type = spec.request_type
    preset = getattr(request_type, "defaults_preset", None)
    values = request_kwargs_from_cli(args, request_type, env.preset_for(preset).defaults if preset else None)
    if hasattr(request_type, "from_cli"):
        values = request_type.from_cli(values, args)
    return run_with_console(spec.name, request_type(**values), env, args.out)


# --- rerun, models, plan ---------------------------------------------------------------------

def _add_rerun(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rerun", help="run a past job again from its settings.json")
    p.add_argument("settings", type=Path, help="path/to/settings.json (or its job folder)")
    p.add_argument("--out", default=None, help="copy the result here (file or folder/)")
    _common(p)
    p.set_defaults(handler=_run_rerun)


def _run_rerun(args: argparse.Namespace) -> int:
    from studio.outputs import read_settings
    from studio.runner import rerun_request
    from studio.tasks import all_tasks

    settings = read_settings(args.settings)
    env = _env(args)
    env.tiny = env.tiny or bool(settings.get("tiny_weights"))
    spec, request = rerun_request(all_tasks(), args.settings)
    return run_with_console(spec.name, request, env, args.out)


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list presets and whether their weights are here")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(handler=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from studio.models_status import preset_rows

    rows = preset_rows(_env(args))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['preset']:<22} {row['state']:<8} {row['size_gb']:>7.2f} GB  {row['where'] or '-':<10} {row['repos']}")
    return 0


def _add_plan(sub: argparse._SubParsersAction) -> None:
    from studio.planning import add_plan_arguments, run_plan

    p = sub.add_parser("plan", help="print the memory plan for a preset (no weights needed)")
    add_plan_arguments(p)
    p.set_defaults(handler=run_plan)


SUBCOMMANDS: Sequence[Callable[[argparse._SubParsersAction], None]] = (
    _add_tasks, _add_rerun, _add_models, _add_plan,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio", description="Frame Studio command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
