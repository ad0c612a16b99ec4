"""Field checks shared by every request type.

Each check takes the field name, so the error says which field is wrong and how to fix it; the
same check serves the UI, the API and the CLI.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError

MAX_IMAGE_PIXELS = 8192 * 8192
MAX_PROMPT_CHARS = 4000
IMAGE_FIX = "upload a PNG, JPEG or WebP image"
TOO_LARGE_FIX = "use an image under 8192x8192 pixels"
EXIF_ORIENTATION = 0x0112


def as_int(field: str, value: Any, lo: int, hi: int, *, fix: str | None = None) -> int:
    fix = fix or f"use a whole number from {lo} to {hi}"
    if isinstance(value, bool) or value is None:
        raise InputError(field, f"{value!r} is not a number", fix)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field, f"{value!r} is not a number", fix) from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(field, f"{value!r} is not a whole number", fix)
    if not lo <= number <= hi:
        raise InputError(field, f"{int(number)} is outside {lo}–{hi}", fix)
    return int(number)


def as_float(field: str, value: Any, lo: float, hi: float, *, lo_open: bool = False,
             fix: str | None = None) -> float:
    left = "(" if lo_open else "["
    fix = fix or f"use a number in {left}{lo:g}, {hi:g}]"
    if isinstance(value, bool) or value is None:
        raise InputError(field, f"{value!r} is not a number", fix)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field, f"{value!r} is not a number", fix) from None
    if not math.isfinite(number):
        raise InputError(field, f"{value!r} is not a finite number", fix)
    if number < lo or number > hi or (lo_open and number == lo):
        raise InputError(field, f"{number:g} is out of range", fix)
    return number


def as_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise InputError(field, f"{value!r} is not true/false", "use true or false")


def as_choice(field: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InputError(field, f"{value!r} is not a valid choice", f"use one of: {', '.join(choices)}")
    return value


def as_text(field: str, value: Any, *, max_chars: int = MAX_PROMPT_CHARS, allow_empty: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InputError(field, f"expected text, got {type(value).__name__}", "pass a string")
    if "\x00" in value:
        raise InputError(field, "contains a NUL character", "remove control characters")
    try:  # a lone surrogate (half of an emoji from a broken client) cannot be tokenized or saved
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(field, f"contains an invalid character at position {err.start} (a lone "
                                "surrogate, half of an emoji)", "retype or remove that character") from None
    if len(value) > max_chars:
        raise InputError(field, f"is {len(value)} characters long", f"keep it under {max_chars} characters")
    if not allow_empty and not value.strip():
        raise InputError(field, "is empty", "describe what should happen in the video")
    return value


def to_rgb_uint8(img: Image.Image | np.ndarray) -> np.ndarray:
    """Any common image mode (RGBA, greyscale, 16-bit, palette, float) -> HxWx3 uint8 RGB."""
    if isinstance(img, Image.Image):
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, dtype=np.float64)
            arr = arr / (65535.0 if arr.max() > 255 else 255.0)
            return to_rgb_uint8((arr * 255).round().clip(0, 255).astype(np.uint8))
        if img.mode in ("RGBA", "LA", "P", "PA"):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # flatten alpha on white
            return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
        return np.asarray(img.convert("RGB"))
    arr = np.asarray(img)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 65535.0 * 255).round().astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.asarray(arr, dtype=np.float64)
        arr = (np.nan_to_num(arr) * (255.0 if arr.max(initial=0) <= 1.0 else 1.0)).round().clip(0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float64) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def _has_alpha(value: Image.Image | np.ndarray) -> bool:
    if isinstance(value, Image.Image):
        return value.mode in ("RGBA", "LA", "PA") or (value.mode == "P" and "transparency" in value.info)
    return value.ndim == 3 and value.shape[2] == 4


def check_image_header(field: str, path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header alone: InputError when it is not an image or has more
    than MAX_IMAGE_PIXELS, before any pixel is decoded or converted (a 20 KB 1-bit PNG can claim
    13000x13000, 500 MB as RGB). The upload component and `as_image` both call this."""
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError:  # PIL refuses to open above 2 x its own limit
        raise InputError(field, f"has over {2 * (Image.MAX_IMAGE_PIXELS or 0) // 10**6} million pixels, too large",
                         TOO_LARGE_FIX) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(field, "is not an image that can be decoded", IMAGE_FIX) from err
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(field, f"is {width}x{height}, too large", TOO_LARGE_FIX)
    return width, height


def oriented(img: Image.Image) -> Image.Image:
    """The image as its camera meant it to be seen (EXIF Orientation applied; phones store portrait
    photos landscape plus this tag). Images without the tag come back unchanged."""
    try:
        if img.getexif().get(EXIF_ORIENTATION, 1) in (0, 1):
            return img
        return ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block: the pixels as stored are still a valid image
        return img


def as_image(field: str, value: Any, *, min_side: int = 16, required: bool = True,
             keep_alpha: bool = False) -> np.ndarray | None:
    """A path, PIL image or array -> HxWx3 uint8 RGB, or InputError naming `field`. With
    `keep_alpha`, an image with transparency comes back HxWx4 RGBA (a cut-out's own mask)."""
    fix = IMAGE_FIX
    if value is None or (isinstance(value, str) and not value):
        if required:
            raise InputError(field, "no image given", fix)
        return None
    if isinstance(value, (str, Path)):
        path = Path(value)
        if not path.is_file():
            raise InputError(field, f"no file at {path.name!r}", fix)
        if path.stat().st_size == 0:
            raise InputError(field, "the file is empty (0 bytes)", fix)
        check_image_header(field, path)
        try:
            with Image.open(path) as im:
                im.load()
                value = im.copy()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(field, "is not an image that can be decoded", fix) from err
    if not isinstance(value, (Image.Image, np.ndarray)):
        raise InputError(field, f"expected an image, got {type(value).__name__}", fix)
    if isinstance(value, Image.Image):
        value = oriented(value)
    if keep_alpha and _has_alpha(value):
        rgba = np.asarray(value.convert("RGBA")) if isinstance(value, Image.Image) else np.asarray(value)
        arr = np.ascontiguousarray(np.concatenate([to_rgb_uint8(rgba[:, :, :3]), to_rgb_uint8(rgba[:, :, 3])[:, :, :1]],
                                                  axis=2))
    else:
        arr = to_rgb_uint8(value)
    if arr.ndim != 3 or arr.shape[0] < min_side or arr.shape[1] < min_side:
        raise InputError(field, f"is {arr.shape[1] if arr.ndim > 1 else 0}x{arr.shape[0]} pixels, too small",
                         f"use an image at least {min_side}x{min_side} pixels")
    if arr.shape[0] * arr.shape[1] > MAX_IMAGE_PIXELS:
        raise InputError(field, f"is {arr.shape[1]}x{arr.shape[0]}, too large", TOO_LARGE_FIX)
    return arr
