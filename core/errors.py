"""Errors a user can act on.

Every validation failure names the field and the fix, so the UI, the API and the CLI print the
same sentence for the same bad input.
"""
from __future__ import annotations

from typing import Any


class StudioError(Exception):
    """An error meant for the user (shown as-is, never as a stack trace)."""


class InputError(StudioError, ValueError):
    """A request field has a bad value."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem} — {fix}")


class MissingWeightsError(StudioError):
    """Weights for a preset are not on this machine; the message says what and how to fetch."""


class JobStopped(StudioError):
    """The user pressed Stop. `done` of `total` `unit`s were finished (and were already handed to
    the caller, which keeps them); `partial` may carry whatever the loop still held."""

    def __init__(self, message: str = "stopped by the user", *, done: int | None = None,
                 total: int | None = None, unit: str = "steps", partial: Any = None) -> None:
        self.done, self.total, self.unit, self.partial = done, total, unit, partial
        super().__init__(message)


class DeviceOutOfMemory(StudioError):
    """The device ran out of memory; the message carries the plan that failed and a suggestion."""
