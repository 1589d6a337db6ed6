"""Where a network's input comes from: the kinds of source, and ``resolve()``, which turns one
source and its settings into the input tensor or a sentence for the student.

Pure: no Streamlit, no session state. ``ui.state`` reads the widgets into a ``Source`` and an
``InputSettings`` and calls ``resolve``; links write a source as its word (``input=typed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import torch

from explorer.digits import DigitStages, digit_stages, has_ink
from explorer.inputs import decode_upload, parse_numbers
from explorer.mnist import MNIST_MEAN, MNIST_STD
from explorer.zoo import Preset

MAX_SEED = 2**31 - 1  # the largest random seed the sidebar and links accept


class Source(StrEnum):
    """A kind of input; its value is the word a link uses (``?input=typed``)."""

    DRAW = "draw"
    SAMPLE = "sample"
    UPLOAD = "upload"
    TYPED = "typed"
    RANDOM = "random"

    @property
    def label(self) -> str:
        """What the sidebar's radio shows."""
        return _KINDS[self].label

    def fits(self, preset: Preset) -> bool:
        """Whether this source can feed ``preset``'s model (an image, or a row of numbers)."""
        return preset.input_kind in _KINDS[self].feeds


@dataclass(frozen=True)
class _Kind:
    label: str
    feeds: tuple[str, ...]  # the presets' input kinds it makes an input for


_KINDS = {
    Source.DRAW: _Kind("Draw", ("image",)),
    Source.SAMPLE: _Kind("Sample", ("image",)),
    Source.UPLOAD: _Kind("Upload", ("image",)),
    Source.TYPED: _Kind("Typed numbers", ("vector",)),
    Source.RANDOM: _Kind("Random", ("image", "vector")),
}
# What a network opens on when the chosen source cannot feed it: SimpleNN on the tutorial's
# typed numbers, the CNN on a sample digit.
_FALLBACK = {"image": Source.SAMPLE, "vector": Source.TYPED}


def fitting(source: Source, preset: Preset) -> Source:
    """``source`` if it can feed ``preset``, else the source that network opens on."""
    return source if source.fits(preset) else _FALLBACK[preset.input_kind]


def source_of(value: Any, default: Source) -> Source:
    """A stored source (a ``Source`` or its word) as a ``Source``; ``default`` if it is neither."""
    try:
        return Source(value)
    except ValueError:
        return default


@dataclass(frozen=True)
class InputSettings:
    """What the student set for each source; only the chosen source's setting is read."""

    sample: int = 0  # index into the gallery (wraps around)
    random_seed: int = 0
    typed: Any = None  # a table of numbers (rows); None: the preset's own default input
    drawing: np.ndarray | None = None  # the canvas image (RGBA uint8)
    upload: bytes | None = None  # the uploaded file's bytes


@dataclass(frozen=True)
class Gallery:
    """The shipped sample digits: uint8 images (N, 28, 28) and their labels (N,)."""

    images: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Resolved:
    """The input a source gave, or the message saying why there is none."""

    x: torch.Tensor | None
    message: str | None = None
    label: int | None = None  # the true digit, for a sample
    stages: DigitStages | None = None  # the preprocessing of a drawn or uploaded digit

    @property
    def ok(self) -> bool:
        return self.x is not None


def resolve(
    preset: Preset, source: Source, settings: InputSettings, gallery: Gallery | None = None
) -> Resolved:
    """The input tensor ``source`` makes for ``preset``'s model, or a message for the student.

    Args:
        preset: the network the input is for (its input kind and shape).
        source: where the input comes from.
        settings: the sample index, seed, typed numbers, drawing or upload.
        gallery: the sample digits (needed for ``Source.SAMPLE`` only).

    Returns:
        ``Resolved`` with ``x`` (batch first), or with ``x`` None and ``message`` saying what
        to do. Bad values give a message, never an exception.
    """
    if not source.fits(preset):
        return Resolved(None, _wrong_kind(preset))
    try:
        return _MAKERS[source](preset, settings, gallery)
    except ValueError as err:
        return Resolved(None, str(err))


def _wrong_kind(preset: Preset) -> str:
    choices = _one_of([s.label for s in Source if s.fits(preset)])
    if preset.input_kind == "vector":
        what = f"takes {preset.input_shape[0]} numbers, not an image"
    else:
        what = "takes a 28x28 image, not typed numbers"
    return f"{preset.title} {what}: choose {choices} in the sidebar."


def _random(preset: Preset, settings: InputSettings, _: Gallery | None) -> Resolved:
    seed = settings.random_seed
    if not _whole(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"The random seed must be a whole number from 0 to {MAX_SEED:,}.")
    gen = torch.Generator().manual_seed(int(seed))
    return Resolved(torch.randn((1, *preset.input_shape), generator=gen))


def _typed(preset: Preset, settings: InputSettings, _: Gallery | None) -> Resolved:
    values = settings.typed
    if values is None:
        values = np.array(preset.default_input, dtype=np.float64)
    return Resolved(parse_numbers(values, preset.input_shape[0]))


def _sample(preset: Preset, settings: InputSettings, gallery: Gallery | None) -> Resolved:
    if gallery is None or len(gallery.images) == 0:
        raise ValueError("No sample digits are available here.")
    if not _whole(settings.sample):
        raise ValueError("The sample is chosen by its number (like 0 or 7).")
    i = int(settings.sample) % len(gallery.images)
    return Resolved(image_to_tensor(gallery.images[i]), label=int(gallery.labels[i]))


def _drawn(preset: Preset, settings: InputSettings, _: Gallery | None) -> Resolved:
    if settings.drawing is None or not has_ink(settings.drawing):
        raise ValueError(
            "Nothing drawn yet: draw a digit on the Draw page, or choose Sample in the sidebar."
        )
    return _from_image(settings.drawing)


def _uploaded(preset: Preset, settings: InputSettings, _: Gallery | None) -> Resolved:
    if settings.upload is None:
        raise ValueError("Upload a PNG or JPEG of a digit in the sidebar.")
    return _from_image(decode_upload(settings.upload))


def _whole(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _from_image(image: np.ndarray) -> Resolved:
    stages = digit_stages(image)
    return Resolved(stages.tensor, stages=stages)


_MAKERS = {
    Source.DRAW: _drawn,
    Source.SAMPLE: _sample,
    Source.UPLOAD: _uploaded,
    Source.TYPED: _typed,
    Source.RANDOM: _random,
}


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """A centred 28x28 uint8 MNIST image -> the normalised (1, 1, 28, 28) model input."""
    x = torch.from_numpy(image.astype(np.float32) / 255.0)
    return ((x - MNIST_MEAN) / MNIST_STD).view(1, 1, 28, 28)


def _one_of(options: list[str]) -> str:
    return " or ".join([", ".join(options[:-1]), options[-1]] if len(options) > 1 else options)
