"""What a unit computation is made of: the record, its terms and how its numbers are written.

Kept free of torch and of the handlers so every other module of the package (and any view)
can build or read a ``UnitComputation`` without pulling in the op logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

Fields = dict[str, Any]  # the UnitComputation fields a handler fills in, beyond op/unit/value


class Term(NamedTuple):
    """One product in a weighted sum: ``input * weight``."""

    label: str  # e.g. "x[17]·W[5,17]" or "x[3,4,5]·w[7,3,0,1]"
    input: float
    weight: float
    product: float


@dataclass(frozen=True, eq=False)  # eq=False: the numpy fields have no single truth value
class UnitComputation:
    """How one output unit of one step was computed, with every number filled in."""

    op: str
    unit: tuple[int, ...]
    sample: int
    value: float  # what torch produced (read from step.output)
    formula: str  # one line, e.g. "y[5] = Σ x·w + b = 0.12 + … = 1.734"
    explanation: str  # a plain sentence; says so when the explorer cannot recompute the unit
    terms: tuple[Term, ...] = ()  # the top_k largest |products|, largest first
    rest: float = 0.0  # sum of the products not in ``terms``, so terms + rest + bias = total
    rest_count: int = 0
    bias: float | None = None  # linear/conv2d bias of this unit (batch norm's β is in operands)
    total: float | None = None  # recomputed in float64 from every term; None if not recomputable
    operands: dict[str, Any] = field(default_factory=dict)  # named scalars (relu x, bn mean...)
    patch: np.ndarray | None = None  # conv2d: (C_in, kh, kw) input patch, padding as zeros
    kernel: np.ndarray | None = None  # conv2d: (C_in, kh, kw) weights of this output channel
    channel_sums: np.ndarray | None = None  # conv2d: (C_in,) Σ patch·kernel per input channel
    channels: tuple[int, ...] = ()  # conv2d: input channels of the patch (its group's, if any)
    rows: tuple[int, ...] = ()  # conv2d/pool: input rows under the kernel (<0 or ≥H: padding)
    cols: tuple[int, ...] = ()
    window: np.ndarray | None = None  # max_pool2d: (kh, kw) values, padding as -inf
    winner: tuple[int, int] | None = None  # max_pool2d: (row, col) of the maximum in the input
    source: tuple[int, ...] | None = None  # where the value came from in the input (no batch)
    source_sample: int | None = None  # the batch position of ``source``
    source_input: int | None = None  # which of step.inputs holds ``source`` (cat)

    @property
    def agrees(self) -> bool | None:
        """Whether the recomputed total matches torch's value (None if not recomputed)."""
        if self.total is None:
            return None
        return bool(np.isclose(self.total, self.value, rtol=1e-4, atol=1e-5, equal_nan=True))


def fmt(v: float) -> str:
    """A number the way a student reads it: 4 significant digits."""
    if isinstance(v, bool):
        return str(v)
    if v == 0:
        return "0"
    return f"{v:.4g}"
