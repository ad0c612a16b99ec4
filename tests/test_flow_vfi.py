"""The weight-free optical-flow interpolator: contract, validation, streaming and real motion."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest
from conftest import moving_square_frames

from core.errors import InputError, JobStopped
from studio.interpolation import interpolate_frames_flow, interpolate_stream


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour texture (blurred noise): trackable everywhere, like a photo."""
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3)).astype(np.float32)
    img = cv2.GaussianBlur(noise, (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min()) * 220 + 15
    return img.astype(np.uint8)


def pan(n: int, step: float, h: int = 64, w: int = 96, seed: int = 1) -> list[np.ndarray]:
    """n crops of a bigger texture, moving `step` px right per frame (exact sub-pixel shifts)."""
    big = textured(h + 16, w + int(abs(step) * n) + 32, seed)
    frames = []
    for i in range(n):
        m = np.float32([[1, 0, 8 + i * step], [0, 1, 8]])
        frames.append(cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP))
    return frames


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


# ---------------------------------------------------------------------------------------------
# contract

@pytest.mark.parametrize("factor", range(2, 17))
def test_frame_count_and_originals_for_every_factor(factor: int) -> None:
    frames = pan(3, 2.0, h=24, w=40)
    out = interpolate_frames_flow(frames, factor)
    assert len(out) == (len(frames) - 1) * factor + 1
    for i, f in enumerate(frames):
        assert np.array_equal(out[i * factor], f)
    for f in out:
        assert f.dtype == np.uint8 and f.shape == frames[0].shape


def test_stream_equals_list_and_is_deterministic() -> None:
    frames = moving_square_frames(n=4)
    a = interpolate_frames_flow(frames, 3)
    b = list(interpolate_stream(iter(frames), 3))
    assert len(a) == len(b) == 10
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("shape", [(8, 8), (1, 5), (37, 53), (17, 100)])
def test_tiny_and_odd_sizes(shape: tuple[int, int]) -> None:
    h, w = shape
    frames = [textured(h, w, s) for s in range(3)]
    out = interpolate_frames_flow(frames, 4)
    assert len(out) == 9
    assert all(f.shape == (h, w, 3) and f.dtype == np.uint8 for f in out)
    assert np.array_equal(out[4], frames[1])


# ---------------------------------------------------------------------------------------------
# validation

@pytest.mark.parametrize("factor", [1, 17, 0, -2, 2.5, "2", None, True])
def test_bad_factor(factor: object) -> None:
    with pytest.raises(InputError) as err:
        interpolate_frames_flow(moving_square_frames(n=2), factor)  # type: ignore[arg-type]
    assert err.value.field == "factor"


def test_numpy_integer_factor_is_fine() -> None:
    assert len(interpolate_frames_flow(moving_square_frames(n=2), np.int64(2))) == 3  # type: ignore[arg-type]


def _bad_frame_lists() -> list[list[np.ndarray]]:
    good = moving_square_frames(n=3)
    return [
        [],                                                    # empty
        good[:1],                                              # one frame
        [good[0], good[1][:, :-1]],                            # different sizes
        [good[0], good[1], good[2][:-2]],                      # a later frame differs
        [f.astype(np.float32) for f in good],                  # wrong dtype
        [f[..., 0] for f in good],                             # grey
        [np.dstack([f, f[..., :1]]) for f in good],            # RGBA
        [good[0], "not a frame"],                              # not an array
        None,                                                  # not iterable
    ]


@pytest.mark.parametrize("frames", _bad_frame_lists())
def test_bad_frames(frames: list[np.ndarray]) -> None:
    with pytest.raises(InputError) as err:
        interpolate_frames_flow(frames, 2)
    assert err.value.field == "frames"


def test_stream_checks_factor_and_first_frames_at_call_time() -> None:
    with pytest.raises(InputError):
        interpolate_stream(iter([]), 2)
    with pytest.raises(InputError):
        interpolate_stream(iter(moving_square_frames(n=2)), 40)


# ---------------------------------------------------------------------------------------------
# real motion

def test_moving_square_beats_cross_fade() -> None:
    frames = moving_square_frames(n=5, step=4)
    kept = frames[::2]
    out = interpolate_frames_flow(kept, 2)
    for j in (1, 3):
        ours = mse(out[j], frames[j])
        fade = mse(cv2.addWeighted(kept[j // 2], 0.5, kept[j // 2 + 1], 0.5, 0), frames[j])
        # 0.3 (was 0.2): the occluded-pixel fill of the affine layers, which fits this synthetic
        # case, is off by default since issue 15 (it costs on real footage); still 4-6x a fade
        assert ours < 0.3 * fade, (j, ours, fade)


def test_large_pan_is_tracked() -> None:
    """40 px between kept frames on a 96 px wide frame (local flow alone loses this)."""
    frames = pan(17, 5.0)
    kept = frames[::8]
    out = interpolate_frames_flow(kept, 8)
    for j in (4, 12):
        fade = mse(cv2.addWeighted(kept[j // 8], 0.5, kept[j // 8 + 1], 0.5, 0), frames[j])
        # 0.1 (was 0.05): without affine layers (issue 15) the 40 px strip that leaves the frame
        # follows the dominant motion but is rendered from the edge-faded frames; 13x a fade
        assert mse(out[j], frames[j]) < 0.1 * fade


# ---------------------------------------------------------------------------------------------
# streaming

class CountingSource:
    """A lazy frame source that records how many frames were pulled."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pulled = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.n):
            self.pulled += 1
            yield textured(24, 32, i % 5)


def test_stream_reads_only_a_small_window_ahead() -> None:
    factor, n = 3, 40
    src = CountingSource(n)
    count = 0
    for count, _ in enumerate(interpolate_stream(src, factor), start=1):
        inputs_out = (count - 1) // factor + 1  # input frames already passed through (or being)
        assert src.pulled - inputs_out <= 4, (count, src.pulled)
    assert count == (n - 1) * factor + 1
    assert src.pulled == n


def test_on_pair_and_should_stop() -> None:
    pairs: list[int] = []
    out = list(interpolate_stream(moving_square_frames(n=6), 2, on_pair=pairs.append))
    assert pairs == [0, 1, 2, 3, 4] and len(out) == 11

    pairs.clear()
    stopped: list = []
    with pytest.raises(JobStopped) as err:  # the one stop error, after what was yielded
        for frame in interpolate_stream(moving_square_frames(n=6), 2, on_pair=pairs.append,
                                        should_stop=lambda: len(pairs) >= 2):
            stopped.append(frame)
    assert pairs == [0, 1]
    assert len(stopped) == 5  # frame 0, pair 0, frame 1, pair 1, frame 2
    assert err.value.done == 5


def test_strips_give_the_same_frames() -> None:
    """Big frames are composed in row strips; the seams must not show."""
    from studio.interpolation.flow import _FrameSource, _run
    from studio.interpolation.synthesis import SynthParams

    full = pan(7, 1.0, h=300, w=160)
    frames = full[::3]

    def run(strip_rows: int) -> list[np.ndarray]:
        source = _FrameSource(iter(frames))
        source.get(1)
        return list(_run(source, 3, lambda: False, None, synth_params=SynthParams(strip_rows=strip_rows)))

    whole, strips = run(10_000), run(64)
    assert all(np.array_equal(x, y) for x, y in zip(whole, strips))
    assert mse(whole[4], full[4]) < 0.05 * mse(frames[1], full[4])


# ---------------------------------------------------------------------------------------------
# real footage (the dev set ../shared/bench/vfi_real_dev or $VFI_REAL_DEV; skipped without it)

REAL_DEV = Path(os.environ.get("VFI_REAL_DEV", Path(__file__).resolve().parents[2] / "shared/bench/vfi_real_dev"))


def real_clip(clip_id: str) -> np.ndarray:
    """(33, H, W, 3) RGB frames of a dev-set clip, decoded losslessly and checked by checksum."""
    meta_path = next(iter(sorted(REAL_DEV.glob(f"{clip_id}_*.json"))), None) if REAL_DEV.is_dir() else None
    if meta_path is None:
        pytest.skip(f"real-footage dev set not found at {REAL_DEV}")
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    meta = json.loads(meta_path.read_text())
    reader = imageio_ffmpeg.read_frames(str(meta_path.with_suffix(".mkv")), pix_fmt="rgb24")
    next(reader)
    frames = np.stack([np.frombuffer(b, np.uint8).reshape(meta["height"], meta["width"], 3) for b in reader])
    assert hashlib.sha256(frames.tobytes()).hexdigest() == meta["frames_sha256"]
    return frames


def edge_energy(img: np.ndarray) -> float:
    """Mean absolute Sobel gradient of the luma: hard edges that tearing adds raise it."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.mean(np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1))))


@pytest.mark.parametrize("clip_id,k", [("rd01", 2), ("rd09", 8)])
def test_real_clip_count_and_originals_bit_exact(clip_id: str, k: int) -> None:
    frames = real_clip(clip_id)
    kept = list(frames[::k])
    out = interpolate_frames_flow(kept, k)
    assert len(out) == len(frames)
    for i, f in enumerate(kept):
        assert out[i * k] is f or np.array_equal(out[i * k], f)
        assert out[i * k].tobytes() == f.tobytes()


@pytest.mark.parametrize("clip_id", ["rd06", "rd10"])
def test_real_clip_no_tearing(clip_id: str) -> None:
    """Issue 15 item 2: where motion candidates disagree the frames are blended, never switched
    per pixel. Switching builds collages of hard-edged fragments (a shredded arm), so a frame has
    more edge energy than either frame it is made from; a blend of two frames never has more
    than the sharper one (up to a 2% allowance for resampling)."""
    frames = real_clip(clip_id)
    k = 8
    kept = list(frames[::k])
    out = interpolate_frames_flow(kept, k)
    worst = max(edge_energy(out[i]) / max(edge_energy(kept[i // k]), edge_energy(kept[i // k + 1]))
                for i in range(len(out)) if i % k)
    assert worst <= 1.02, worst


@pytest.mark.parametrize("k", [2, 4])
def test_real_clip_no_border_band(k: int) -> None:
    """Issue 15 item 2: no bright/dark band along the frame edges. On the slow tilt over a facade
    (rd11) the mean of the top and of the bottom 2 rows of every synthesised frame stays within
    3 grey levels of the ground truth's (extrapolated edge motion used to put an 8-level band
    along the bottom edge)."""
    frames = real_clip("rd11")
    out = interpolate_frames_flow(list(frames[::k]), k)
    for i in range(len(frames)):
        if i % k:
            for rows in (slice(0, 2), slice(-2, None)):
                gap = abs(float(out[i][rows].mean()) - float(frames[i][rows].mean()))
                assert gap <= 3.0, (i, rows, gap)
