"""The Frame In/Out click editor's state functions (studio/ui/trajectory_editor.py)."""
from __future__ import annotations

import json

from studio.ui import trajectory_editor as ed


def test_clicks_build_objects_and_lines_and_undo_walks_back() -> None:
    s = ed.new_state()
    for x in (10, 20, 30, 40):
        s = ed.add_point(s, x, 5)
    s = ed.new_object(s)
    s = ed.add_point(s, -20, 50)   # outside the original image: allowed
    s = ed.add_point(s, 60, 50)
    assert json.loads(ed.to_json(s)) == [[[[10, 5], [20, 5], [30, 5], [40, 5]]], [[[-20, 50], [60, 50]]]]
    s = ed.undo_point(s)
    assert json.loads(ed.to_json(s))[1] == [[[-20, 50]]]
    s = ed.undo_point(ed.undo_point(s))  # empties object 2, then steps back into object 1
    assert json.loads(ed.to_json(s)) == [[[[10, 5], [20, 5], [30, 5]]]] and s["current"] == [0, 0]


def test_new_line_and_clear() -> None:
    s = ed.add_point(ed.add_point(ed.new_state(), 1, 1), 2, 2)
    s = ed.new_line(s)
    assert ed.new_line(s) == s  # no empty second line
    s = ed.add_point(s, 5, 5)
    assert json.loads(ed.to_json(s)) == [[[[1, 1], [2, 2]], [[5, 5]]]]
    assert json.loads(ed.to_json(ed.clear_line(s))) == [[[[1, 1], [2, 2]]]]
    assert ed.to_json(ed.clear_all(s)) == "[]"
    assert "object 1" in ed.describe(s)


def test_json_round_trip_and_bad_json() -> None:
    text = "[[[[1, 2], [3, 4]]], [[[5, 6]], [[7, 8], [9, 10]]]]"
    assert json.loads(ed.to_json(ed.from_json(text))) == json.loads(text)
    assert ed.from_json("not json") == ed.new_state()
    s = ed.add_point(ed.from_json(text), 11, 12)  # continues the last line of the last object
    assert json.loads(ed.to_json(s))[1][1][-1] == [11, 12]
