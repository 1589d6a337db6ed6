"""Preset networks: the tutorials' models and the exercises, plus loading their weights.

Every preset is an ordinary ``nn.Module`` whose ``forward()`` is written the way the tutorials
write it, because the app shows that source line by line. Each takes one input tensor; extra
arguments (like ``ConditionalNet``'s flag) have defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # package data: in the wheel too
INIT_SEED = 0  # the fixed initialisation of presets that are not trained


# --- the tutorials' models -------------------------------------------------------------------


class SimpleNN(nn.Module):
    """The tutorial's first network: 3 inputs, 4 hidden units, 1 output."""

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


class ForwardPassDemo(nn.Module):
    """The forward-pass walkthrough: 2 inputs, 3 hidden units, 1 output."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(2, 3)
        self.layer2 = nn.Linear(3, 1)

    def forward(self, x):
        x = self.layer1(x)  # (N, 2) -> (N, 3)
        x = torch.relu(x)
        x = self.layer2(x)  # (N, 3) -> (N, 1)
        return x


class MyNetwork(nn.Module):
    """A multilayer perceptron for MNIST: 784 pixels, 128 hidden units, 10 classes."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.view(-1, 784)  # (N, 1, 28, 28) -> (N, 784)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return x


class ImageClassifier(nn.Module):
    """The tutorial's MNIST CNN: two conv-relu-pool stages, then two fully connected layers."""

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


# --- the exercises ---------------------------------------------------------------------------


class Autoencoder(nn.Module):
    """Squeezes a digit through a 32-number bottleneck and rebuilds it."""

    def __init__(self, bottleneck: int = 32):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, bottleneck))
        self.decoder = nn.Sequential(nn.Linear(bottleneck, 128), nn.ReLU(), nn.Linear(128, 784))

    def forward(self, x):
        x = x.view(-1, 784)  # (N, 784)
        code = self.encoder(x)  # (N, 32): the whole digit in 32 numbers
        x = self.decoder(code)  # (N, 784)
        return x.view(-1, 1, 28, 28)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions whose result is added to the block's own input."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = self.conv2(out)
        return F.relu(x + out)  # the skip connection: x + f(x)


class SkipNet(nn.Module):
    """A small CNN with one residual block."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.block = ResidualBlock(16)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)  # (N, 16, 14, 14)
        x = self.block(x)  # same shape: the block adds its input back
        x = F.max_pool2d(x, 2)  # (N, 16, 7, 7)
        x = torch.flatten(x, 1)  # (N, 784)
        return self.fc(x)


class ConditionalNet(nn.Module):
    """forward() is plain Python: an ``if`` chooses whether the extra layer runs.

    ``deep=True`` or ``False`` picks the path; left as ``None``, the data decides: digits whose
    hidden activations are strong on average take the deep path.
    """

    threshold: torch.Tensor  # a buffer (registered in __init__), so typed here

    def __init__(self, threshold: float = 1.0):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.extra = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 10)
        # a buffer, so the trained threshold is saved with the weights
        self.register_buffer("threshold", torch.tensor(threshold))

    def forward(self, x, deep=None):
        x = x.view(-1, 784)
        h = F.relu(self.fc1(x))
        if deep is None:
            deep = bool(h.mean() > self.threshold)  # the data chooses the path
        if deep:
            h = F.relu(self.extra(h))  # runs only on the deep path
        return self.fc2(h)


class BatchNormCNN(nn.Module):
    """A CNN with BatchNorm2d: batch statistics in train mode, running statistics in eval."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # (N, 16, 14, 14)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # (N, 32, 7, 7)
        x = torch.flatten(x, 1)  # (N, 1568)
        return self.fc(x)


# --- the catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """One entry of the model picker."""

    name: str
    title: str
    description: str
    input_kind: str  # "image" (1x28x28 MNIST digit) or "vector"
    input_shape: tuple[int, ...]  # one example, without the batch dimension
    task: str  # "classify" (10 digits), "reconstruct" (image -> image) or "regress"
    factory: Callable[[], nn.Module] = field(repr=False)
    trained_on_mnist: bool = False
    default_input: tuple[tuple[float, ...], ...] | None = None  # typed numbers for vector models
    # forward()'s argument that forces its `if` one way (True/False; None lets the data decide):
    # the sidebar offers the choice, links carry it
    branch_argument: str | None = None

    @cached_property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in _build(self).parameters())

    @property
    def weights_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.pt"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "simple_nn",
            "SimpleNN (3-4-1)",
            "The tutorial's first network: Linear(3,4) -> ReLU -> Linear(4,1).",
            "vector",
            (3,),
            "regress",
            SimpleNN,
            default_input=((0.5, 0.3, 0.2),),
        ),  # 21 parameters
        Preset(
            "forward_demo",
            "ForwardPassDemo (2-3-1)",
            "The forward-pass walkthrough: Linear(2,3) -> ReLU -> Linear(3,1).",
            "vector",
            (2,),
            "regress",
            ForwardPassDemo,
            default_input=((1.0, 2.0),),
        ),  # 13 parameters
        Preset(
            "mlp",
            "MLP 784-128-10",
            "MyNetwork: flatten the digit, Linear(784,128) -> ReLU -> Linear(128,10).",
            "image",
            (1, 28, 28),
            "classify",
            MyNetwork,
            True,
        ),  # 101,770 parameters
        Preset(
            "cnn",
            "MNIST CNN",
            "ImageClassifier: conv-relu-pool x2, view, fc1-relu, dropout(0.25), fc2.",
            "image",
            (1, 28, 28),
            "classify",
            ImageClassifier,
            True,
        ),  # 421,642 parameters
        Preset(
            "autoencoder",
            "Autoencoder 784-32-784",
            "Encodes a digit into 32 numbers and decodes it back to 28x28.",
            "image",
            (1, 28, 28),
            "reconstruct",
            Autoencoder,
            True,
        ),  # 209,968 parameters
        Preset(
            "skip",
            "Skip-connection CNN",
            "A small CNN whose residual block computes relu(x + f(x)).",
            "image",
            (1, 28, 28),
            "classify",
            SkipNet,
            True,
        ),  # 12,650 parameters
        Preset(
            "conditional",
            "Conditional forward()",
            "An `if` in forward(): an extra layer runs only on the deep path.",
            "image",
            (1, 28, 28),
            "classify",
            ConditionalNet,
            True,
            branch_argument="deep",
        ),  # 55,050 parameters
        Preset(
            "bn_cnn",
            "CNN with BatchNorm",
            "Conv-BatchNorm-ReLU-pool x2: batch statistics in train, running ones in eval.",
            "image",
            (1, 28, 28),
            "classify",
            BatchNormCNN,
            True,
        ),  # 20,586 parameters
    ]
}


def _build(preset: Preset) -> nn.Module:
    """A fresh module with the preset's fixed, seeded initialisation (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return preset.factory()


def load_model(name: str, pretrained: bool = True) -> nn.Module:
    """A preset network in eval mode.

    Args:
        name: a key of ``PRESETS``.
        pretrained: load the shipped MNIST weights (presets trained on MNIST); otherwise, and
            always for the vector models, the fixed seeded initialisation.

    Returns:
        A new ``nn.Module`` in eval mode; callers own it.
    """
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    model = _build(preset)
    if pretrained and preset.trained_on_mnist:
        path = preset.weights_path
        if not path.exists():
            raise FileNotFoundError(
                f"no weights for {name!r} at {path}; train them with "
                "`python scripts/train_presets.py` (see the README)"
            )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def example_input(name: str, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """An input the preset accepts: its typed default, or seeded noise shaped like a digit."""
    preset = PRESETS[name]
    if preset.default_input is not None and batch == len(preset.default_input):
        return torch.tensor(preset.default_input, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *preset.input_shape), generator=gen)
