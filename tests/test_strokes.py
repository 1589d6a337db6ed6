"""Drawn digits: the stroke catalogue, the canvas-like renderer, and the labelled sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import strokes
from explorer.digits import digit_stages

CANVAS_DIGITS = Path(__file__).resolve().parent.parent / "sample_data" / "canvas_digits.json"


@pytest.mark.parametrize(("digit", "style"), strokes.style_names())
def test_every_style_draws_a_whole_digit_on_the_canvas(digit: int, style: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        image = strokes.draw(digit, style, rng)
        assert image.shape == (280, 280) and image.dtype == np.uint8
        assert image.max() == 255
        # nothing cut off at the edges: the border stays black
        assert image[[0, -1]].max() == 0 and image[:, [0, -1]].max() == 0
        digit_stages(image)  # the /draw preprocessing accepts it


def test_drawing_is_deterministic_from_the_generator() -> None:
    a = strokes.draw(7, "crossed", np.random.default_rng(3))
    b = strokes.draw(7, "crossed", np.random.default_rng(3))
    c = strokes.draw(7, "crossed", np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_catalogue_has_the_styles_students_write() -> None:
    assert set(strokes.STYLES) == set(range(10))
    for digit, style in [
        (1, "flag"),
        (1, "flag and base"),
        (7, "crossed"),
        (4, "open"),
        (4, "closed"),
        (9, "straight stem"),
        (9, "curved stem"),
        (2, "loop"),
        (0, "slashed"),
    ]:
        assert style in strokes.STYLES[digit]


def test_render_draws_round_caps_of_the_pen_width() -> None:
    image = strokes.render([np.array([[100.0, 140.0], [180.0, 140.0]])], width=20)
    ink = image > 127
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    assert rows[-1] - rows[0] + 1 == pytest.approx(20, abs=1)  # the pen's width
    assert cols[-1] - cols[0] + 1 == pytest.approx(80 + 20, abs=1)  # the line plus two caps
    assert image[130, 90] == 0 and image[130, 140] > 0  # round caps: the box's corner is empty
    assert ((image > 0) & (image < 255)).sum() > 100  # anti-aliased edges


def test_sets_are_stratified_shuffled_and_preprocessed_like_the_canvas() -> None:
    digits = strokes.drawn_digits(6, seed=11)
    assert digits.images.shape == (60, 1, 28, 28)
    assert np.bincount(digits.labels.numpy()).tolist() == [6] * 10
    assert not torch.equal(digits.labels, digits.labels.sort().values)
    for digit, styles in strokes.STYLES.items():
        seen = {s for s, d in zip(digits.styles, digits.labels.tolist(), strict=True) if d == digit}
        assert seen == set(styles)
    again = strokes.drawn_digits(6, seed=11)
    assert torch.equal(digits.images, again.images)


def test_the_test_set_is_apart_from_the_training_digits() -> None:
    test = strokes.drawn_digits(5, strokes.TEST_SEED)
    train = strokes.drawn_digits(5, strokes.TRAIN_SEED)
    flat_test = test.images.flatten(1)
    distance = torch.cdist(flat_test, train.images.flatten(1)).min().item()
    assert distance > 1.0  # no drawn test digit is a training digit
    assert len(strokes.drawn_test_set().labels) >= 300


def test_canvas_recordings_match_the_renderer() -> None:
    """The real canvas (fabric.js in Chromium) and ``strokes.render`` paint the same ink from
    the same mouse paths: the training digits look like a student's."""
    records = json.loads(CANVAS_DIGITS.read_text())["digits"]
    assert len(records) >= 50
    assert {r["digit"] for r in records} == set(range(10))
    for record in records:
        canvas = strokes.canvas_picture(record).astype(np.float32)
        again = strokes.render([np.asarray(s) for s in record["strokes"]], record["width"])
        assert np.abs(canvas - again).mean() < 3, record["style"]  # grey levels of 255
        a, b = canvas > 127, again > 127
        assert (a & b).sum() / (a | b).sum() > 0.95, record["style"]


def test_canvas_recordings_load_as_a_labelled_set() -> None:
    digits = strokes.load_canvas_digits(CANVAS_DIGITS)
    assert digits.images.shape[1:] == (1, 28, 28)
    assert len(digits.styles) == len(digits.labels) == len(digits.images)
    assert "flag" in digits.styles and "crossed" in digits.styles
