"""Errors a user can act on.

Every validation failure names the field and the fix, so the UI, the API and the CLI print the
same sentence for the same bad input.
"""
from __future__ import annotations


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
    """The user pressed Stop; whatever finished before is kept."""


class DeviceOutOfMemory(StudioError):
    """The device ran out of memory; the message carries the plan that failed and a suggestion."""
