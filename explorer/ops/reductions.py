"""Reductions: ``sum`` and ``mean``, many numbers into one (along some dimensions or all)."""

from __future__ import annotations

import numpy as np
import torch

from explorer.ops.info import Fields, OpInfo
from explorer.ops.phrases import output_of, who
from explorer.steps import Step, Trace
from explorer.units.formulas import dot, sum_formula, unit_name
from explorer.units.reading import base_op, f64
from explorer.units.records import fmt
from explorer.units.settings import named_args


def _words(step: Step, trace: Trace | None) -> str | None:
    out = output_of(step)
    if out is None or not step.inputs:
        return None
    verb = "averages" if base_op(step.op) == "mean" else "adds up"
    n_in = step.inputs[0].numel()
    dim = named_args(step.args, ["input", "dim"]).get("dim")
    if out.dim() == 0:
        return f"{who(step)} {verb} all {n_in:,} values of its input into one number: {fmt(float(out))}."
    return (
        f"{who(step)} {verb} its input along dim {dim}: {step.input_shapes[0]} → "
        f"{step.output_shape}, {n_in // max(out.numel(), 1):,} values into each result."
    )


def _unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = step.inputs[0] if len(step.inputs) == 1 else None
    if x is None:
        return None
    a = named_args(step.args, ["input", "dim", "keepdim"])
    dims = a.get("dim")
    dims = tuple(range(x.dim())) if dims is None else (dims,) if isinstance(dims, int) else dims
    dims = {d % x.dim() for d in dims} if x.dim() else set()
    keep = bool(a.get("keepdim", False))
    picks, rest_of_index = [], list(index)
    for d in range(x.dim()):
        if d in dims:
            picks.append(slice(None))
            if keep:
                rest_of_index.pop(0)
        else:
            picks.append(rest_of_index.pop(0) if rest_of_index else slice(None))
    if rest_of_index:
        return None  # the recorded dims do not explain the output's shape
    region = x[tuple(picks)]
    vals = f64(region).ravel()
    is_mean = base_op(step.op) == "mean"
    w = 1.0 / max(vals.size, 1) if is_mean else 1.0

    def label(flat: int) -> str:
        inner = iter(np.unravel_index(flat, tuple(region.shape)) if region.dim() else ())
        full = [int(next(inner)) if isinstance(p, slice) else p for p in picks]
        return "x[" + ",".join(str(i) for i in full) + "]"

    terms, rest, n_rest, total = dot(vals, np.full(vals.size, w), label, top_k)
    head = f"{unit_name(index)} = " + (f"Σ (x / {vals.size})" if is_mean else "Σ x")
    return dict(
        formula=sum_formula(head, terms, rest, n_rest, None, total),
        explanation=(
            f"`{step.op}` combines {vals.size} input numbers into this one"
            + (" by averaging them." if is_mean else " by adding them.")
        ),
        terms=terms,
        rest=rest,
        rest_count=n_rest,
        total=total,
    )


def _routing(step: Step) -> str | None:
    out = output_of(step)
    n = step.inputs[0].numel() // max(out.numel(), 1) if step.inputs and out is not None else 0
    if base_op(step.op) == "mean":
        return (
            f"A mean sends each of the {n:,} numbers it averaged the same share of the "
            f"gradient: 1/{n:,} of it."
        )
    return f"A sum copies its gradient, unchanged, to each of the {n:,} numbers it added."


SUM_MEAN = OpInfo(names=("sum", "mean"), explain=_words, unit=_unit, routing=_routing)

OPS = (SUM_MEAN,)
