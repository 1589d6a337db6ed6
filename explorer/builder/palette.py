"""The layer palette: which layers a student can add, their parameters, and the class limits.

Everything the builder accepts is described here once; validation, the page's widgets, code
generation and shape inference all read from ``PALETTE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- limits: what one network may cost the shared class server ---------------------------------

MAX_LAYERS = 50  # every layer counts, also those inside residual blocks
MAX_DEPTH = 3  # residual blocks nested inside one another
MAX_PARAMETERS = 5_000_000  # ~20 MB of float32 weights; the CNN preset has 421,642
MAX_ACTIVATIONS = 1_000_000  # values all layers' outputs hold for one example (~4 MB)
MAX_MULTIPLY_ADDS = 100_000_000  # per example; the CNN preset needs ~4.2 million
MAX_NAME_CHARS = 40
MAX_FEATURES = 65_536  # in/out features, input features, num_features
MAX_CHANNELS = 1_024
MAX_KERNEL = 64  # also the largest stride and padding

IMAGE_SHAPE = (1, 28, 28)  # an MNIST digit, without the batch dimension


@dataclass(frozen=True)
class ParamInfo:
    """One setting of a layer: its type, default and allowed range."""

    name: str
    type: str  # "int", "float", "bool", or "int?" (an int or None)
    default: Any  # None for an "int": required, it depends on the network (sizes)
    low: float | None = None  # inclusive
    high: float | None = None  # inclusive, except for floats with high_open
    high_open: bool = False  # the high end is excluded (Dropout's p < 1)
    help: str = ""


@dataclass(frozen=True)
class LayerKind:
    """One entry of the palette."""

    kind: str  # the torch class name, e.g. "Conv2d"
    prefix: str  # attribute names in the built module: conv1, conv2, ...
    description: str
    params: tuple[ParamInfo, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        """Parameters without a default: the sizes, which depend on the layers around."""
        return tuple(p.name for p in self.params if p.default is None and p.type == "int")

    def param(self, name: str) -> ParamInfo:
        return next(p for p in self.params if p.name == name)


def _features(name: str, help: str) -> ParamInfo:
    return ParamInfo(name, "int", None, 1, MAX_FEATURES, help=help)


def _channels(name: str, help: str) -> ParamInfo:
    return ParamInfo(name, "int", None, 1, MAX_CHANNELS, help=help)


_BIAS = ParamInfo("bias", "bool", True, help="add a learned bias to every output")
_POOL = (
    ParamInfo("kernel_size", "int", 2, 1, MAX_KERNEL, help="side of the square window"),
    ParamInfo(
        "stride",
        "int?",
        None,
        1,
        MAX_KERNEL,
        help="step between windows; None means the same as kernel_size",
    ),
    ParamInfo(
        "padding",
        "int",
        0,
        0,
        MAX_KERNEL // 2,
        help="border added on each side; at most half the kernel",
    ),
)

PALETTE: dict[str, LayerKind] = {
    k.kind: k
    for k in [
        LayerKind(
            "Linear",
            "fc",
            "every output is a weighted sum of all inputs, plus a bias",
            (
                _features("in_features", "numbers coming in"),
                _features("out_features", "numbers going out"),
                _BIAS,
            ),
        ),
        LayerKind(
            "Conv2d",
            "conv",
            "slides small learned filters over the image",
            (
                _channels("in_channels", "channels coming in"),
                _channels("out_channels", "filters, so channels going out"),
                ParamInfo("kernel_size", "int", 3, 1, MAX_KERNEL, help="side of the square filter"),
                ParamInfo("stride", "int", 1, 1, MAX_KERNEL, help="step between filter positions"),
                ParamInfo("padding", "int", 0, 0, MAX_KERNEL, help="zeros added on each side"),
                _BIAS,
            ),
        ),
        LayerKind("MaxPool2d", "pool", "keeps the largest value of each window", _POOL),
        LayerKind("AvgPool2d", "avgpool", "keeps the mean of each window", _POOL),
        LayerKind("ReLU", "relu", "max(0, x) for every value"),
        LayerKind(
            "LeakyReLU",
            "leaky_relu",
            "x if x > 0, else negative_slope * x",
            (
                ParamInfo(
                    "negative_slope", "float", 0.01, 0.0, 1.0, help="slope for negative inputs"
                ),
            ),
        ),
        LayerKind("Sigmoid", "sigmoid", "squashes every value into (0, 1)"),
        LayerKind("Tanh", "tanh", "squashes every value into (-1, 1)"),
        LayerKind(
            "Dropout",
            "dropout",
            "in training, zeroes values at random (eval: no-op)",
            (
                ParamInfo(
                    "p",
                    "float",
                    0.5,
                    0.0,
                    1.0,
                    high_open=True,
                    help="chance that a value is zeroed in training",
                ),
            ),
        ),
        LayerKind(
            "BatchNorm1d",
            "bn",
            "normalises each feature over the batch",
            (_features("num_features", "features of the incoming vector"),),
        ),
        LayerKind(
            "BatchNorm2d",
            "bn",
            "normalises each channel over the batch",
            (_channels("num_features", "channels of the incoming image"),),
        ),
        LayerKind("Flatten", "flatten", "lays channels x height x width out as one vector"),
        LayerKind("Residual", "block", "runs its layers as f and returns x + f(x)"),
    ]
}
