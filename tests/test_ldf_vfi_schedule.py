"""The skip-then-concatenate chunk schedule, the window conditioning and the sampler's times
(pure functions; the tables were checked against xypeng9903/LDF-VFI generate.py, see docs/ldf_vfi.md)."""
from __future__ import annotations

import pytest
import torch

from models.ldf_vfi.sampler import model_timestep
from models.ldf_vfi.schedule import (
    chunk_schedule,
    emission_order,
    iter_chunks,
    nearest_fill,
    output_frames,
    renoise_positions,
    window_mask,
)
from models.sampling import flow_sigmas


def _table(n: int, factor: int) -> list[tuple]:
    return [(c.kind, c.start, c.stop, "".join(r[0] for r in c.roles), c.output) for c in chunk_schedule(n, factor)]


def test_short_videos_fit_in_the_first_window() -> None:
    # 3 frames x8 = 24 slots: one window of 60 (36 padding slots), tiles 0-1 decoded.
    assert _table(3, 8) == [("first", 0, 24, "nnn", (0, 40))]
    assert _table(2, 2) == [("first", 0, 4, "nnn", (0, 40))]


def test_first_then_last() -> None:
    # 21 frames x2 = 42 slots: the loop needs t0 + 20 <= 41 (t0 = 40): no; the last chunk starts at 20
    # with the "prev" tile (slots 20-40) as context and generates slots 40-80 (cut at 41).
    assert _table(21, 2) == [("first", 0, 42, "nnn", (0, 40)), ("last", 20, 42, "pnn", (40, 80))]


def test_skip_then_concat() -> None:
    # 31 frames x4 = 124 slots.
    assert _table(31, 4) == [
        ("first", 0, 60, "nnn", (0, 40)),
        ("skip", 40, 100, "nnn", (60, 80)),     # sampled ahead of the frontier, from noise only
        ("concat", 20, 80, "pns", (40, 60)),    # fills the gap: prev (20-40) and skip (60-80) as context
        ("skip", 80, 124, "nnn", (100, 120)),   # window runs past the end: padded
        ("concat", 60, 120, "pns", (80, 100)),
        ("last", 100, 124, "pnn", (120, 160)),
    ]
    # 5 frames x16 = 80 slots: one skip/concat pair, no last chunk (t0 = 80 is the end).
    assert [c.kind for c in chunk_schedule(5, 16)] == ["first", "skip", "concat"]


@pytest.mark.parametrize("n", [2, 3, 7, 16, 21, 22, 40, 61, 97])
@pytest.mark.parametrize("factor", [2, 3, 5, 8, 16])
def test_outputs_tile_the_timeline(n: int, factor: int) -> None:
    chunks = chunk_schedule(n, factor)
    position = 0
    for index in emission_order(chunks):
        start, stop = chunks[index].output
        assert start == position
        position = stop
    assert position >= output_frames(n, factor)
    kinds = [c.kind for c in chunks]
    assert kinds[0] == "first" and kinds.count("skip") == kinds.count("concat")
    for chunk in chunks:
        assert chunk.stop - chunk.start <= 60 and chunk.start % 20 == 0
        assert set(chunk.decode) <= set(chunk.sampled)  # context tiles are never decoded again
        if chunk.kind == "concat":
            assert chunk.context == {0: "prev", 2: "skip"}
        if chunk.kind == "last":
            assert chunk.context == {0: "prev"}
    # Emission order: every concat chunk's frames come before the preceding skip chunk's.
    order = emission_order(chunks)
    for i, kind in enumerate(kinds):
        if kind == "skip":
            assert order.index(i + 1) < order.index(i)


def test_renoised_context_tiles() -> None:
    # The context of a concat chunk is the tile before it (from the previous chunk) and the tile
    # after it (from the skip chunk); the last chunk re-noises the tile before it.
    assert renoise_positions(chunk_schedule(31, 4)) == [
        (2, 20, "prev"), (2, 60, "skip"), (4, 60, "prev"), (4, 100, "skip"), (5, 100, "prev")]


def test_lazy_schedule_equals_eager() -> None:
    total = 37 * 3
    asked: list[int] = []

    def has_slots(k: int) -> bool:
        asked.append(k)
        return total >= k

    lazy = list(iter_chunks(has_slots, lambda: total))
    assert lazy == chunk_schedule(37, 3)
    assert max(asked) <= total + 60  # never asks far beyond one window past the end


def test_window_mask_and_nearest_fill() -> None:
    chunk = chunk_schedule(31, 3)[1]  # a skip chunk at slot 40: input frames at slots 42, 45, ...
    mask = window_mask(chunk, 3, 60)
    assert chunk.start == 40 and [j for j, m in enumerate(mask) if m][:3] == [2, 5, 8]
    assert sum(mask) == 17 and chunk.stop == 93  # input frames at slots 42..90; slots >= 93 are padding
    fill = nearest_fill(mask)
    assert fill[:4] == [2, 2, 2, 2] and fill[6] == 5 and fill[7] == 8  # before the first: the first
    assert fill[50:] == [50] * 10  # slot 90 (the last input frame) also fills the padding
    assert nearest_fill([True, False, False, False, True]) == [0, 0, 0, 4, 4]  # ties go to the earlier
    assert nearest_fill([False, True, False]) == [1, 1, 1]


def test_flow_times_and_integer_timesteps() -> None:
    times = flow_sigmas(16, shift=8.0).tolist()  # LDF-VFI's times: the shared flow sigmas
    assert len(times) == 17 and times[0] == 1.0 and times[-1] == 0.0
    assert times[8] == pytest.approx(8 * 0.5 / (1 + 7 * 0.5))  # s*t / (1 + (s-1) t)
    assert flow_sigmas(4, shift=1.0).tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]
    # The model sees int(t * 1000) computed in its dtype, like the reference (bf16 weights).
    assert model_timestep(0.1, torch.bfloat16) == 100.0
    assert model_timestep(0.1, torch.float32) == 100.0
    assert model_timestep(times[1], torch.float32) == int(times[1] * 1000)
    with pytest.raises(ValueError):
        flow_sigmas(0, shift=8.0)
