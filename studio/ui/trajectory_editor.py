"""The Frame In/Out tab's click editor, as pure functions over its state (testable without a browser).

State: `{"objects": [[[x, y], ...] per line] per object, "current": [object, line]}`; the JSON the
request takes is `state["objects"]` with empty lines and objects left out. Points are canvas pixels
and may lie outside the original image (that is how objects enter and leave the frame).
"""
from __future__ import annotations

import copy
import json
from typing import Any

State = dict[str, Any]


def new_state(objects: list | None = None) -> State:
    objects = copy.deepcopy(objects) if objects else [[[]]]
    return {"objects": objects, "current": [len(objects) - 1, len(objects[-1]) - 1]}


def from_json(text: str | list | None) -> State:
    """The editor state for trajectories typed or pasted as JSON (bad JSON: an empty editor; the
    request's own check names the problem when the job starts)."""
    try:
        data = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return new_state()
    if not isinstance(data, list) or not data:
        return new_state()
    return new_state([[[list(map(float, p))[:2] for p in line] for line in obj] or [[]] for obj in data])


def to_json(state: State) -> str:
    """Compact JSON of the drawn trajectories, `[object][line][point][x, y]`, empty parts dropped."""
    objects = [[[[round(x, 1), round(y, 1)] for x, y in line] for line in obj if line] for obj in state["objects"]]
    return json.dumps([obj for obj in objects if obj])


def add_point(state: State, x: float, y: float) -> State:
    state = copy.deepcopy(state)
    o, line = state["current"]
    state["objects"][o][line].append([float(x), float(y)])
    return state


def undo_point(state: State) -> State:
    """Remove the last point of the current line; on an empty line, step back to the previous line."""
    state = copy.deepcopy(state)
    o, line = state["current"]
    points = state["objects"][o][line]
    if points:
        points.pop()
    elif line > 0:
        state["objects"][o].pop()
        state["current"] = [o, line - 1]
        return undo_point(state)
    elif o > 0:
        state["objects"].pop()
        state["current"] = [o - 1, len(state["objects"][o - 1]) - 1]
        return undo_point(state)
    return state


def new_line(state: State) -> State:
    """Start another line of the current object (an object may move, stop and move again)."""
    state = copy.deepcopy(state)
    o, line = state["current"]
    if state["objects"][o][line]:
        state["objects"][o].append([])
        state["current"] = [o, line + 1]
    return state


def new_object(state: State) -> State:
    state = copy.deepcopy(state)
    o, line = state["current"]
    if any(state["objects"][o]):
        state["objects"].append([[]])
        state["current"] = [o + 1, 0]
    return state


def clear_line(state: State) -> State:
    state = copy.deepcopy(state)
    o, line = state["current"]
    state["objects"][o][line] = []
    return state


def clear_all(_state: State | None = None) -> State:
    return new_state()


def describe(state: State) -> str:
    o, line = state["current"]
    counts = ", ".join(f"object {i + 1}: {sum(len(line) for line in obj)} points in {sum(1 for line in obj if line)} "
                       f"line(s)" for i, obj in enumerate(state["objects"]) if any(obj))
    return f"Drawing object {o + 1}, line {line + 1}. " + (counts or "Click on the canvas to add points.")
