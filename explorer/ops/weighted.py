"""Weighted layers: ``linear`` and ``conv2d``. Every output is Σ input·weight (+ bias).

Side by side for each op: what the tracer records (the weight and bias), the words, one
output unit recomputed as its weighted sum, the figure layout and how the gradient goes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from explorer.ops.info import Fields, OpInfo, Records, bind
from explorer.ops.phrases import pair_text, who
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, dot, sum_formula, unit_name
from explorer.units.reading import f64
from explorer.units.settings import named_args, pair

# --- what the tracer records -----------------------------------------------------------------


def _module_weights(step: Step, module: nn.Module, notes: dict[str, Any]) -> None:
    weight, bias = module.weight, module.bias
    assert isinstance(weight, torch.Tensor)  # the layer's Parameter
    step.extras["weight"] = weight.detach()
    step.extras["bias"] = bias.detach() if isinstance(bias, torch.Tensor) else None  # bias=False


def _function_weights(step: Step, func, args: tuple, kwargs: dict[str, Any], rng) -> None:
    b = bind(["input", "weight", "bias"], args, kwargs)
    step.extras["weight"] = b["weight"].detach()
    step.extras["bias"] = None if b.get("bias") is None else b["bias"].detach()


_WEIGHTS = Records(module=_module_weights, function=_function_weights)


# --- linear ----------------------------------------------------------------------------------


def _linear_words(step: Step, trace: Trace | None) -> str | None:
    w, b = step.extras.get("weight"), step.extras.get("bias")
    if w is None or w.dim() != 2:
        return None
    n_out, n_in = w.shape
    plus_b = " plus a bias" if b is not None else ""
    return (
        f"{who(step)} computes **y = xWᵀ{' + b' if b is not None else ''}**: each of the "
        f"{n_out} outputs is a weighted sum of the {n_in} inputs{plus_b}. "
        f"W is {n_out}×{n_in}, so this layer holds {n_out * n_in:,} weights"
        + (f" and {n_out:,} biases." if b is not None else ".")
    )


def _linear_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    w, b = step.extras.get("weight"), step.extras.get("bias")
    if w is None or not step.inputs or out.dim() == 0:
        return None
    j = index[-1]
    x = f64(step.inputs[0][index[:-1]])  # (in,)
    ws = f64(w[j])
    bias = None if b is None else float(b[j])
    name, fields = _weighted_sum(index, x, ws, lambda i: f"x[{i}]·W[{j},{i}]", bias, top_k)
    return dict(
        fields,
        explanation=(
            f"{name} multiplies each of the {x.size} inputs by its weight in row {j} "
            f"of W, adds the {x.size} products" + (" and the bias." if bias is not None else ".")
        ),
    )


def _weighted_sum(
    index: tuple,
    xs: np.ndarray,
    ws: np.ndarray,
    label: Callable[[int], str],
    bias: float | None,
    top_k: int,
) -> tuple[str, Fields]:
    """Σ x·w (+ b) for one unit of a weighted op: its name, and the fields every weighted op's
    unit has (the formula, its largest terms, the rest, the bias, the total)."""
    terms, rest, n_rest, total = dot(xs, ws, label, top_k)
    total += bias or 0.0
    name = unit_name(index)
    formula = sum_formula(
        f"{name} = Σ x·w" + (" + b" if bias is not None else ""), terms, rest, n_rest, bias, total
    )
    return name, dict(
        formula=formula, terms=terms, rest=rest, rest_count=n_rest, bias=bias, total=total
    )


def _linear_routing(step: Step) -> str | None:
    w = step.extras.get("weight")
    size = f" ({w.shape[0]}×{w.shape[1]})" if w is not None and w.dim() == 2 else ""
    return (
        "Each input gets back the gradients of all outputs, weighted by the same W"
        f"{size} that weighted it going forward: d loss/dx = (d loss/dy)·W. Each weight's "
        "own gradient is its input times its output's gradient."
    )


LINEAR = OpInfo(
    names=("linear",),
    explain=_linear_words,
    unit=_linear_unit,
    figure="linear",
    routing=_linear_routing,
    records=_WEIGHTS,
)


# --- conv2d ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvSettings:
    """The geometry of one conv2d call, padding resolved to numbers."""

    stride: tuple[int, int]
    padding: tuple[int, int]  # rows and columns added before the image (top, left)
    dilation: tuple[int, int]
    groups: int
    padding_end: tuple[int, int]  # after the image (bottom, right); differs only for 'same'


def conv_settings(step: Step) -> ConvSettings | None:
    """Stride, padding, dilation and groups of a conv2d step (module or F.conv2d), if recorded."""
    a = step.args
    if step.kind != "module":
        a = named_args(a, ["input", "weight", "bias", "stride", "padding", "dilation", "groups"])
        a = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, **a}
    if not all(k in a for k in ("stride", "padding", "dilation", "groups")):
        return None
    weight = step.extras.get("weight")
    if weight is None or weight.dim() != 4:
        return None
    dilation = pair(a["dilation"])
    padding = a["padding"]
    if padding == "valid":
        before = end = (0, 0)
    elif padding == "same":
        # torch puts the odd extra row/column of 'same' padding after the image, not before
        totals = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:], strict=True)]
        before = (totals[0] // 2, totals[1] // 2)
        end = (totals[0] - before[0], totals[1] - before[1])
    else:
        before = end = pair(padding)
    return ConvSettings(pair(a["stride"]), before, dilation, int(a["groups"]), end)


def _conv2d_words(step: Step, trace: Trace | None) -> str | None:
    w, b, s = step.extras.get("weight"), step.extras.get("bias"), conv_settings(step)
    if w is None or s is None or not step.inputs or step.inputs[0].dim() != 4:
        return None
    c_out, c_in_group, kh, kw = w.shape
    c_in = c_in_group * s.groups
    h, wd = step.inputs[0].shape[2:]
    oh, ow = step.output_shape[2:]
    over = (
        f"the {c_in} input channel{'s' if c_in != 1 else ''}"
        if s.groups == 1
        else f"its group's {c_in_group} input channels (groups = {s.groups})"
    )
    size = f"{kh}×{kw}"
    first = (
        f"{who(step)} is a convolution: each of the {c_out} output channels is the sum "
        f"over {over} of a {size} kernel slid across the image"
        + (", plus a bias." if b is not None else ".")
    )
    pad = (
        f"'same' padding ({pair_text(s.padding)} before, {pair_text(s.padding_end)} after)"
        if s.padding != s.padding_end
        else f"padding {pair_text(s.padding)}"
    )
    setting = f"{pad} and stride {pair_text(s.stride)}"
    if s.dilation != (1, 1):
        setting += f", dilation {pair_text(s.dilation)}"
    change = "keep" if (h, wd) == (oh, ow) else "turn"
    second = (
        f"With {setting}, the kernel's positions {change} {h}×{wd} "
        f"{'as' if change == 'keep' else 'into'} {oh}×{ow}, so the output is "
        f"{c_out}×{oh}×{ow} per example."
    )
    return f"{first} {second}"


def _conv2d_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    s = conv_settings(step)
    w, b = step.extras.get("weight"), step.extras.get("bias")
    if s is None or w is None or not step.inputs or step.inputs[0].dim() != 4 or out.dim() != 4:
        return cannot(
            step,
            "the recorded settings do not say enough about this convolution "
            "(stride, padding, dilation, groups or weight) to recompute it",
        )
    x = step.inputs[0]
    (kh, kw), (h, wd) = w.shape[2:], x.shape[2:]
    expected = [
        (size + p + pe - d * (k - 1) - 1) // st + 1
        for size, p, pe, d, k, st in zip(
            (h, wd), s.padding, s.padding_end, s.dilation, (kh, kw), s.stride, strict=True
        )
    ]
    if expected != list(out.shape[2:]) or x.shape[1] != w.shape[1] * s.groups:
        return cannot(
            step,
            "the recorded stride/padding/dilation do not reproduce this "
            "output's shape, so the explorer will not guess how it was computed",
        )
    n, co, r, c = index
    per_group = w.shape[0] // s.groups
    g = co // per_group
    channels = tuple(range(g * w.shape[1], (g + 1) * w.shape[1]))
    rows = tuple(r * s.stride[0] - s.padding[0] + i * s.dilation[0] for i in range(kh))
    cols = tuple(c * s.stride[1] - s.padding[1] + j * s.dilation[1] for j in range(kw))
    patch = np.zeros((len(channels), kh, kw))
    inside_r = [i for i, rr in enumerate(rows) if 0 <= rr < h]
    inside_c = [j for j, cc in enumerate(cols) if 0 <= cc < wd]
    if inside_r and inside_c:
        sub = x[n, channels[0] : channels[-1] + 1][:, [rows[i] for i in inside_r]]
        patch[np.ix_(range(len(channels)), inside_r, inside_c)] = f64(
            sub[:, :, [cols[j] for j in inside_c]]
        )
    kernel = f64(w[co])
    bias = None if b is None else float(b[co])

    def label(flat: int) -> str:
        ci, i, j = np.unravel_index(flat, patch.shape)
        pad = "" if 0 <= rows[i] < h and 0 <= cols[j] < wd else " (padding)"
        return f"x[{channels[ci]},{rows[i]},{cols[j]}]{pad}·w[{co},{ci},{i},{j}]"

    name, fields = _weighted_sum(index, patch.ravel(), kernel.ravel(), label, bias, top_k)
    return dict(
        fields,
        explanation=(
            f"{name} lays output channel {co}'s {len(channels)}×{kh}×{kw} kernel over "
            f"the input patch at rows {rows[0]}..{rows[-1]}, columns "
            f"{cols[0]}..{cols[-1]}, multiplies the overlapping numbers and adds all "
            f"{patch.size} products" + (" and the bias." if bias is not None else ".")
        ),
        patch=patch,
        kernel=kernel,
        channel_sums=(patch * kernel).sum(axis=(1, 2)),
        channels=channels,
        rows=rows,
        cols=cols,
    )


def _conv2d_routing(step: Step) -> str | None:
    w = step.extras.get("weight")
    size = f"{w.shape[2]}×{w.shape[3]} " if w is not None and w.dim() == 4 else ""
    return (
        f"Each input pixel collects the gradients of every output position whose {size}"
        "window covered it, each weighted by the kernel value that touched it: the same "
        "kernels, run backwards. Each kernel value's own gradient sums input × output "
        "gradient over all the positions it visited."
    )


CONV2D = OpInfo(
    names=("conv2d",),
    explain=_conv2d_words,
    unit=_conv2d_unit,
    figure="maps",
    routing=_conv2d_routing,
    records=_WEIGHTS,
)

OPS = (LINEAR, CONV2D)
