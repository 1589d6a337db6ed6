"""Tests for explorer.digits on synthetic drawings made with PIL, the way the canvas returns them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from explorer.digits import (
    BOX,
    DigitStages,
    digit_stages,
    has_ink,
    ink_intensity,
    preprocess_digit,
    to_image,
)
from explorer.mnist import MNIST_MEAN, MNIST_STD

CANVAS = 280
WHITE = (255, 255, 255, 255)

Drawing = Callable[[ImageDraw.ImageDraw, int, int], None]


def one(draw: ImageDraw.ImageDraw, x: int, y: int, width: int = 16) -> None:
    draw.line([(x + 40, y), (x + 40, y + 180)], fill=WHITE, width=width)


def seven(draw: ImageDraw.ImageDraw, x: int, y: int, width: int = 16) -> None:
    draw.line([(x, y), (x + 130, y), (x + 50, y + 180)], fill=WHITE, width=width)


def small_seven(draw: ImageDraw.ImageDraw, x: int, y: int, width: int = 3) -> None:
    draw.line([(x, y), (x + 20, y), (x + 8, y + 30)], fill=WHITE, width=width)


def zero(draw: ImageDraw.ImageDraw, x: int, y: int, width: int = 16) -> None:
    draw.ellipse([(x, y), (x + 110, y + 170)], outline=WHITE, width=width)


def canvas(
    drawing: Drawing = seven,
    x: int = 70,
    y: int = 50,
    *,
    width: int = 16,
    background: tuple[int, int, int, int] = (0, 0, 0, 255),
) -> np.ndarray:
    """A 280x280 RGBA canvas with one digit drawn at (x, y) in white."""
    image = Image.new("RGBA", (CANVAS, CANVAS), background)
    drawing(ImageDraw.Draw(image), x, y, width)
    return np.asarray(image)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    total = image.sum()
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the nonzero pixels, inclusive."""
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


DRAWINGS = {
    "one": canvas(one),
    "seven": canvas(seven),
    "zero": canvas(zero),
    "seven in a corner": canvas(seven, 130, 90),
    "small seven in a corner": canvas(small_seven, 10, 10, width=3),
    "thick zero": canvas(zero, width=40),
    "thin one": canvas(one, width=2),
    "seven on transparent": canvas(seven, background=(0, 0, 0, 0)),
}


# --- the happy path ---------------------------------------------------------------------------


def test_output_is_a_normalised_mnist_tensor() -> None:
    tensor = preprocess_digit(canvas())
    assert tensor.shape == (1, 1, 28, 28)
    assert tensor.dtype == torch.float32
    assert tensor.min().item() == pytest.approx(-MNIST_MEAN / MNIST_STD, abs=1e-6)  # background
    assert tensor.max().item() > (0.9 - MNIST_MEAN) / MNIST_STD  # full white ink survives


@pytest.mark.parametrize("name", DRAWINGS)
def test_stages_follow_the_mnist_recipe(name: str) -> None:
    stages = digit_stages(DRAWINGS[name])
    assert isinstance(stages, DigitStages)
    assert stages.drawn.shape == (CANVAS, CANVAS)
    height, width = stages.cropped.shape
    scale = BOX / max(height, width)
    assert stages.resized.shape == (max(1, round(height * scale)), max(1, round(width * scale)))
    assert max(stages.resized.shape) == BOX
    assert stages.centred.shape == (28, 28)
    for array in (stages.drawn, stages.cropped, stages.resized, stages.centred):
        assert array.dtype == np.float32
        assert array.min() >= 0.0 and array.max() <= 1.0
    cy, cx = centre_of_mass(stages.centred)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5, (cy, cx)
    # The shift moved ink without losing any.
    assert stages.centred.sum() == pytest.approx(stages.resized.sum(), rel=1e-5)
    torch.testing.assert_close(
        stages.tensor,
        torch.from_numpy((stages.centred - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28),
    )


def test_crop_is_the_ink_bounding_box() -> None:
    image = canvas(one, 70, 50, width=16)  # a line from (110, 50) to (110, 230)
    top, bottom, left, right = ink_box(image[:, :, 0])
    stages = digit_stages(image)
    np.testing.assert_allclose(
        stages.cropped, image[top : bottom + 1, left : right + 1, 0] / 255, atol=1e-6
    )
    height, width = stages.cropped.shape
    assert height == 181 and 14 <= width <= 17
    assert stages.resized.shape == (20, round(width * 20 / 181))  # aspect ratio kept


def test_resized_ink_fits_in_twenty_pixels() -> None:
    stages = digit_stages(canvas(zero))
    top, bottom, left, right = ink_box(stages.centred)
    assert bottom - top + 1 == BOX  # the zero is taller than wide
    assert right - left + 1 <= BOX


def test_same_digit_at_two_offsets_gives_the_same_tensor() -> None:
    a = preprocess_digit(canvas(seven, 10, 10))
    b = preprocess_digit(canvas(seven, 140, 95))
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_shift_moves_the_centre_of_mass_by_whole_pixels() -> None:
    stages = digit_stages(canvas(seven))
    dy, dx = stages.shift
    assert isinstance(dy, int) and isinstance(dx, int)
    unshifted = np.roll(stages.centred, (-dy, -dx), axis=(0, 1))  # safe: no ink was cut
    cy, cx = centre_of_mass(stages.centred)
    uy, ux = centre_of_mass(unshifted)
    assert (cy - uy, cx - ux) == pytest.approx((dy, dx), abs=1e-4)
    # A "7" is heavy at the top, so it must move down to be centred.
    assert dy > 0


def test_symmetric_digit_is_pasted_in_the_middle() -> None:
    # A "0" is symmetric, so pasting it in the middle already centres it to within a pixel.
    dy, dx = digit_stages(canvas(zero, 5, 100)).shift
    assert abs(dy) <= 1 and abs(dx) <= 1


def test_resizing_is_anti_aliased() -> None:
    # A 2 px outline shrunk about 8.5 times must turn grey, not stay black and white.
    resized = digit_stages(canvas(zero, width=2)).resized
    assert resized.max() < 0.7
    assert len(np.unique(resized)) > 20


def test_lopsided_digit_is_clamped_not_cut() -> None:
    # A heavy bar on top of a long thin stem: its centre of mass sits near the top, further
    # from the centre than the 4 px margin lets the ink move.
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle([(60, 20), (220, 90)], fill=WHITE)
    draw.line([(140, 90), (140, 270)], fill=WHITE, width=1)
    stages = digit_stages(np.asarray(image))
    top, bottom, _, _ = ink_box(stages.centred)
    assert bottom == 27  # pushed as far down as possible ...
    assert stages.centred.sum() == pytest.approx(stages.resized.sum(), rel=1e-5)  # ... whole
    cy, _ = centre_of_mass(stages.centred)
    assert cy < 13.5


def test_thick_and_thin_strokes_both_leave_ink() -> None:
    thick = digit_stages(canvas(one, width=40)).centred
    thin = digit_stages(canvas(one, width=2)).centred
    assert thin.max() > 0.5 and (thin > 0.1).sum() >= 20
    assert thick.sum() > 2 * thin.sum()


def test_to_image_undoes_the_normalisation() -> None:
    stages = digit_stages(canvas(zero))
    expected = np.round(stages.centred * 255).astype(np.uint8)
    for tensor in (stages.tensor, stages.tensor[0, 0]):
        image = to_image(tensor)
        assert image.dtype == np.uint8 and image.shape == (28, 28)
        assert np.abs(image.astype(int) - expected).max() <= 1


def test_to_image_clips_out_of_range_values_and_checks_shape() -> None:
    wild = torch.full((28, 28), 100.0)
    wild[0, 0] = -100.0
    wild[0, 1] = float("nan")
    image = to_image(wild)
    assert image[5, 5] == 255 and image[0, 0] == 0 and image[0, 1] == 0
    with pytest.raises(ValueError, match="28, 28"):
        to_image(torch.zeros(784))
    with pytest.raises(TypeError, match="tensor"):
        to_image([[0.0] * 28] * 28)


def test_rgba_intensity_is_luminance_times_alpha() -> None:
    image = np.zeros((10, 10, 4), dtype=np.uint8)
    image[0, 0] = (255, 255, 255, 128)
    image[0, 1] = (255, 0, 0, 255)
    image[0, 2] = (255, 255, 255, 0)  # white but transparent: background
    drawn = ink_intensity(image)
    assert drawn.shape == (10, 10)
    assert drawn[0, 0] == pytest.approx(128 / 255, abs=1e-6)
    assert drawn[0, 1] == pytest.approx(0.299, abs=1e-6)
    assert drawn[0, 2] == 0.0


def test_transparent_canvas_matches_black_canvas() -> None:
    black = preprocess_digit(canvas(seven))
    clear = preprocess_digit(canvas(seven, background=(0, 0, 0, 0)))
    torch.testing.assert_close(black, clear)


def test_transparent_white_canvas_is_empty() -> None:
    image = canvas(lambda *_: None, background=(255, 255, 255, 0))
    assert not has_ink(image)
    with pytest.raises(ValueError, match="draw"):
        preprocess_digit(image)


@pytest.mark.parametrize("convert", ["L", "RGB"])
def test_grayscale_and_rgb_arrays_match_rgba(convert: str) -> None:
    rgba = canvas(zero)
    other = np.asarray(Image.fromarray(rgba).convert(convert))
    assert other.ndim == (2 if convert == "L" else 3)
    torch.testing.assert_close(preprocess_digit(other), preprocess_digit(rgba), atol=1e-5, rtol=0)


def test_float_image_in_unit_range_matches_uint8() -> None:
    gray = np.asarray(Image.fromarray(canvas(one)).convert("L"))
    torch.testing.assert_close(preprocess_digit(gray / 255.0), preprocess_digit(gray))
    torch.testing.assert_close(preprocess_digit(gray[:, :, None]), preprocess_digit(gray))


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "L", "LA"])
def test_pil_image_input(mode: str) -> None:
    rgba = canvas(seven, background=(0, 0, 0, 0))
    pil = Image.fromarray(rgba).convert(mode)
    expected = preprocess_digit(rgba if "A" in mode else np.asarray(pil))
    torch.testing.assert_close(preprocess_digit(pil), expected, atol=1e-5, rtol=0)


def test_has_ink() -> None:
    assert has_ink(canvas())
    assert not has_ink(canvas(lambda *_: None))
    assert not has_ink(None)  # the canvas before its first render


def test_input_is_not_modified() -> None:
    image = canvas(zero).copy()
    before = image.copy()
    stages = digit_stages(image)
    np.testing.assert_array_equal(image, before)
    assert not stages.drawn.flags.writeable  # stages are frozen records


# --- bad input --------------------------------------------------------------------------------


def test_empty_canvas() -> None:
    with pytest.raises(ValueError, match="empty.*draw"):
        preprocess_digit(canvas(lambda *_: None))


@pytest.mark.parametrize(
    ("gray", "word"), [(20, "empty"), (50, "faint")], ids=["below threshold", "too dim"]
)
def test_faint_ink_counts_as_empty(gray: int, word: str) -> None:
    image = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    image[100:180, 130:150] = gray
    assert not has_ink(image)
    with pytest.raises(ValueError, match=f"{word}.*draw"):
        preprocess_digit(image)


def test_light_background_is_refused() -> None:
    paper = 255 - np.asarray(Image.fromarray(canvas(seven)).convert("L"))  # dark ink on white
    with pytest.raises(ValueError, match="background.*invert"):
        preprocess_digit(paper)


@pytest.mark.parametrize(
    ("image", "word"),
    [
        (np.zeros((28, 28), dtype=np.int64), "uint8"),
        (np.zeros((28, 28), dtype=bool), "uint8"),
        (np.zeros((28, 28), dtype=np.float32) + 2, r"\[0, 1\]"),
        (np.full((28, 28), -0.5), r"\[0, 1\]"),
    ],
    ids=["int64", "bool", "float above 1", "float below 0"],
)
def test_wrong_dtype_or_range(image: np.ndarray, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        preprocess_digit(image)


@pytest.mark.parametrize("shape", [(784,), (28, 28, 2), (28, 28, 5), (1, 28, 28, 4)])
def test_wrong_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shape"):
        preprocess_digit(np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(bad: float) -> None:
    image = np.zeros((28, 28), dtype=np.float32)
    image[5, 5] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        preprocess_digit(image)


def test_too_large() -> None:
    with pytest.raises(ValueError, match="too large"):
        preprocess_digit(np.zeros((4097, 20), dtype=np.uint8))
    with pytest.raises(ValueError, match="too large"):
        preprocess_digit(Image.new("L", (5000, 5000)))


@pytest.mark.parametrize("shape", [(5, 5), (7, 100), (100, 7, 4)])
def test_too_small(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="too small"):
        preprocess_digit(np.full(shape, 255, dtype=np.uint8))


@pytest.mark.parametrize("thing", [[[0] * 28] * 28, None, "digit.png"])
def test_not_an_image(thing: object) -> None:
    with pytest.raises(TypeError, match="numpy array or a PIL image"):
        preprocess_digit(thing)
