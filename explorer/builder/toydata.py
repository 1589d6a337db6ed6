"""Small data sets for networks that take a vector, shipped inside scikit-learn (no downloads).

* ``iris``: ``sklearn.datasets.load_iris()`` -- Fisher's 150 iris flowers, 50 of each of 3
  species, 4 measurements each (sepal and petal length and width, cm). The CSV file is part of
  the scikit-learn package. 10 flowers per species are held out.
* ``moons``: ``sklearn.datasets.make_moons(600, noise=0.2, random_state=0)`` -- two interleaved
  half circles in the plane, 2 coordinates each, 2 classes; made by code in scikit-learn.
  120 points are held out.

A vector network trains on the data set whose feature count matches its input: 4 -> iris,
2 -> moons. Features are standardised with the training half's mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from explorer.mnist import MnistSplit

SPLIT_SEED = 0


@dataclass(frozen=True)
class ToyDataset:
    """One toy data set: what it is and the shape a network needs to learn it."""

    name: str
    title: str
    source: str
    features: int  # the network's input_features
    classes: int  # the network's outputs
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]


TOY_DATASETS: dict[str, ToyDataset] = {
    d.name: d
    for d in [
        ToyDataset(
            "iris",
            "Iris flowers",
            "scikit-learn's load_iris(): 150 flowers of 3 species, 4 measurements in cm",
            4,
            3,
            ("setosa", "versicolor", "virginica"),
            ("sepal length", "sepal width", "petal length", "petal width"),
        ),
        ToyDataset(
            "moons",
            "Two moons",
            "scikit-learn's make_moons(600, noise=0.2, random_state=0): two interleaved "
            "half circles",
            2,
            2,
            ("upper moon", "lower moon"),
            ("x", "y"),
        ),
    ]
}


def toy_for_features(features: int) -> ToyDataset | None:
    """The toy data set a vector network with this many inputs trains on, if any."""
    return next((d for d in TOY_DATASETS.values() if d.features == features), None)


@lru_cache(maxsize=4)
def load_toy(name: str) -> MnistSplit:
    """A fixed, stratified, standardised split (cached; don't modify the tensors).

    The ``MnistSplit`` record is reused for its four tensors: ``*_images`` are ``(N, features)``
    float32 vectors here, ``*_labels`` the class indices.
    """
    from sklearn import datasets  # imported here: only training a vector network needs it

    if name == "iris":
        x, y = datasets.load_iris(return_X_y=True)
        held_out = 10
    elif name == "moons":
        x, y = datasets.make_moons(n_samples=600, noise=0.2, random_state=0)
        held_out = 60
    else:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {', '.join(TOY_DATASETS)}")
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:held_out] for c in np.unique(y)]
    )
    train = rng.permutation(np.setdiff1d(np.arange(len(y)), test))
    test = rng.permutation(test)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)

    def tensors(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.from_numpy(((x[rows] - mean) / std).astype(np.float32))
        return features, torch.from_numpy(y[rows].astype(np.int64))

    return MnistSplit(*tensors(train), *tensors(test), train, test)
