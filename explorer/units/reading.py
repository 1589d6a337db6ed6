"""Reading a unit's numbers out of a recorded step: which output, which index, which input.

Shared by every handler: locating the clicked unit in the output, the same position in an
input (broadcast), and the float64 copies the recomputation works in.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.steps import Step
from explorer.units.records import Fields


def output_tensor(step: Step) -> torch.Tensor:
    out = step.output
    if isinstance(out, (tuple, list)):
        out = next((o for o in out if isinstance(o, torch.Tensor)), None)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"step {step.index} ({step.op}) has no tensor output to click on")
    return out


def full_index(out: torch.Tensor, unit: tuple[int, ...], sample: int) -> tuple[int, ...]:
    """The index into the whole output (batch first), checked against its shape."""
    if out.dim() == 0:
        if unit:
            raise ValueError(f"this output is a single number; use unit=(), not {unit}")
        return ()
    shape = tuple(out.shape[1:])
    if len(unit) != len(shape):
        raise ValueError(
            f"unit {unit} has {len(unit)} indices but the output has shape "
            f"{shape} per example ({len(shape)} indices needed)"
        )
    if not 0 <= sample < out.shape[0]:
        raise ValueError(
            f"sample {sample} is out of range: the batch has {out.shape[0]} example(s)"
        )
    for axis, (i, n) in enumerate(zip(unit, shape, strict=True)):
        if not 0 <= i < n:
            raise ValueError(
                f"unit {unit} is out of range: index {i} on axis {axis} must be "
                f"in 0..{n - 1} for an output of shape {shape} per example"
            )
    return (sample, *unit)


def same_place(index: tuple, source_input: int | None = 0) -> Fields:
    """Source fields for an elementwise op: the unit came from the same position."""
    return dict(
        source=tuple(index[1:]),
        source_sample=index[0] if index else None,
        source_input=source_input,
    )


def at(t: torch.Tensor, out: torch.Tensor, index: tuple) -> float | None:
    """The value of ``t`` broadcast to the output's shape, at ``index``."""
    try:
        return float(torch.broadcast_to(t, out.shape)[index])
    except RuntimeError:
        return None


def base_op(op: str) -> str:
    """``add_`` -> ``add``: an in-place op computes the same numbers."""
    return op[:-1] if op.endswith("_") and not op.startswith("_") else op


def f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy()


def close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True))
