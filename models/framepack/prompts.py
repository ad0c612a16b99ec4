r"""Timestamped prompts: "[0s: a cat walks] [2s-4s: the cat jumps]".

Rule: a prompt is timestamped only when it contains a timestamp, a `[` followed by a time in seconds
(optional "s"), an optional `-<end>` time and a colon: `[0s:`, `[2.5:`, `[2s-4s:`. Any other text,
brackets included ("a sign reads [OPEN]", "[a cat]"), is one plain prompt for the whole video (it
may be empty). In a timestamped prompt every part must be `[<start>: text]` or `[<start>-<end>:
text]`, with only whitespace between parts, and brackets cannot nest inside a part. `\[` and `\]`
are literal brackets anywhere (they never open or close a part; the backslash is dropped): write
`a clock shows \[12:30]` for a plain prompt that would otherwise read as a timestamp. A span
without an end lasts until the next span starts (or the video ends). Mistakes raise
`core.errors.InputError("prompt", problem, fix)`.

`prompts_per_section` turns spans into one (possibly blended) prompt per section: span times are
snapped to the nearest section boundary (a span
always keeps at least one section); a section gets the span active at its start (the latest-
starting one if several overlap; in a gap, the one that ended last; before the first span, the
first span). With `blend_sections = N`, a change of prompt is spread over N sections by mixing
the two prompts' embeddings with weights 1/(N+1), 2/(N+1), .... The list comes back in
*generation* order: reversed for inverted sampling, which generates the end of the video first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from core.errors import InputError

_EXAMPLE = "e.g. [0s: a cat walks] [2s-4s: the cat jumps]"
_NUMBER = r"[-+]?\d+(?:\.\d*)?|[-+]?\.\d+"
_TIMES = rf"\s*(?P<start>{_NUMBER})\s*s?\s*(?:-\s*(?P<end>{_NUMBER})\s*s?\s*)?:"
_HEADER = re.compile(rf"^{_TIMES}(?P<text>.*)$", re.DOTALL)
_TIMESTAMP = re.compile(rf"(?<!\\)\[{_TIMES}")  # an unescaped '[' opening a timestamp
_BRACKET = re.compile(r"(?<!\\)[\[\]]")        # unescaped brackets: the ones that structure a prompt
_ESCAPE_FIX = r"write \[ and \] for brackets that are part of the text"

SectionPrompt = tuple[tuple[str, float], ...]  # ((text, weight), ...) with weights summing to 1


@dataclass(frozen=True)
class PromptSpan:
    start: float  # seconds
    end: float    # seconds (exclusive)
    text: str


def _error(problem: str, fix: str) -> InputError:
    return InputError("prompt", problem, fix)


def is_timestamped(text: str) -> bool:
    """Whether `text` contains an unescaped timestamp such as `[0s:` or `[2s-4s:` (see the rule above)."""
    return _TIMESTAMP.search(text) is not None


def unescape(text: str) -> str:
    return text.replace("\\[", "[").replace("\\]", "]")


def parse_timestamped_prompt(text: str, seconds: float) -> list[PromptSpan]:
    """Spans sorted by start; a plain prompt (no timestamp) -> one span [0, seconds)."""
    if not is_timestamped(text):
        return [PromptSpan(0.0, float(seconds), unescape(text).strip())]

    brackets = [m.start() for m in _BRACKET.finditer(text)]
    raw: list[tuple[float, float | None, str, str]] = []  # start, end, text, original bracket
    position, i = 0, 0
    while True:
        open_at = brackets[i] if i < len(brackets) else -1
        outside = text[position: open_at if open_at >= 0 else len(text)]
        if open_at >= 0 and text[open_at] == "]":
            raise _error(f"a ']' at position {open_at} has no matching '['",
                         f"open every part with '[', {_EXAMPLE}, or {_ESCAPE_FIX}")
        if outside.strip():
            raise _error(f"text outside brackets: {outside.strip()!r}",
                         f"put every part of a timestamped prompt inside [time: text], {_EXAMPLE}; or "
                         f"{_ESCAPE_FIX} (e.g. \\[12:30])")
        if open_at < 0:
            break
        close = i + 1
        if close >= len(brackets):
            raise _error(f"the '[' at position {open_at} is never closed", f"close it with ']', {_EXAMPLE}")
        if text[brackets[close]] == "[":
            raise _nested(text, open_at, brackets[close])
        raw.append(_parse_bracket(text[open_at + 1: brackets[close]]))
        position, i = brackets[close] + 1, close + 1

    return _resolve_spans(raw, float(seconds))


def _nested(text: str, open_at: int, inner_at: int) -> InputError:
    """A '[' before the part that `open_at` opens is closed: the next part, or a bracket inside this one."""
    if _TIMESTAMP.match(text, inner_at):
        return _error(f"the '[' at position {open_at} is never closed before the next part starts at "
                      f"position {inner_at}", f"close each part with ']', {_EXAMPLE}")
    part = text[open_at: inner_at + 12].strip()
    return _error(f"a '[' at position {inner_at} is inside the part {part!r}...; brackets cannot nest "
                  "inside a timestamped part", f"{_ESCAPE_FIX}, e.g. [0s: a sign reads \\[OPEN\\]]")


def _parse_bracket(body: str) -> tuple[float, float | None, str, str]:
    match = _HEADER.match(body)
    if match is None:
        raise _error(f"[{body.strip()}] does not start with a time",
                     f"start each bracket with a time in seconds, {_EXAMPLE}")
    start = float(match["start"])
    end = float(match["end"]) if match["end"] is not None else None
    words = unescape(match["text"]).strip()
    if not words:
        raise _error(f"[{body.strip()}] has no text", "write what should happen after the colon")
    for value in (start, end):
        if value is not None and value < 0:
            raise _error(f"time {value:g}s in [{body.strip()}] is negative", "times count from 0s, the first frame")
    if end is not None and end <= start:
        raise _error(f"[{body.strip()}] ends ({end:g}s) before it starts ({start:g}s)",
                     "write the earlier time first, e.g. [2s-4s: ...]")
    return start, end, words, body.strip()


def _resolve_spans(raw: list[tuple[float, float | None, str, str]], seconds: float) -> list[PromptSpan]:
    raw = sorted(raw, key=lambda item: item[0])
    for (a, _, _, body_a), (b, _, _, body_b) in zip(raw, raw[1:]):
        if a == b:
            raise _error(f"[{body_a}] and [{body_b}] both start at {a:g}s", "give each prompt its own start time")
    spans = []
    for i, (start, end, words, body) in enumerate(raw):
        if start >= seconds:
            raise _error(f"[{body}] starts at {start:g}s, at or beyond the video length ({seconds:g}s)",
                         f"use start times below {seconds:g}s or make the video longer")
        if end is not None and end > seconds:
            raise _error(f"[{body}] ends at {end:g}s, beyond the video length ({seconds:g}s)",
                         f"use end times up to {seconds:g}s or make the video longer")
        if end is None:
            end = raw[i + 1][0] if i + 1 < len(raw) else seconds
        spans.append(PromptSpan(start, end, words))
    return spans


def prompts_per_section(spans: Sequence[PromptSpan], section_starts_seconds: Sequence[float], *,
                        inverted: bool = False, blend_sections: int = 0) -> list[SectionPrompt]:
    """One prompt mix per section, in generation order (see the module docstring)."""
    if not spans:
        raise ValueError("no prompt spans")
    starts = list(section_starts_seconds)
    if not starts:
        return []
    boundaries = starts + [max(max(s.end for s in spans), starts[-1])]

    def snap(t: float) -> float:
        return min(boundaries, key=lambda b: (abs(b - t), b))

    def covering(span: PromptSpan) -> tuple[float, float, str]:
        # A span never vanishes: it covers at least the section its start snaps to.
        start = snap(span.start)
        following = [b for b in boundaries if b > start]
        end = max(snap(span.end), following[0]) if following else snap(span.end)
        return start, end, span.text

    snapped = [covering(s) for s in spans]
    chosen: list[str] = []
    for t in starts:
        active = [item for item in snapped if item[0] <= t < item[1]]
        if active:
            chosen.append(max(active, key=lambda item: item[0])[2])
            continue
        ended = [item for item in snapped if item[1] <= t]
        source = max(ended, key=lambda item: item[1]) if ended else min(snapped, key=lambda item: item[0])
        chosen.append(source[2])

    per_section: list[SectionPrompt] = []
    for p, text in enumerate(chosen):
        change = next((q for q in range(p, 0, -1) if chosen[q] != chosen[q - 1]), None)
        if blend_sections > 0 and change is not None and p - change < blend_sections:
            weight = (p - change + 1) / (blend_sections + 1)
            per_section.append(((chosen[change - 1], 1.0 - weight), (text, weight)))
        else:
            per_section.append(((text, 1.0),))
    return per_section[::-1] if inverted else per_section
