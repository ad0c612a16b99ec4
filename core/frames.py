"""The one check of a frame stream's frames (HxWx3 uint8 RGB, all the same size), shared by the
interpolators below studio/ (flow) and in models/ (rife), so both refuse the same inputs alike."""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import InputError

if TYPE_CHECKING:
    import numpy as np


def check_frame(frame: object, index: int, shape: tuple[int, ...] | None) -> np.ndarray:
    """`frame` if it is an HxWx3 uint8 RGB array (of `shape`, when given), else InputError("frames")."""
    import numpy as np  # deferred: the base package imports numpy only when used
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
            and frame.shape[0] > 0 and frame.shape[1] > 0):
        what = f"{type(frame).__name__}" if not isinstance(frame, np.ndarray) else f"{frame.dtype} {frame.shape}"
        raise InputError("frames", f"frame {index} is {what}, not an HxWx3 uint8 RGB image",
                         "pass RGB frames as uint8 arrays of shape (height, width, 3)")
    if shape is not None and frame.shape != shape:
        raise InputError("frames", f"frame {index} is {frame.shape[1]}x{frame.shape[0]} but frame 0 is "
                         f"{shape[1]}x{shape[0]}", "give frames that all have the same size")
    return frame
