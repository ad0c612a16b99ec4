"""Typed events that every task function yields.

The UI, the API and the CLI all consume the same stream, so each front door only decides how to
*show* an event, never what it means.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np


@dataclass(frozen=True)
class Progress:
    """`step` of `total` units of work are done; `desc` says what the unit is."""

    step: int
    total: int
    desc: str = ""


@dataclass(frozen=True)
class Preview:
    """A cheap look at the work in progress (HxWx3 uint8 RGB)."""

    image: np.ndarray
    caption: str = ""


@dataclass(frozen=True)
class PartialVideo:
    """A playable mp4 of everything finished so far."""

    path: Path
    frames: int
    desc: str = ""


@dataclass(frozen=True)
class Result:
    """The finished job: final video (or frame folder) and its settings/metadata."""

    video: Path
    metadata: dict[str, Any] = field(default_factory=dict)


Event = Union[Progress, Preview, PartialVideo, Result]
