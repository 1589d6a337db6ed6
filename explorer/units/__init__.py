"""Click a unit in an output heatmap, see its computation: ``unit_computation(step, unit)``.

Every number is read from the step torch recorded (its inputs, weights and extras) and the
unit's value is recomputed from them in float64, so a view can show the sum next to the value
torch produced and the two can be checked against each other.

``unit`` indexes the step's output without the batch dimension: ``(c, row, col)`` for a
(N, C, H, W) output, ``(j,)`` for (N, F); ``()`` for a 0-d output such as ``x.mean()``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from explorer.trace import Step
from explorer.units.elementwise import (
    _BINARY,
    _RESHAPES,
    _UNARY,
    _binary,
    _cat,
    _dropout,
    _generic,
    _max_pool2d,
    _reduce,
    _relu,
    _reshape,
    _softmax,
    _unary,
)
from explorer.units.reading import _base_op, _full_index, _output_tensor
from explorer.units.records import Fields, Term, UnitComputation, fmt
from explorer.units.settings import ConvSettings, PoolSettings, conv_settings, pool_settings
from explorer.units.weighted import _batch_norm, _conv2d, _linear

__all__ = [
    "ConvSettings",
    "PoolSettings",
    "Term",
    "UnitComputation",
    "conv_settings",
    "fmt",
    "pool_settings",
    "unit_computation",
]

# one handler per op: each returns the UnitComputation fields beyond op/unit/value
_HANDLERS: dict[str, Callable[[Step, torch.Tensor, tuple, int], Fields | None]] = {
    "linear": _linear, "conv2d": _conv2d, "max_pool2d": _max_pool2d,
    "max_pool2d_with_indices": _max_pool2d, "relu": _relu, "leaky_relu": _relu,
    "dropout": _dropout, "dropout1d": _dropout, "dropout2d": _dropout, "dropout3d": _dropout,
    "batch_norm": _batch_norm, "cat": _cat, "concat": _cat, "concatenate": _cat,
    "softmax": _softmax, "log_softmax": _softmax, "mean": _reduce, "sum": _reduce,
}


def unit_computation(step: Step, unit: tuple[int, ...], *, sample: int = 0,
                     top_k: int = 8) -> UnitComputation:
    """Break one output unit of ``step`` into the numbers that produced it.

    Args:
        step: a step from ``explorer.trace``.
        unit: index into the step's output without the batch dimension, e.g. ``(c, row, col)``
            for a (N, C, H, W) output or ``(j,)`` for (N, F); ``()`` for a 0-d output.
        sample: which example of the batch.
        top_k: how many of the largest products to list in ``terms`` (the rest are summed).

    Returns:
        A ``UnitComputation``; ``total`` is None (and ``explanation`` says why) when the op
        is one the explorer cannot recompute.

    Raises:
        ValueError: the unit or sample is outside the output.
    """
    out = _output_tensor(step)
    index = _full_index(out, tuple(int(i) for i in unit), sample)
    base = dict(op=step.op, unit=tuple(int(i) for i in unit), sample=sample,
                value=float(out[index]))
    op = _base_op(step.op)
    handler = _HANDLERS.get(op)
    if handler is None:
        if op in _RESHAPES:
            handler = _reshape
        elif op in _UNARY:
            handler = _unary
        elif op in _BINARY:
            handler = _binary
    fields = handler(step, out, index, max(int(top_k), 0)) if handler else None
    if fields is None:
        fields = _generic(step, out, index)
    return UnitComputation(**base, **fields)
