"""The code the editor starts from: the tutorials' SimpleNN and ImageClassifier, as students
type them, and an input each accepts.

Each source defines the same network as its preset in ``explorer.zoo``: built with the same
seed it has the same weights, so its trace is the preset's, and the preset's trained weights
fit it (``weights=load_model(preset).state_dict()``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from explorer import zoo
from explorer.zoo import PRESETS, example_input

_HEADER = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

"""


def _source(cls: type) -> str:
    """The class exactly as explorer.zoo writes it, without its docstring: one source of truth."""
    lines = inspect.getsource(cls).splitlines(keepends=True)
    doc = lines[1].strip()
    if doc.startswith('"""'):  # drop a one-line docstring; the editor shows the code itself
        del lines[1]
        if not lines[1].strip():
            del lines[1]
    return _HEADER + "\n" + "".join(lines)


SIMPLE_NN = _source(zoo.SimpleNN)
IMAGE_CLASSIFIER = _source(zoo.ImageClassifier)


@dataclass(frozen=True)
class Template:
    """One starting point of the editor."""

    name: str
    title: str
    class_name: str  # the class the run builds
    preset: str  # the matching key of explorer.zoo.PRESETS (its input kind, its weights)
    source: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example, without the batch dimension."""
        return PRESETS[self.preset].input_shape

    def default_input(self, batch: int = 1, seed: int = 0) -> torch.Tensor:
        """The preset's typed numbers, or a seeded digit-shaped input."""
        return example_input(self.preset, batch=batch, seed=seed)


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in [
        Template("simple_nn", "SimpleNN (3-4-1)", "SimpleNN", "simple_nn", SIMPLE_NN),
        Template(
            "image_classifier",
            "ImageClassifier (MNIST CNN)",
            "ImageClassifier",
            "cnn",
            IMAGE_CLASSIFIER,
        ),
    ]
}
