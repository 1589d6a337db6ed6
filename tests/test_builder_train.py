"""Training built networks: loss goes down on a small budget; untrainable shapes are refused."""

from __future__ import annotations

import pytest
import torch

from explorer.builder import (
    TOY_DATASETS,
    LayerSpec,
    NetworkSpec,
    build,
    default_config,
    from_preset,
    load_toy,
    train_network,
    training_data,
    training_problem,
)
from explorer.mnist import MnistSplit, load_split
from explorer.training import TrainConfig, evaluate

pytestmark = pytest.mark.slow  # worker processes or training: not in the fast lane

L = LayerSpec


def fc(i: int, o: int) -> LayerSpec:
    return L("Linear", {"in_features": i, "out_features": o})


def _digits(n: int = 320) -> MnistSplit:
    s = load_split()
    return MnistSplit(
        s.train_images[:n], s.train_labels[:n], s.test_images[:200], s.test_labels[:200]
    )


def test_an_image_network_learns_digits_in_one_small_epoch() -> None:
    spec = NetworkSpec(
        "tiny cnn",
        "image",
        None,
        (
            L("Conv2d", {"in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1}),
            L("BatchNorm2d", {"num_features": 4}),
            L("ReLU"),
            L("MaxPool2d", {"kernel_size": 4}),
            L("Flatten"),
            L("Dropout", {"p": 0.1}),
            fc(4 * 7 * 7, 10),
        ),
    )
    assert training_problem(spec) is None
    data = _digits(384)
    model = build(spec)
    before = evaluate(model, data.test_images, data.test_labels)
    epochs = []
    config = TrainConfig(epochs=1, lr=1e-2, batch_size=32, augment=False)
    result = train_network(spec, model, config, data=data, on_epoch_end=epochs.append)
    assert len(epochs) == 1 and epochs[0].train_accuracy is not None
    assert result.test_loss < before.loss * 0.85
    assert result.test_accuracy > before.accuracy + 0.15
    assert not model.training


def test_mnist_is_the_data_for_image_networks() -> None:
    data = training_data(from_preset("mlp"))
    assert data.name == "mnist" and data.classes == 10
    assert "4,500" in data.description and len(data.split.train_images) == 4500


@pytest.mark.parametrize("name", list(TOY_DATASETS))
def test_a_vector_network_learns_its_toy_data_set(name: str) -> None:
    toy = TOY_DATASETS[name]
    spec = NetworkSpec(
        f"{name} net",
        "vector",
        toy.features,
        (
            fc(toy.features, 16),
            L("Tanh"),
            fc(16, toy.classes),
        ),
    )
    data = training_data(spec)
    assert data.name == name and data.classes == toy.classes
    split = load_toy(name)
    assert split.train_images.shape[1] == toy.features
    assert set(split.test_labels.tolist()) == set(range(toy.classes))
    model = build(spec)
    before = evaluate(model, split.test_images, split.test_labels)
    config = default_config(spec)
    assert not config.augment and config.batch_size == 16
    result = train_network(spec, model, TrainConfig(epochs=12, batch_size=16, lr=2e-2))
    assert result.test_loss < before.loss * 0.5
    assert result.test_accuracy >= 0.85


def test_the_toy_splits_are_fixed_and_standardised() -> None:
    iris = load_toy("iris")
    assert (len(iris.train_images), len(iris.test_images)) == (120, 30)
    assert torch.allclose(iris.train_images.mean(0), torch.zeros(4), atol=1e-5)
    moons = load_toy("moons")
    assert (len(moons.train_images), len(moons.test_images)) == (480, 120)
    assert not set(iris.train_index.tolist()) & set(iris.test_index.tolist())


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (
            from_preset("autoencoder"),
            "training on the MNIST digits needs 10 outputs, one score per "
            "digit, but this network has 784: set the last layer's "
            "out_features to 10",
        ),
        (
            NetworkSpec(
                "x",
                "image",
                None,
                (L("Conv2d", {"in_channels": 1, "out_channels": 10, "kernel_size": 3}),),
            ),
            "training on the MNIST digits needs 10 outputs, one score per digit, but this network "
            "outputs 10×26×26: end it with Flatten and a Linear with out_features 10",
        ),
        (
            from_preset("simple_nn"),
            "a vector network trains on a toy data set: iris (4 features, 3 "
            "classes) or moons (2 features, 2 classes); this network takes 3 "
            "features: set the input to 4 or 2 features",
        ),
        (
            from_preset("forward_demo"),
            "the moons data set has 2 classes, so the network needs 2 "
            "outputs, one score per class; it has 1: set the last layer's "
            "out_features to 2",
        ),
        (
            NetworkSpec("x", "vector", 4, (fc(3, 3),)),
            "fix the network first: layer 1 (fc1): Linear expects 4 input features",
        ),
    ],
)
def test_untrainable_networks_are_refused_with_the_change_to_make(spec, says: str) -> None:
    problem = training_problem(spec)
    assert problem is not None and problem.startswith(says)
    with pytest.raises(ValueError) as e:
        training_data(spec)
    assert str(e.value) == problem


def test_a_model_that_does_not_match_its_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="not built from this spec"):
        train_network(
            from_preset("mlp"), build(from_preset("cnn")), TrainConfig(epochs=1), data=_digits(64)
        )
    with pytest.raises(ValueError, match="10 outputs"):
        train_network(
            from_preset("autoencoder"), build(from_preset("autoencoder")), data=_digits(64)
        )
