"""A drawn or uploaded digit -> the 28x28 tensor an MNIST model expects, stage by stage.

The recipe is the original MNIST one: crop to the ink, scale the longest side to 20 px with
anti-aliasing, paste into the middle of a 28x28 field, then move the centre of mass to the
centre. Ink is bright on a dark (or transparent) background, as in MNIST itself.

Accepted images: a numpy array of dtype uint8 (0-255) or float (0.0-1.0), shaped (H, W)
grayscale, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA; or a PIL image. Other integer dtypes and
bool are refused rather than guessed at, because their scale is ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from explorer.mnist import MNIST_MEAN, MNIST_STD

SIDE = 28  # MNIST images are SIDE x SIDE
BOX = 20  # the digit's longest side after resizing, as in MNIST
CENTRE = 14.0  # where the centre of mass goes, in (row, column) array coordinates
INK_THRESHOLD = 0.1  # a pixel brighter than this is ink for cropping; above JPEG-level noise
MIN_PEAK = 0.25  # a drawing whose brightest pixel is dimmer than this is too faint to read
MIN_SIDE = 8
MAX_SIDE = 4096  # larger images are refused: this runs on a shared server

# ITU-R 601 luma weights, the ones PIL's convert("L") uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class DigitStages:
    """Every stage of preprocessing one digit, for showing side by side.

    The arrays are read-only; ``cropped`` is a view into ``drawn``.
    """

    drawn: np.ndarray  # (H, W) float32 ink intensity in [0, 1]
    cropped: np.ndarray  # (h, w) float32, the bounding box of the ink
    resized: np.ndarray  # (h', w') float32, longest side BOX
    centred: np.ndarray  # (28, 28) float32 in [0, 1], centre of mass at the centre
    tensor: torch.Tensor  # (1, 1, 28, 28) float32, normalised with the MNIST mean and std
    shift: tuple[int, int]  # (dy, dx) applied to move the centre of mass

    def __post_init__(self) -> None:
        for array in (self.drawn, self.cropped, self.resized, self.centred):
            array.flags.writeable = False


def digit_stages(image: np.ndarray | Image.Image) -> DigitStages:
    """Preprocess a digit like MNIST and keep every intermediate image.

    Args:
        image: uint8 (0-255) or float (0-1) array shaped (H, W), (H, W, 1), (H, W, 3) or
            (H, W, 4), or a PIL image; bright ink on a dark or transparent background.

    Returns:
        The stages; ``.tensor`` is ready for an MNIST model.

    Raises:
        TypeError: ``image`` is neither a numpy array nor a PIL image.
        ValueError: the image is empty, too faint, on a light background, of the wrong dtype or
            shape, too small or too large, or holds NaN or infinity.
    """
    drawn = ink_intensity(image)
    peak = float(drawn.max())
    if peak < INK_THRESHOLD:
        raise ValueError("The canvas is empty: draw a digit first.")
    if peak < MIN_PEAK:
        raise ValueError(
            f"The ink is too faint to read (its brightest pixel is {peak:.0%} of white): "
            "draw with brighter ink."
        )
    if _border_mean(drawn) > 0.5:
        raise ValueError(
            "The background looks light: draw light ink on a dark background "
            "(for a dark digit on white paper, invert the image first, e.g. 255 - image)."
        )

    cropped = _crop_to_ink(drawn)
    resized = _resize_longest_side(cropped, BOX)
    pasted = _paste_in_middle(resized, SIDE)
    shift = _centre_of_mass_shift(pasted)
    centred = _shift(pasted, *shift)
    normalised = (centred - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)
    tensor = torch.from_numpy(normalised).reshape(1, 1, SIDE, SIDE)
    return DigitStages(drawn, cropped, resized, centred, tensor, shift)


def preprocess_digit(image: np.ndarray | Image.Image) -> torch.Tensor:
    """The (1, 1, 28, 28) float32 tensor for ``image``; see ``digit_stages`` for what it accepts."""
    return digit_stages(image).tensor


def has_ink(image: np.ndarray | Image.Image | None) -> bool:
    """Whether ``image`` holds ink bright enough to preprocess; ``None`` (no canvas yet) has none.

    Malformed images still raise, as in ``digit_stages``.
    """
    if image is None:
        return False
    return float(ink_intensity(image).max()) >= MIN_PEAK


def to_image(tensor: torch.Tensor | np.ndarray) -> np.ndarray:
    """Undo the MNIST normalisation of a (1, 1, 28, 28) or (28, 28) tensor: a uint8 28x28 image.

    Values outside [0, 1] after un-normalising (an autoencoder can produce them) are clipped,
    and NaN becomes black.
    """
    if isinstance(tensor, np.ndarray):
        tensor = torch.from_numpy(tensor)
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"to_image expects a torch tensor, got {type(tensor).__name__}.")
    if tensor.shape not in ((1, 1, SIDE, SIDE), (SIDE, SIDE)):
        raise ValueError(
            f"to_image expects a tensor shaped (1, 1, 28, 28) or (28, 28), got {tuple(tensor.shape)}."
        )
    x = tensor.detach().to("cpu", torch.float32).reshape(SIDE, SIDE)
    x = torch.nan_to_num(x * MNIST_STD + MNIST_MEAN, nan=0.0).clamp(0.0, 1.0)
    return (x * 255.0).round().to(torch.uint8).numpy()


def ink_intensity(image: np.ndarray | Image.Image) -> np.ndarray:
    """Check ``image`` and return its ink intensity: (H, W) float32 in [0, 1].

    RGB becomes luminance; RGBA is luminance times alpha, so transparent pixels are background
    whatever their colour.
    """
    array = _as_array(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(
            f"An image must be shaped (H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA; "
            f"got shape {array.shape}."
        )
    height, width = array.shape[:2]
    _check_size(height, width)

    if array.dtype == np.uint8:
        scale = np.float32(1 / 255)
    elif array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError("The image holds NaN or infinity: every pixel needs a real value.")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                "A float image must have values in [0, 1] "
                f"(got {float(array.min()):.3g} to {float(array.max()):.3g})."
            )
        scale = np.float32(1)
    else:
        raise ValueError(
            f"Unsupported pixel type {array.dtype}: use uint8 (0-255) or float (0.0-1.0)."
        )

    if array.ndim == 2:
        # np.multiply with dtype always allocates, so the caller's array is never shared.
        return np.multiply(array, scale, dtype=np.float32)
    luminance = array[:, :, :3].astype(np.float32) @ _LUMA  # (H, W)
    if array.shape[2] == 4:
        luminance *= array[:, :, 3] * (scale * scale)
    else:
        luminance *= scale
    # Rounding can leave white a hair above 1.
    return np.minimum(luminance, np.float32(1), out=luminance)


def _as_array(image: np.ndarray | Image.Image) -> np.ndarray:
    """A numpy view of ``image``; PIL images keep alpha if they have it, else become grayscale."""
    if isinstance(image, np.ndarray):
        return image
    if isinstance(image, Image.Image):
        # Check before converting, which would allocate the full-size copy we mean to refuse.
        _check_size(image.height, image.width)
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "L"))
    raise TypeError(
        f"Expected the image as a numpy array or a PIL image, got {type(image).__name__}."
    )


def _check_size(height: int, width: int) -> None:
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ValueError(
            f"The image is too large ({width}x{height} pixels): "
            f"at most {MAX_SIDE}x{MAX_SIDE} is accepted."
        )
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ValueError(
            f"The image is too small ({width}x{height} pixels): "
            f"it needs at least {MIN_SIDE}x{MIN_SIDE}."
        )


def _border_mean(drawn: np.ndarray) -> float:
    """Mean intensity of the outermost rows and columns: high means a light background."""
    edges = (drawn[0], drawn[-1], drawn[1:-1, 0], drawn[1:-1, -1])
    return float(sum(edge.sum() for edge in edges) / sum(edge.size for edge in edges))


def _crop_to_ink(drawn: np.ndarray) -> np.ndarray:
    """The smallest box holding every pixel above INK_THRESHOLD (the caller ensures there is one)."""
    ink = drawn > INK_THRESHOLD
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    return drawn[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _resize_longest_side(image: np.ndarray, side: int) -> np.ndarray:
    """Scale so the longest side is ``side``, keeping the aspect ratio, with Lanczos filtering."""
    height, width = image.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL wants (w, h)
    resized = Image.fromarray(np.ascontiguousarray(image)).resize(size, Image.Resampling.LANCZOS)
    # Lanczos overshoots near sharp edges; clipping keeps intensities meaningful.
    return np.clip(np.asarray(resized), 0.0, 1.0)


def _paste_in_middle(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape
    top, left = (side - height) // 2, (side - width) // 2
    field = np.zeros((side, side), dtype=np.float32)
    field[top : top + height, left : left + width] = image
    return field


def _centre_of_mass_shift(image: np.ndarray) -> tuple[int, int]:
    """The integer (dy, dx) that brings the centre of mass nearest CENTRE without losing ink.

    A lopsided digit (a heavy blob on a thin stem) may want more shift than the empty margin
    allows; the shift is then clamped so that the ink stays whole.
    """
    cy, cx = (float(c) for c in ndimage.center_of_mass(image))
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    last = image.shape[0] - 1
    dy = int(np.clip(np.floor(CENTRE - cy + 0.5), -rows[0], last - rows[-1]))
    dx = int(np.clip(np.floor(CENTRE - cx + 0.5), -cols[0], last - cols[-1]))
    return dy, dx


def _shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move ``image`` by whole pixels (dy, dx), filling with zeros (np.roll would wrap ink)."""
    # order=0 with whole-pixel shifts copies values exactly: nothing is interpolated
    return ndimage.shift(image, (dy, dx), order=0, mode="constant", cval=0.0)
