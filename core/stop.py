"""The one way a loop stops: it is given `should_stop` and calls `check_stop` at its safe points.

`check_stop` raises `JobStopped` saying how much was finished; everything finished was already
yielded or handed over, so the task keeps it. Loops never return silently on a stop.
"""
from __future__ import annotations

from typing import Callable

from core.errors import JobStopped

ShouldStop = Callable[[], bool]


def never() -> bool:
    return False


def stopped(done: int, total: int | None, unit: str) -> JobStopped:
    of = f" of {total}" if total is not None else ""
    return JobStopped(f"stopped after {done}{of} {unit}", done=done, total=total, unit=unit)


def check_stop(should_stop: ShouldStop, done: int, total: int | None, unit: str) -> None:
    """Raise `JobStopped(done, total, unit)` when the user asked to stop."""
    if should_stop():
        raise stopped(done, total, unit)
