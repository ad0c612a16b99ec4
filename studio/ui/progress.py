"""What every tab shows while a job runs: a progress bar, elapsed time and an ETA, and the memory
plan of the job before it starts."""
from __future__ import annotations

import time
from typing import Any

from studio.events import Progress


def bar_html(step: int, total: int) -> str:
    pct = 0 if total <= 0 else int(100 * min(step, total) / total)
    return (f'<div style="width:100%;background:#eee;border-radius:4px"><div style="width:{pct}%;'
            f'background:#f97316;height:10px;border-radius:4px"></div></div>')


def duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Clock:
    """Elapsed time and an ETA from the rate of progress so far (per unit of the current total)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._first: tuple[float, int, int] | None = None  # (time, step, total) when this total began

    def text(self, event: Progress) -> str:
        now = time.monotonic()
        if self._first is None or self._first[2] != event.total:
            self._first = (now, event.step, event.total)
        elapsed = now - self.started
        t0, s0, _ = self._first
        done = event.step - s0
        eta = ""
        if done > 0 and event.total > event.step:
            eta = f" · about {duration_text((now - t0) / done * (event.total - event.step))} left"
        return f"{event.desc} · {duration_text(elapsed)} elapsed{eta}"


def plan_markdown(env: Any, preset: str, width: int, height: int, *, seconds: float | None = None,
                  frames: int | None = None, preservation: float = 6.0, fp8: bool = False) -> str:
    """The memory plan as a code block (advisory in the tab; each job computes and stores its own).
    Under --tiny it is the full model's plan, and its first line says so."""
    from studio.planning import plan_for, plan_text

    try:
        plan = plan_for(env.preset_for(preset), int(width), int(height), seconds, env.vram_gb, None,
                        float(preservation), frames=frames, presets=env.presets,
                        fp8=("transformer",) if fp8 else ())
        return "```\n" + plan_text(plan) + "\n```"
    except Exception as err:  # a half-filled form must not break the tab
        return f"_Memory plan unavailable: {err}_"
