"""FramePack's resolution buckets: 14 (height, width) pairs around 640 px, and their rescaling.

An input image is assigned the bucket whose aspect ratio is closest, then resized (to cover) and
centre-cropped to exactly that size. Buckets for another base size (480, 720, 64 for the tiny kit)
scale the 640 list and snap each side to a multiple of 16 (8 for the VAE x 2 for the patch),
dropping duplicates.
"""
from __future__ import annotations

import numpy as np

from models.imaging import resize_and_center_crop  # noqa: F401  (FramePack's resize rule, shared)

# The 640 buckets (height, width), from tall to wide: facts of FramePack.
BUCKETS_640: tuple[tuple[int, int], ...] = (
    (416, 960), (448, 864), (480, 832), (512, 768), (544, 704), (576, 672), (608, 640),
    (640, 608), (672, 576), (704, 544), (768, 512), (832, 480), (864, 448), (960, 416),
)
MULTIPLE = 16


def buckets(base: int = 640) -> list[tuple[int, int]]:
    """The buckets for `base` (640 gives FramePack's list unchanged)."""
    if base <= 0:
        raise ValueError(f"bucket base must be positive, got {base}")
    if base == 640:
        return list(BUCKETS_640)
    scaled: list[tuple[int, int]] = []
    for h, w in BUCKETS_640:
        pair = (_snap(h * base / 640), _snap(w * base / 640))
        if pair not in scaled:
            scaled.append(pair)
    return scaled


def _snap(x: float) -> int:
    return max(MULTIPLE, int(round(x / MULTIPLE)) * MULTIPLE)


def nearest_bucket(height: int, width: int, base: int = 640) -> tuple[int, int]:
    """The bucket with the closest aspect ratio (cross-multiplied, ties -> the later, wider one)."""
    best: tuple[int, int] | None = None
    best_metric = float("inf")
    for bh, bw in buckets(base):
        metric = abs(height * bw - width * bh)
        if metric <= best_metric:
            best, best_metric = (bh, bw), metric
    assert best is not None
    return best


def fit_to_bucket(image: np.ndarray, base: int = 640) -> np.ndarray:
    """Nearest bucket for the image's aspect, then resize + centre crop to it."""
    height, width = nearest_bucket(image.shape[0], image.shape[1], base)
    return resize_and_center_crop(image, height, width)
