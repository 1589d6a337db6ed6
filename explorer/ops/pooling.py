"""Pooling: ``max_pool2d`` (each window's largest value), ``avg_pool2d`` (each window's mean)
and ``adaptive_avg_pool2d`` (the mean of each region of a fixed grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.ops.info import Fields, OpInfo, Records, bind
from explorer.ops.phrases import pair_text, per_example, who
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, unit_name
from explorer.units.reading import f64
from explorer.units.records import fmt
from explorer.units.settings import named_args, pair

_MAX_ARGS = ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"]
_AVG_ARGS = [
    "input",
    "kernel_size",
    "stride",
    "padding",
    "ceil_mode",
    "count_include_pad",
    "divisor_override",
]


@dataclass(frozen=True)
class PoolSettings:
    """The geometry of one max_pool2d or avg_pool2d call."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


def pool_settings(step: Step) -> PoolSettings | None:
    """Kernel, stride, padding and dilation of a pooling step (module or function), if recorded."""
    a = step.args
    if step.kind != "module":
        names = _AVG_ARGS if step.op.startswith("avg") else _MAX_ARGS
        a = {"padding": 0, "dilation": 1, **named_args(a, names)}
    kernel = a.get("kernel_size", step.extras.get("kernel_size"))
    if kernel is None:
        return None
    stride = a.get("stride") or step.extras.get("stride") or kernel
    return PoolSettings(
        pair(kernel), pair(stride), pair(a.get("padding", 0)), pair(a.get("dilation", 1))
    )


def _sizes(step: Step) -> str:
    return f"{per_example(step.input_shapes[0])} → {per_example(step.output_shape)} per example"


# --- max_pool2d ------------------------------------------------------------------------------


def _winners(step: Step, x: torch.Tensor, kernel, stride, padding, dilation, ceil) -> None:
    _, indices = F.max_pool2d(
        x, kernel, stride, padding, dilation, ceil_mode=ceil, return_indices=True
    )
    step.extras.update(indices=indices, kernel_size=kernel, stride=stride or kernel)


def _max_module(step: Step, module: nn.Module, notes: dict[str, Any]) -> None:
    if step.inputs:
        _winners(
            step,
            step.inputs[0],
            module.kernel_size,
            module.stride,
            module.padding,
            module.dilation,
            module.ceil_mode,
        )


def _max_function(step: Step, func, args: tuple, kwargs: dict[str, Any], rng) -> None:
    b = bind(_MAX_ARGS, args, kwargs)
    _winners(
        step,
        step.inputs[0],
        b["kernel_size"],
        b.get("stride"),
        b.get("padding", 0),
        b.get("dilation", 1),
        b.get("ceil_mode", False),
    )


def _max_words(step: Step, trace: Trace | None) -> str | None:
    s = pool_settings(step)
    if s is None or not step.inputs:
        return None
    k = f"{s.kernel[0]}×{s.kernel[1]}"
    return (
        f"{who(step)} slides a {k} window with stride {pair_text(s.stride)} and keeps only "
        f"each window's maximum: {_sizes(step)}. The strongest response in each "
        "neighbourhood survives; the rest are dropped."
    )


def _max_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    s = pool_settings(step)
    x = step.inputs[0] if step.inputs else None
    if s is None or x is None or x.dim() != 4 or out.dim() != 4:
        return cannot(
            step, "the recorded settings do not say enough about this pooling to recompute it"
        )
    n, ch, r, c = index
    h, wd = x.shape[2:]
    rows = tuple(r * s.stride[0] - s.padding[0] + i * s.dilation[0] for i in range(s.kernel[0]))
    cols = tuple(c * s.stride[1] - s.padding[1] + j * s.dilation[1] for j in range(s.kernel[1]))
    window = np.full(s.kernel, -np.inf)  # max_pool2d pads with -inf: padding never wins
    for i, rr in enumerate(rows):
        for j, cc in enumerate(cols):
            if 0 <= rr < h and 0 <= cc < wd:
                window[i, j] = float(x[n, ch, rr, cc])
    if np.all(window == -np.inf):
        return cannot(step, "this pooling window lies entirely in the padding")
    best = int(np.argmax(window))  # the first maximum in row-major order, as torch picks
    wi, wj = divmod(best, s.kernel[1])
    total = float(window[wi, wj])
    name = unit_name(index)
    size = f"{s.kernel[0]}×{s.kernel[1]}"
    return dict(
        formula=f"{name} = max of the {size} window = {fmt(total)} (input row {rows[wi]}, "
        f"column {cols[wj]})",
        explanation=(
            f"{name} is the largest of the {window.size} values in its {size} window "
            f"of channel {ch}; the other values are dropped."
        ),
        total=total,
        window=window,
        winner=(rows[wi], cols[wj]),
        rows=rows,
        cols=cols,
        source=(ch, rows[wi], cols[wj]),
        source_sample=n,
        source_input=0,
    )


def _max_routing(step: Step) -> str | None:
    s = pool_settings(step)
    size = f" {s.kernel[0]}×{s.kernel[1]}" if s is not None else ""
    return (
        f"Max-pooling sends each{size} window's gradient back to the window's winner only; "
        "the other inputs of the window get 0."
    )


MAX_POOL = OpInfo(
    names=("max_pool2d", "max_pool2d_with_indices"),
    explain=_max_words,
    unit=_max_unit,
    figure="pool",
    routing=_max_routing,
    records=Records(module=_max_module, function=_max_function),
)


# --- avg_pool2d ------------------------------------------------------------------------------


def _avg_args(step: Step) -> dict[str, Any]:
    a = step.args if step.kind == "module" else named_args(step.args, _AVG_ARGS)
    return {"ceil_mode": False, "count_include_pad": True, "divisor_override": None, **a}


def _avg_words(step: Step, trace: Trace | None) -> str | None:
    s = pool_settings(step)
    if s is None or not step.inputs:
        return None
    k = f"{s.kernel[0]}×{s.kernel[1]}"
    return (
        f"{who(step)} slides a {k} window with stride {pair_text(s.stride)} and replaces "
        f"each window by the mean of its {s.kernel[0] * s.kernel[1]} values: {_sizes(step)}. "
        "Every value in the window counts the same, so the maps get smaller and smoother."
    )


def _window_mean(
    step: Step, x: torch.Tensor, index: tuple, rows: range, cols: range, divisor: int, what: str
) -> Fields:
    n, ch = index[0], index[1]
    region = f64(x[n, ch, rows.start : rows.stop, cols.start : cols.stop])
    total = float(region.sum()) / divisor
    values = region.ravel()
    name = unit_name(index)
    listed = (
        " + ".join(
            fmt(float(v)) if k == 0 or v >= 0 else f"({fmt(float(v))})"
            for k, v in enumerate(values)
        )
        if values.size <= 16
        else f"{fmt(float(region.sum()))}, the sum of {values.size} values"
    )
    return dict(
        formula=f"{name} = Σ window / {divisor} = ({listed}) / {divisor} = {fmt(total)}",
        explanation=(
            f"{name} is the mean of {what} of channel {ch}: input rows "
            f"{rows.start}..{rows.stop - 1}, columns {cols.start}..{cols.stop - 1}."
        ),
        total=total,
        rows=tuple(rows),
        cols=tuple(cols),
        operands={"sum": float(region.sum()), "divisor": divisor},
        source=(ch, rows.start, cols.start),
        source_sample=n,
        source_input=0,
    )


def _avg_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    s = pool_settings(step)
    x = step.inputs[0] if step.inputs else None
    if s is None or x is None or x.dim() != 4 or out.dim() != 4:
        return cannot(
            step, "the recorded settings do not say enough about this pooling to recompute it"
        )
    a = _avg_args(step)
    _, _, r, c = index
    h, wd = x.shape[2:]
    # torch's rule: the window, clipped to the padded image, then to the image itself
    r0, c0 = r * s.stride[0] - s.padding[0], c * s.stride[1] - s.padding[1]
    r1 = min(r0 + s.kernel[0], h + s.padding[0])
    c1 = min(c0 + s.kernel[1], wd + s.padding[1])
    padded_size = (r1 - r0) * (c1 - c0)
    rows, cols = range(max(r0, 0), min(r1, h)), range(max(c0, 0), min(c1, wd))
    if not rows or not cols:
        return cannot(step, "this pooling window lies entirely in the padding")
    divisor = a["divisor_override"] or (
        padded_size if a["count_include_pad"] else len(rows) * len(cols)
    )
    size = f"its {s.kernel[0]}×{s.kernel[1]} window"
    if len(rows) * len(cols) != divisor:
        size += f" (divided by {divisor}: padding counts as zeros)"
    return _window_mean(step, x, index, rows, cols, int(divisor), size)


def _avg_routing(step: Step) -> str | None:
    s = pool_settings(step)
    if s is None:
        return None
    k = s.kernel[0] * s.kernel[1]
    return (
        f"Average pooling shares each window's gradient equally among the window's "
        f"{s.kernel[0]}×{s.kernel[1]} = {k} inputs: each gets 1/{k} of it (an input in "
        "several windows adds up its shares)."
    )


AVG_POOL = OpInfo(
    names=("avg_pool2d",),
    explain=_avg_words,
    unit=_avg_unit,
    figure="pool",
    routing=_avg_routing,
    settings=("count_include_pad", "divisor_override"),
)


# --- adaptive_avg_pool2d ---------------------------------------------------------------------


def _region(i: int, n_in: int, n_out: int) -> range:
    """The input rows (or columns) behind output row ``i``, as torch divides them."""
    return range((i * n_in) // n_out, math.ceil((i + 1) * n_in / n_out))


def _adaptive_words(step: Step, trace: Trace | None) -> str | None:
    if not step.inputs or step.inputs[0].dim() != 4 or len(step.output_shape) != 4:
        return None
    (h, w), (oh, ow) = step.input_shapes[0][2:], step.output_shape[2:]
    each = (
        f"each output averages a {h // oh}×{w // ow} region"
        if h % oh == 0 and w % ow == 0
        else "neighbouring regions may overlap by a row or column"
    )
    return (
        f"{who(step)} averages each channel down to a fixed {oh}×{ow} grid, whatever size "
        f"comes in: {_sizes(step)}; {each}."
    )


def _adaptive_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = step.inputs[0] if step.inputs else None
    if x is None or x.dim() != 4 or out.dim() != 4:
        return None
    _, _, r, c = index
    rows = _region(r, x.shape[2], out.shape[2])
    cols = _region(c, x.shape[3], out.shape[3])
    return _window_mean(
        step, x, index, rows, cols, len(rows) * len(cols), f"its {len(rows)}×{len(cols)} region"
    )


def _adaptive_routing(step: Step) -> str | None:
    return (
        "Each output's gradient is shared equally among the inputs of its region: an "
        "output that averaged n values sends 1/n of its gradient to each."
    )


ADAPTIVE_AVG_POOL = OpInfo(
    names=("adaptive_avg_pool2d",),
    explain=_adaptive_words,
    unit=_adaptive_unit,
    figure="pool",
    routing=_adaptive_routing,
    settings=("output_size",),
)

OPS = (MAX_POOL, AVG_POOL, ADAPTIVE_AVG_POOL)
