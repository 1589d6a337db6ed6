"""Typed numbers and uploaded files -> model inputs, with messages a student understands."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_PIXELS = 4096 * 4096  # larger images are refused before they are decoded
# The largest number float32 holds (about 3.4e38). Beyond it a typed number would become
# infinity on its way into the network; numbers too small for float32 become 0 or a subnormal,
# which changes nothing a student could see, so those are let through.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def parse_numbers(values: Any, n: int) -> torch.Tensor:
    """Typed numbers (a table or nested list) -> a (rows, n) float32 tensor, or ValueError."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("Every cell must be a number (like 0.5 or -2).") from None
    except OverflowError:  # a whole number past float64's range, so past float32's too
        raise ValueError(too_large_message("A number in the table") + ".") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != n:
        got = array.shape[-1] if array.ndim else 0
        raise ValueError(f"This model takes {n} numbers per row; the table has {got}.")
    if array.shape[0] == 0:
        raise ValueError("Type at least one row of numbers.")
    if not np.isfinite(array).all():
        raise ValueError(
            "Every cell needs a finite number: empty cells, NaN and infinity "
            "cannot go through a network."
        )
    too_large = first_too_large(array)
    if too_large is not None:
        raise ValueError(too_large_message(too_large) + ".")
    return torch.from_numpy(array.astype(np.float32))


def first_too_large(values: np.ndarray) -> str | None:
    """The first of ``values`` float32 cannot hold, written short ("1e308"), or None."""
    too_large = np.abs(values) > FLOAT32_MAX
    if not too_large.any():
        return None
    return _short(float(values[too_large].flat[0]))


def too_large_message(what: str) -> str:
    """Why ``what`` cannot go into a network (no full stop: callers place it in a sentence)."""
    return (
        f"{what} is too large for float32, the type the network computes in: numbers up "
        f"to about {_short(FLOAT32_MAX, 2)} fit"
    )


def _short(value: float, digits: int = 6) -> str:
    """1e308 as "1e308", not "1e+308"."""
    return f"{value:.{digits}g}".replace("e+", "e")


def decode_upload(data: bytes) -> np.ndarray:
    """Uploaded bytes -> an array ``digit_stages`` accepts (ink bright), or a clear ValueError."""
    if not data:
        raise ValueError("The uploaded file is empty.")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_UPLOAD_PIXELS:
                raise ValueError(
                    f"The image is {img.width}x{img.height} pixels; images up to "
                    "4096x4096 are accepted."
                )
            if img.format not in ("PNG", "JPEG"):
                raise ValueError(f"Please upload a PNG or JPEG (this file is {img.format}).")
            img.load()
            # a palette (or L, RGB) PNG can mark a colour transparent in `info` instead of
            # having an alpha band; converting it straight to L would drop the transparency
            if "A" in img.getbands() or "transparency" in img.info:
                gray = np.asarray(img.convert("RGBA").convert("LA"))
            else:
                gray = np.asarray(img.convert("L"))
    except UnidentifiedImageError:
        raise ValueError("That file is not an image PNG or JPEG can read.") from None
    except (OSError, Image.DecompressionBombError, SyntaxError) as err:
        raise ValueError(f"The image could not be read ({err}); is the file complete?") from None
    if gray.ndim == 3:  # LA: ink is luminance times alpha, as on the canvas
        lum, alpha = gray[..., 0].astype(np.float32), gray[..., 1].astype(np.float32) / 255
        opaque = alpha > 0.5
        if opaque.mean() > 0.9 and lum[opaque].mean() > 127:  # dark digit on a light page
            lum = 255 - lum
        return (lum * alpha).astype(np.uint8)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:  # dark ink on white paper: MNIST digits are white on black
        gray = 255 - gray
    return gray
