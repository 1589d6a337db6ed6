"""Small grayscale images for display (preprocessing stages, samples, reconstructions)."""

from __future__ import annotations

import numpy as np


def pad_square(image: np.ndarray) -> np.ndarray:
    """Centre a 2-D image on a black square, so thumbnails of any aspect ratio line up."""
    h, w = image.shape
    side = max(h, w)
    out = np.zeros((side, side), dtype=image.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = image
    return out
