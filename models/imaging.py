"""Image operations every family shares."""
from __future__ import annotations

import numpy as np
from PIL import Image


def resize_and_center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxWx3 uint8 -> height x width x 3 uint8: scale to cover (Lanczos), crop the centre.
    An image already of the target size is returned unchanged (bit-exact)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    scale = max(width / w, height / h)
    new_w, new_h = max(width, int(round(w * scale))), max(height, int(round(h * scale)))
    resized = Image.fromarray(image).resize((new_w, new_h), Image.LANCZOS)
    left, top = (new_w - width) / 2, (new_h - height) / 2
    cropped = resized.crop((int(round(left)), int(round(top)), int(round(left)) + width, int(round(top)) + height))
    return np.asarray(cropped, dtype=np.uint8)
