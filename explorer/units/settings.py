"""The recorded geometry of conv2d and max_pool2d steps, read from their arguments.

The recorder keeps a functional call's positional arguments as ``argN`` keys and a module's
settings by name; these readers turn both into the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from explorer.trace import Step


@dataclass(frozen=True)
class ConvSettings:
    """The geometry of one conv2d call, padding resolved to numbers."""

    stride: tuple[int, int]
    padding: tuple[int, int]  # rows and columns added before the image (top, left)
    dilation: tuple[int, int]
    groups: int
    padding_end: tuple[int, int]  # after the image (bottom, right); differs only for 'same'


@dataclass(frozen=True)
class PoolSettings:
    """The geometry of one max_pool2d call."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


def conv_settings(step: Step) -> ConvSettings | None:
    """Stride, padding, dilation and groups of a conv2d step (module or F.conv2d), if recorded."""
    a = step.args
    if step.kind != "module":
        a = _named_args(a, ["input", "weight", "bias", "stride", "padding", "dilation", "groups"])
        a = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, **a}
    if not all(k in a for k in ("stride", "padding", "dilation", "groups")):
        return None
    weight = step.extras.get("weight")
    if weight is None or weight.dim() != 4:
        return None
    dilation = _pair(a["dilation"])
    padding = a["padding"]
    if padding == "valid":
        before = end = (0, 0)
    elif padding == "same":
        # torch puts the odd extra row/column of 'same' padding after the image, not before
        totals = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:], strict=True)]
        before = (totals[0] // 2, totals[1] // 2)
        end = (totals[0] - before[0], totals[1] - before[1])
    else:
        before = end = _pair(padding)
    return ConvSettings(_pair(a["stride"]), before, dilation, int(a["groups"]), end)


def pool_settings(step: Step) -> PoolSettings | None:
    """Kernel, stride, padding and dilation of a max_pool2d step (module or F.max_pool2d)."""
    a = step.args
    if step.kind != "module":
        a = _named_args(a, ["input", "kernel_size", "stride", "padding", "dilation"])
        a = {"padding": 0, "dilation": 1, **a}
    kernel = a.get("kernel_size", step.extras.get("kernel_size"))
    if kernel is None:
        return None
    stride = a.get("stride") or step.extras.get("stride") or kernel
    return PoolSettings(_pair(kernel), _pair(stride), _pair(a.get("padding", 0)),
                        _pair(a.get("dilation", 1)))


def _named_args(args: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Turn the recorder's positional ``argN`` keys into parameter names."""
    out = {}
    for k, v in args.items():
        if k.startswith("arg") and k[3:].isdigit():
            i = int(k[3:])
            if i < len(names):
                out[names[i]] = v
        else:
            out[k] = v
    return out


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))
