"""Input frames for LDF-VFI: read on demand, and turned into pixel tiles of a model window.

`FrameSource` accepts a sequence (random access) or any iterable (read lazily, old frames dropped),
so a long video never sits in memory as a whole. `WindowPixels` builds the low-frame-rate
condition of one window: every window position shows the nearest input frame inside the window
(ties: the earlier one), exactly the reference's "nearest" temporal up-sampling; pixel tiles are
made on request, in [-1, 1], zero past the image border.
"""
from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from core.errors import InputError
from models.ldf_vfi.schedule import Chunk, nearest_fill, window_mask


class FrameSource:
    def __init__(self, frames: Sequence[np.ndarray] | Iterable[np.ndarray]) -> None:
        self._seq: Sequence[np.ndarray] | None = None
        self._iter: Iterator[np.ndarray] | None = None
        self._buffer: dict[int, np.ndarray] = {}
        self._read = 0          # frames pulled from the iterator so far
        self._exhausted = False
        if isinstance(frames, SequenceABC) or (hasattr(frames, "__len__") and hasattr(frames, "__getitem__")):
            self._seq = frames  # type: ignore[assignment]
        else:
            self._iter = iter(frames)
        self.shape: tuple[int, int] | None = None

    def has(self, count: int) -> bool:
        """True when the video has at least `count` frames (reads ahead as needed)."""
        if self._seq is not None:
            return len(self._seq) >= count
        while self._read < count and not self._exhausted:
            try:
                frame = next(self._iter)  # type: ignore[arg-type]
            except StopIteration:
                self._exhausted = True
                break
            self._buffer[self._read] = self._check(frame, self._read)
            self._read += 1
        return self._read >= count

    def count(self) -> int:
        """Number of frames; reads to the end for an iterator."""
        if self._seq is not None:
            return len(self._seq)
        while self.has(self._read + 1):
            pass
        return self._read

    def known_count(self) -> int | None:
        return len(self._seq) if self._seq is not None else None

    def get(self, index: int) -> np.ndarray:
        if self._seq is not None:
            return self._check(self._seq[index], index)
        if not self.has(index + 1):
            raise IndexError(index)
        if index not in self._buffer:
            raise RuntimeError(f"input frame {index} was already released")
        return self._buffer[index]

    def release_before(self, index: int) -> None:
        for key in [k for k in self._buffer if k < index]:
            del self._buffer[key]

    def _check(self, frame: np.ndarray, index: int) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InputError("frames", f"frame {index} is {frame.dtype} {frame.shape}", "give HxWx3 uint8 RGB frames")
        if self.shape is None:
            self.shape = (frame.shape[0], frame.shape[1])
        elif frame.shape[:2] != self.shape:
            raise InputError("frames", f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, frame 0 is "
                             f"{self.shape[1]}x{self.shape[0]}", "give frames of one size")
        return frame


class WindowPixels:
    """The low-frame-rate condition of one model window, as pixel tiles on demand."""

    def __init__(self, source: FrameSource, chunk: Chunk, factor: int, window: int) -> None:
        self.mask = window_mask(chunk, factor, window)
        fill = nearest_fill(self.mask)
        self.frame_of = [(chunk.start + p) // factor for p in fill]  # input frame index per position
        self.source = source
        if source.shape is None:
            source.get(self.frame_of[0])  # the first read fixes the frame size
        assert source.shape is not None
        self.height, self.width = source.shape

    def rgb(self, t0: int, t1: int, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        """(1, 3, t1-t0, y1-y0, x1-x0) float32 in [-1, 1]; zeros outside the image."""
        out = np.zeros((t1 - t0, y1 - y0, x1 - x0, 3), np.float32)
        vy, vx = max(0, min(y1, self.height) - y0), max(0, min(x1, self.width) - x0)
        if vy and vx:
            cache: dict[int, np.ndarray] = {}
            for k, t in enumerate(range(t0, t1)):
                index = self.frame_of[t]
                if index not in cache:
                    patch = self.source.get(index)[y0:y0 + vy, x0:x0 + vx]
                    cache[index] = patch.astype(np.float32) / 127.5 - 1.0
                out[k, :vy, :vx] = cache[index]
        return torch.from_numpy(out).permute(3, 0, 1, 2).unsqueeze(0)

    def mask_tile(self, t0: int, t1: int, y0: int, y1: int, x0: int, x1: int, inside_only: bool) -> torch.Tensor:
        """(1, 1, T, h, w) frame mask; `inside_only` zeroes it past the image border (encoding pads
        its tiles with zeros; decoding repeats the mask over the whole padded canvas)."""
        values = torch.tensor(self.mask[t0:t1], dtype=torch.float32).view(1, 1, -1, 1, 1)
        out = values.expand(1, 1, t1 - t0, y1 - y0, x1 - x0).clone()
        if inside_only:
            out[..., max(0, self.height - y0):, :] = 0
            out[..., :, max(0, self.width - x0):] = 0
        return out
