"""Skip-then-concatenate chunk schedule of LDF-VFI (pure functions, no torch).

The output timeline has `total = n * factor` frame slots for n input frames (input frame i sits at
slot i*factor; the slots after the last input frame are padding and are cut away at the end, so
the video has (n-1)*factor + 1 frames). The model works on windows of `window` frames (60) split
into `window // tile` temporal tiles of `tile` frames (3 tiles of 20). With one context tile
(the reference's nT_cond = 1) and S = (tiles - 2) * tile (the chunk stride, 20 frames):

1. first:  window [0, window); every tile sampled from noise; tiles 0..tiles-2 decoded (frames
           [0, 40)); the last decoded tile is kept as "prev" context.
2. loop at t0 (starting at 40) while t0 + S <= total - 1:
   skip:   window [t0, t0 + window), sampled from noise, *ahead* of the frontier; its middle
           tiles are decoded (frames [t0 + S, t0 + 2S)); its first middle tile becomes "skip"
           context and its last middle tile the next "prev".
   concat: window [t0 - tile, t0 + S + tile): tile 0 is the "prev" context, the last tile is the
           "skip" context, both clean latents re-noised once to t_cond (0.1) and held at that
           noise level; only the middle tiles are sampled and decoded (frames [t0, t0 + S)).
           Output order: the concat frames, then the skip frames.
   t0 += 2S
3. last (if t0 < total): window [t0 - tile, total) padded to `window`; tile 0 is "prev"
   context, the rest sampled; tiles 1.. decoded (frames [t0, t0 + window - tile), cut at the end).

Facts from xypeng9903/LDF-VFI generate.py (`sample_skip_concat`, nT_cond = 1, t_cond = 0.1,
num_frames 60, tile_min_t 20). The reasoning (paper): a chunk generated only from the past drifts;
sampling the skip chunk independently and then filling the gap with both neighbours as context
anchors every other chunk to the input instead of to earlier generations.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Literal

Kind = Literal["first", "skip", "concat", "last"]
Role = Literal["noise", "prev", "skip"]

WINDOW_FRAMES = 60
TILE_FRAMES = 20
T_COND = 0.1  # noise level of the context tiles


@dataclass(frozen=True)
class Chunk:
    """One model call sequence over a window of the output timeline."""

    kind: Kind
    start: int                  # first slot of the window (a multiple of the tile length)
    stop: int                   # end of real slots in the window; [stop, start + window) is padding
    roles: tuple[Role, ...]     # per temporal tile: sampled ("noise") or clean context ("prev"/"skip")
    decode: tuple[int, ...]     # tiles decoded into output frames
    saves: tuple[tuple[str, int], ...]  # (context name, tile) kept for later chunks
    tile: int = TILE_FRAMES

    @property
    def output(self) -> tuple[int, int]:
        """Slots [a, b) this chunk decodes (b may pass the end of the video; cut later)."""
        return self.start + self.decode[0] * self.tile, self.start + (self.decode[-1] + 1) * self.tile

    @property
    def context(self) -> dict[int, str]:
        return {i: r for i, r in enumerate(self.roles) if r != "noise"}

    @property
    def sampled(self) -> tuple[int, ...]:
        return tuple(i for i, r in enumerate(self.roles) if r == "noise")


def check_window(window: int, tile: int) -> int:
    """Number of temporal tiles; the schedule needs at least 3 (context, generated, context)."""
    if tile <= 0 or window % tile or window // tile < 3:
        raise ValueError(f"window_frames ({window}) must be a multiple >= 3x of the tile length ({tile})")
    return window // tile


def iter_chunks(has_slots: Callable[[int], bool], total: Callable[[], int],
                window: int = WINDOW_FRAMES, tile: int = TILE_FRAMES) -> Iterator[Chunk]:
    """The schedule, lazily: `has_slots(k)` says whether the timeline has at least k slots, and
    `total()` (called only once the end was seen) gives its length. Streaming callers answer
    `has_slots` by reading input frames on demand."""
    n_tiles = check_window(window, tile)
    middle = tuple(range(1, n_tiles - 1))
    stride = (n_tiles - 2) * tile

    def stop_of(start: int) -> int:
        return start + window if has_slots(start + window) else min(start + window, total())

    yield Chunk("first", 0, stop_of(0), ("noise",) * n_tiles, tuple(range(n_tiles - 1)),
                (("prev", n_tiles - 2),), tile)
    t0 = (n_tiles - 1) * tile
    while has_slots(t0 + stride + 1):
        skip_start = t0 + stride - tile
        yield Chunk("skip", skip_start, stop_of(skip_start), ("noise",) * n_tiles, middle,
                    (("skip", 1), ("next_prev", n_tiles - 2)), tile)
        cat_start = t0 - tile
        yield Chunk("concat", cat_start, stop_of(cat_start), ("prev",) + ("noise",) * (n_tiles - 2) + ("skip",),
                    middle, (), tile)
        t0 += 2 * stride
    if has_slots(t0 + 1):
        last_start = t0 - tile
        yield Chunk("last", last_start, stop_of(last_start), ("prev",) + ("noise",) * (n_tiles - 1),
                    tuple(range(1, n_tiles)), (), tile)


def chunk_schedule(num_inputs: int, factor: int, window: int = WINDOW_FRAMES,
                   tile: int = TILE_FRAMES) -> list[Chunk]:
    """The whole schedule for `num_inputs` frames interpolated `factor` times (execution order)."""
    total = num_inputs * factor
    return list(iter_chunks(lambda k: total >= k, lambda: total, window, tile))


def output_frames(num_inputs: int, factor: int) -> int:
    return (num_inputs - 1) * factor + 1


def emission_order(chunks: list[Chunk]) -> list[int]:
    """Indices of `chunks` in the order their frames are yielded (by output position: a skip
    chunk's frames come after the following concat chunk's)."""
    return sorted(range(len(chunks)), key=lambda i: chunks[i].output[0])


def window_mask(chunk: Chunk, factor: int, window: int) -> list[bool]:
    """Frame mask of the window: True at real slots holding an input frame (slot % factor == 0)."""
    return [(chunk.start + j) < chunk.stop and (chunk.start + j) % factor == 0 for j in range(window)]


def nearest_fill(mask: list[bool]) -> list[int]:
    """For every window position, the position of the nearest True (ties: the earlier one).

    This is how the low-frame-rate video is filled to the full frame rate before encoding; only
    input frames inside the window are candidates, padding positions included.
    """
    kept = [i for i, m in enumerate(mask) if m]
    if not kept:
        raise ValueError("a window without any input frame")
    return [min(kept, key=lambda k: (abs(k - i), k)) for i in range(len(mask))]


def renoise_positions(chunks: list[Chunk]) -> list[tuple[int, int, str]]:
    """(chunk index, slot of the first frame of the tile, context name) of every re-noised tile."""
    return [(ci, c.start + i * c.tile, r) for ci, c in enumerate(chunks) for i, r in c.context.items()]
