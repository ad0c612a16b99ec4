"""`python -m studio`: one subcommand per task, plus rerun, plan, models and download.

Each task subcommand builds the same request type the UI and API build, and runs it through the
same runner, so a CLI job leaves the same job folder and settings.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from core.errors import InputError, JobStopped, StudioError
from studio.env import StudioEnv
from studio.events import PartialVideo, Preview, Progress, Result
from studio.fields import add_cli_arguments, request_kwargs_from_cli
from studio.outputs import atomic_copy


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", type=Path, default=Path("outputs"), help="job folders go here (default ./outputs)")
    parser.add_argument("--models-dir", type=Path, default=None, help="folder with <owner>/<repo>/ model folders")
    parser.add_argument("--tiny", action="store_true",
                        help="use tiny random weights (model output is noise; flow interpolation and pose "
                             "extraction use no weights and stay real)")
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
            atomic_copy(f, out / f.name, what="the --out folder's disk")
        return out
    if as_folder or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        out = out / src.name
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_copy(src, out, what="the --out folder's disk")
    return out


class ConsoleProgress:
    """Progress on stderr: a tqdm bar on a terminal; without one (a pipe, a log file) one plain
    `progress: <what>: <step>/<total>` line per new update, since redraws become garbage there."""

    def __init__(self, title: str, stream: Any = None) -> None:
        self.title = title
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_terminal(self.stream)
        self._bar: Any = None
        self._last: tuple[str, int, int] | None = None

    def update(self, event: Progress) -> None:
        desc = event.desc or self.title
        if (desc, event.step, event.total) == self._last:
            return  # the same update again: print it once
        self._last = (desc, event.step, event.total)
        if not self.live:
            count = f"{event.step}/{event.total}" if event.total else str(event.step)
            print(f"progress: {desc}: {count}", file=self.stream, flush=True)
            return
        from tqdm import tqdm

        if self._bar is None or self._bar.total != event.total:
            self.close()  # one bar at a time: a second open bar pushes the first up a line
            self._bar = tqdm(total=event.total, desc=desc, file=self.stream, initial=event.step)
            return  # a new bar draws itself
        self._bar.n = event.step
        self._bar.set_description(desc, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def run_with_console(spec_name: str, request: Any, env: StudioEnv, out: str | None) -> int:
    """Drive a job with console progress; print partial and final paths. Ctrl-C stops cooperatively."""
    from studio.runner import run_job
    from studio.tasks import all_tasks

    spec = all_tasks()[spec_name]
    stop = threading.Event()
    progress = ConsoleProgress(spec.title)
    try:
        try:
            for event in run_job(spec, request, env, stop=stop):
                if isinstance(event, Progress):
                    progress.update(event)
                elif isinstance(event, PartialVideo):
                    print(f"partial: {event.path} ({event.frames} frames)", file=sys.stderr)
                elif isinstance(event, Preview):
                    pass
                elif isinstance(event, Result):
                    progress.close()
                    final = _copy_result(event, out)
                    print(f"job folder: {Path(event.video).parent}")
                    print(f"result: {final}")
                    if spec.output_is_noise(request, env):
                        print("note: tiny random weights were used; the video is noise, not a result.")
        finally:
            progress.close()  # before any message below, so no bar is redrawn after it
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


RERUN_FIX = "give the settings.json (or the folder) of a job under outputs/"


def _run_rerun(args: argparse.Namespace) -> int:
    from studio.outputs import read_settings
    from studio.runner import rerun_request
    from studio.tasks import all_tasks

    path = Path(args.settings)
    if not path.exists():
        raise InputError("settings", f"no file or folder at {str(path)!r}", RERUN_FIX)
    try:
        settings = read_settings(path)
        spec, request = rerun_request(all_tasks(), path)
    except InputError:
        raise  # a stored field that no longer validates names itself
    except StudioError as err:  # not a job's settings.json: say so as the `settings` argument's problem
        raise InputError("settings", str(err), RERUN_FIX) from None
    env = _env(args)
    env.tiny = env.tiny or bool(settings.get("tiny_weights"))
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
        return 0
    table = [(r["preset"], r["state"], f"{r['size_gb']:.2f}", r["where"] or "-", r["repos"]) for r in rows]
    for line in _columns(("preset", "state", "size GB", "found in", "repos"), table, right=(2,)):
        print(line)
    return 0


def _columns(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """A header row and rows, each column as wide as its widest cell (the last one left ragged)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for cells in (header, *rows):
        padded = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        padded[-1] = str(cells[-1])
        lines.append("  ".join(padded).rstrip())
    return lines


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


def _quiet_library_bars() -> None:
    """Without a terminal, libraries' own tqdm bars (loading weights, writing shards) are off:
    piped, each carriage-return redraw would become another line. tqdm reads TQDM_* defaults at
    import, so this only works before anything imports it (the case under `python -m studio`)."""
    if not _is_terminal(sys.stderr) and "tqdm" not in sys.modules:
        os.environ.setdefault("TQDM_DISABLE", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done, 1 a plan that does not fit, 2 a user error (one `error: ...` message,
    no traceback), 130 stopped. Anything else is a bug and keeps its traceback."""
    _quiet_library_bars()
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
