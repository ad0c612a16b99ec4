from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from studio.video_io import (
    Mp4Writer,
    count_frames,
    is_playable_mp4,
    iter_frames,
    probe_video,
    write_mp4,
)


def _frames(n: int, h: int, w: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_lossless_round_trip_is_bit_exact(tmp_path: Path) -> None:
    frames = _frames(7, 33, 47)  # odd sides
    path = write_mp4(frames, tmp_path / "a.mp4", fps=24, crf=0)
    back = list(iter_frames(path))
    assert len(back) == 7
    assert all(np.array_equal(a, b) for a, b in zip(frames, back))


def test_browser_mp4_is_yuv420_even_sized_and_playable(tmp_path: Path) -> None:
    path = write_mp4(_frames(5, 33, 47), tmp_path / "b.mp4", fps=30, crf=16)
    info = probe_video(path)
    assert (info.width, info.height) == (48, 34)  # padded to even, not resized
    assert info.fps == 30 and count_frames(path) == 5
    assert is_playable_mp4(path)


def test_failed_write_leaves_no_file_under_final_name(tmp_path: Path) -> None:
    target = tmp_path / "c.mp4"
    with pytest.raises(RuntimeError):
        with Mp4Writer(target, fps=10) as w:
            w.write(_frames(1, 16, 16)[0])
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_reading_is_streamed(tmp_path: Path) -> None:
    path = write_mp4(_frames(30, 16, 16), tmp_path / "d.mp4", fps=10, crf=0)
    it = iter_frames(path)
    first = next(it)  # a generator: frames arrive one at a time
    assert first.shape == (16, 16, 3)
    it.close()


@pytest.mark.parametrize("content", [b"", b"not a video at all", b"\x89PNG\r\n\x1a\n" + b"0" * 100])
def test_bad_videos_name_the_field(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(InputError) as err:
        probe_video(bad, field="video")
    assert err.value.field == "video"


def test_crf_range_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        Mp4Writer(tmp_path / "x.mp4", fps=10, crf=60)
    assert err.value.field == "mp4_crf"
