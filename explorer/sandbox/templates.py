"""The code the editor starts from: the tutorials' SimpleNN and ImageClassifier, as students
type them, and an input each accepts.

Each source defines the same network as its preset in ``explorer.zoo``: built with the same
seed it has the same weights, so its trace is the preset's, and the preset's trained weights
fit it (``weights=load_model(preset).state_dict()``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer.zoo import PRESETS, example_input

_HEADER = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

"""

SIMPLE_NN = _HEADER + """
class SimpleNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(4, 1)

    def forward(self, x):
        x = self.fc1(x)  # (N, 3) -> (N, 4)
        x = self.relu(x)
        x = self.fc2(x)  # (N, 4) -> (N, 1)
        return x
"""

IMAGE_CLASSIFIER = _HEADER + """
class ImageClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))  # (N, 1, 28, 28) -> (N, 32, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))  # (N, 32, 14, 14) -> (N, 64, 7, 7)
        x = x.view(-1, 64 * 7 * 7)  # (N, 3136)
        x = F.relu(self.fc1(x))
        x = self.dropout(x)
        x = self.fc2(x)  # (N, 10) class scores
        return x
"""


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
    t.name: t for t in [
        Template("simple_nn", "SimpleNN (3-4-1)", "SimpleNN", "simple_nn", SIMPLE_NN),
        Template("image_classifier", "ImageClassifier (MNIST CNN)", "ImageClassifier", "cnn",
                 IMAGE_CLASSIFIER),
    ]
}
