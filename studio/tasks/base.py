"""What every task is made of: a validated request type, a job context and a task function."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Protocol

from core.errors import JobStopped
from studio.env import StudioEnv
from studio.events import Event


class TaskRequest(Protocol):
    """A dataclass that validates itself in __post_init__ (InputError names field and fix)."""

    task: ClassVar[str]

    def to_settings(self, job_dir: Path) -> dict[str, Any]:
        """JSON-able fields; input files are copied into `job_dir` and named relative to it."""

    @classmethod
    def from_settings(cls, data: dict[str, Any], base_dir: Path) -> "TaskRequest":
        """Rebuild (and re-validate) a request from settings.json; paths relative to base_dir."""


@dataclass
class JobContext:
    job_dir: Path
    env: StudioEnv
    stop: threading.Event = field(default_factory=threading.Event)
    # Filled by the task while it runs and saved into settings.json (memory plan, seed used, ...).
    record: dict[str, Any] = field(default_factory=dict)

    def should_stop(self) -> bool:
        return self.stop.is_set()

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise JobStopped("stopped by the user")


TaskFunction = Callable[[Any, JobContext], Iterator[Event]]


@dataclass(frozen=True)
class TaskSpec:
    """One registry line per task: the UI tab, the named endpoint, the CLI subcommand and reruns
    all come from it."""

    name: str            # settings.json "task", CLI subcommand (with - for _), API name
    title: str
    request_type: type
    run: TaskFunction
    layout: str          # module of the tab layout (its `build(env, control) -> TabHandle`); "": served
                         # by another task's tab (extract_pose lives in the pose tab)
    cli_help: str = ""
    cli_aliases: tuple[str, ...] = ()  # shorter subcommand names (`python -m studio pose`)
    # Whether a request runs model weights (default: every request does). Under --tiny those
    # weights are random, so only such jobs are labelled noise (flow interpolation uses none).
    uses_weights: Callable[[Any], bool] | None = None

    def output_is_noise(self, request: Any, env: StudioEnv) -> bool:
        """True when this job's output comes from tiny random weights (settings.json "noise")."""
        return bool(env.tiny) and (self.uses_weights is None or bool(self.uses_weights(request)))
