"""Tabs plug in here: each tab module returns a TabHandle describing how to load past settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gradio as gr


@dataclass
class TabHandle:
    tab_id: str
    title: str
    task: str | None = None
    # Input components in the order `load_settings` returns values for them.
    inputs: list[gr.components.Component] = field(default_factory=list)
    load_settings: Callable[[dict[str, Any], Path], list[Any]] | None = None
