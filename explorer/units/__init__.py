"""Click a unit in an output heatmap, see its computation: ``unit_computation(step, unit)``.

Every number is read from the step torch recorded (its inputs, weights and extras) and the
unit's value is recomputed from them in float64, so a view can show the sum next to the value
torch produced and the two can be checked against each other. The maths for each op lives
with the rest of what the explorer knows about it, in ``explorer.ops``; an op the catalogue
has no maths for gets ``generic`` here.

``unit`` indexes the step's output without the batch dimension: ``(c, row, col)`` for a
(N, C, H, W) output, ``(j,)`` for (N, F); ``()`` for a 0-d output such as ``x.mean()``.
"""

from __future__ import annotations

import torch

# The catalogue's families build on this package's records and formulas, so it is imported as
# a module (not ``from explorer.ops import lookup``): either package may be imported first.
from explorer import ops
from explorer.steps import Step
from explorer.units.formulas import cannot, unit_name
from explorer.units.reading import full_index, output_tensor, same_place
from explorer.units.records import Fields, Term, UnitComputation, fmt

__all__ = ["Term", "UnitComputation", "fmt", "generic", "unit_computation"]


def unit_computation(
    step: Step, unit: tuple[int, ...], *, sample: int = 0, top_k: int = 8
) -> UnitComputation:
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
    out = output_tensor(step)
    index = full_index(out, tuple(int(i) for i in unit), sample)
    info = ops.lookup(step.op)
    maths = info.unit if info is not None else None
    fields = maths(step, out, index, max(int(top_k), 0)) if maths is not None else None
    if fields is None:
        fields = generic(step, out, index)
    return UnitComputation(
        op=step.op,
        unit=tuple(int(i) for i in unit),
        sample=sample,
        value=float(out[index]),
        **fields,
    )


def generic(step: Step, out: torch.Tensor, index: tuple) -> Fields:
    """For an op without unit maths: the inputs at the same position, or why there are none."""
    same = [t for t in step.inputs if tuple(t.shape) == tuple(out.shape)]
    if same and len(same) == len(step.inputs):
        values = {f"input {k}": float(t[index]) for k, t in enumerate(step.inputs)}
        shown = ", ".join(f"{fmt(v)}" for v in values.values())
        return dict(
            formula=f"{unit_name(index)} = {step.op}({shown}) = {fmt(float(out[index]))}",
            explanation=(
                f"The explorer has no formula for `{step.op}`; the input "
                "value(s) at the same position are shown."
            ),
            operands=values,
            **same_place(index, None),
        )
    shapes = ", ".join(str(s) for s in step.input_shapes) or "no tensor inputs"
    return cannot(
        step,
        f"`{step.op}` changes the shape ({shapes} → {tuple(out.shape)}), so an "
        "output position does not line up with one input position: the op "
        "mixes or rearranges many input values, and the explorer has no "
        "per-unit formula for it",
    )
