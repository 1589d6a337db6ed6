"""The tutorials' presets as builder specs, so a student can open one and change it.

Each converted spec builds a network with the preset's parameters in the same order, so the
preset's weights load into it (``preset_weights``) and give the same outputs. What the palette
cannot say exactly is listed in ``PRESET_NOTES``; presets it cannot express at all are in
``UNSUPPORTED_PRESETS``.
"""

from __future__ import annotations

import torch

from explorer import zoo
from explorer.builder.spec import LayerSpec, NetworkSpec
from explorer.builder.weights import check_state_dict, expected_state

UNSUPPORTED_PRESETS: dict[str, str] = {
    "conditional": "its forward() has an `if`: the extra layer runs only on the deep path, "
    "which depends on the input. A layer list always runs every layer.",
}

PRESET_NOTES: dict[str, str] = {
    "autoencoder": "The preset ends by reshaping its 784 outputs to 1×28×28 "
    "(x.view(-1, 1, 28, 28)); the palette has no reshape layer, so this version "
    "returns the same 784 numbers flat.",
    "cnn": "The preset calls one MaxPool2d twice; here each pooling step is its own layer "
    "(pooling has no weights, so nothing changes).",
    "skip": "The preset's block computes relu(x + f(x)); here that is a Residual block "
    "followed by a ReLU.",
}


def _linear(i: int, o: int) -> LayerSpec:
    return LayerSpec("Linear", {"in_features": i, "out_features": o})


def _conv(i: int, o: int) -> LayerSpec:
    return LayerSpec(
        "Conv2d", {"in_channels": i, "out_channels": o, "kernel_size": 3, "padding": 1}
    )


def _bn2d(n: int) -> LayerSpec:
    return LayerSpec("BatchNorm2d", {"num_features": n})


_RELU, _POOL, _FLAT = LayerSpec("ReLU"), LayerSpec("MaxPool2d"), LayerSpec("Flatten")

_LAYERS: dict[str, tuple[LayerSpec, ...]] = {
    "simple_nn": (_linear(3, 4), _RELU, _linear(4, 1)),
    "forward_demo": (_linear(2, 3), _RELU, _linear(3, 1)),
    "mlp": (_FLAT, _linear(784, 128), _RELU, _linear(128, 10)),
    "cnn": (
        _conv(1, 32),
        _RELU,
        _POOL,
        _conv(32, 64),
        _RELU,
        _POOL,
        _FLAT,
        _linear(64 * 7 * 7, 128),
        _RELU,
        LayerSpec("Dropout", {"p": 0.25}),
        _linear(128, 10),
    ),
    "autoencoder": (
        _FLAT,
        _linear(784, 128),
        _RELU,
        _linear(128, 32),  # the encoder
        _linear(32, 128),
        _RELU,
        _linear(128, 784),
    ),  # the decoder
    "skip": (
        _conv(1, 16),
        _RELU,
        _POOL,
        LayerSpec("Residual", {}, (_conv(16, 16), _RELU, _conv(16, 16))),
        _RELU,
        _POOL,
        _FLAT,
        _linear(16 * 7 * 7, 10),
    ),
    "bn_cnn": (
        _conv(1, 16),
        _bn2d(16),
        _RELU,
        _POOL,
        _conv(16, 32),
        _bn2d(32),
        _RELU,
        _POOL,
        _FLAT,
        _linear(32 * 7 * 7, 10),
    ),
}


def convertible_presets() -> list[str]:
    """Names of the presets that open in the builder, in the zoo's order."""
    return [name for name in zoo.PRESETS if name in _LAYERS]


def from_preset(name: str) -> NetworkSpec:
    """The spec of a preset; ValueError for one the palette cannot express, saying why."""
    if name in UNSUPPORTED_PRESETS:
        raise ValueError(
            f"the {name!r} preset cannot open in the builder: {UNSUPPORTED_PRESETS[name]}"
        )
    if name not in zoo.PRESETS or name not in _LAYERS:
        raise ValueError(
            f"unknown preset {name!r}; choose one of {', '.join(convertible_presets())}"
        )
    preset = zoo.PRESETS[name]
    features = preset.input_shape[0] if preset.input_kind == "vector" else None
    return NetworkSpec(name, preset.input_kind, features, _LAYERS[name])


def preset_weights(name: str, pretrained: bool = True) -> dict[str, torch.Tensor]:
    """The preset's weights renamed for its builder spec (same tensors, in the same order).

    ``pretrained`` as in ``zoo.load_model``: the shipped MNIST weights, or the fixed seeded
    initialisation.
    """
    spec = from_preset(name)
    source = zoo.load_model(name, pretrained=pretrained).state_dict()
    target = list(expected_state(spec))
    if len(source) != len(target):
        raise ValueError(
            f"the {name!r} preset has {len(source)} tensors but its spec has {len(target)}"
        )
    return check_state_dict(spec, dict(zip(target, source.values(), strict=True)))
