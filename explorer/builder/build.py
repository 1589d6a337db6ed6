"""Spec -> ``nn.Module``: ordinary torch layers in a container whose forward() is a plain loop.

Module names follow ``spec.layer_names`` (conv1, relu1, block1.conv1, ...), the same names the
generated code uses, so a built model's ``state_dict`` loads strictly into the generated class.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from explorer.builder.shapes import analyse
from explorer.builder.spec import LayerSpec, NetworkSpec, describe_path, layer_names

INIT_SEED = 0  # the same fixed initialisation as the presets (explorer.zoo.INIT_SEED)


class Network(nn.Module):
    """The built layers, applied one after another."""

    def forward(self, x):
        for layer in self.children():
            x = layer(x)
        return x


class Residual(Network):
    """A residual block: its layers are f, and it returns x + f(x)."""

    def forward(self, x):
        return x + self.body(x)  # the skip connection: the input is added back

    def body(self, x):
        return super().forward(x)


def build(spec: NetworkSpec, seed: int = INIT_SEED) -> Network:
    """A fresh network for ``spec``, in eval mode, with a seeded initialisation.

    Args:
        spec: a network whose layers fit together (``analyse(spec).ok``).
        seed: seeds the initial weights; the global RNG is left as it was.

    Returns:
        A ``Network``; callers own it.

    Raises:
        ValueError: the first layer error, e.g. "layer 5 (fc1): Linear expects ...".
    """
    check_buildable(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return assemble(Network(), spec.layers).eval()


def check_buildable(spec: NetworkSpec) -> None:
    """ValueError with the first layer error (where, which layer, what), if there is one."""
    report = analyse(spec)
    if report.error is not None:
        e = report.error
        raise ValueError(f"{describe_path(e.path)} ({e.name}): {e.error}")
    if not spec.layers:
        raise ValueError("the network has no layers yet: add some from the palette")


def make_layer(layer: LayerSpec) -> nn.Module:
    """The torch module for one layer spec (a block holds its layers)."""
    p = layer.params
    kind = layer.kind
    if kind == "Residual":
        return assemble(Residual(), layer.children)
    if kind == "Linear":
        return nn.Linear(p["in_features"], p["out_features"], bias=p["bias"])
    if kind == "Conv2d":
        return nn.Conv2d(
            p["in_channels"],
            p["out_channels"],
            p["kernel_size"],
            stride=p["stride"],
            padding=p["padding"],
            bias=p["bias"],
        )
    if kind == "MaxPool2d":
        return nn.MaxPool2d(p["kernel_size"], stride=p["stride"], padding=p["padding"])
    if kind == "AvgPool2d":
        return nn.AvgPool2d(p["kernel_size"], stride=p["stride"], padding=p["padding"])
    if kind == "LeakyReLU":
        return nn.LeakyReLU(p["negative_slope"])
    if kind == "Dropout":
        return nn.Dropout(p["p"])
    if kind == "BatchNorm1d":
        return nn.BatchNorm1d(p["num_features"])
    if kind == "BatchNorm2d":
        return nn.BatchNorm2d(p["num_features"])
    plain = {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Flatten": nn.Flatten}
    return plain[kind]()


def assemble(container: Network, layers: tuple[LayerSpec, ...]) -> Network:
    """Add the layers (made by ``make_layer``) to ``container`` under their module names."""
    for name, layer in zip(layer_names(layers), layers, strict=True):
        container.add_module(name, make_layer(layer))
    return container
