"""softmax, log_softmax and softmin: each output mixes a whole row (one dimension) of inputs."""

from __future__ import annotations

import math

import numpy as np
import torch

from explorer.ops.info import Fields, OpInfo
from explorer.ops.phrases import output_of, who
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, paren, unit_name
from explorer.units.reading import base_op, f64
from explorer.units.records import fmt
from explorer.units.settings import named_args


def _softmax_words(step: Step, trace: Trace | None) -> str | None:
    out = output_of(step)
    dim = named_args(step.args, ["input", "dim"]).get("dim")
    if out is None or out.dim() == 0:
        return None
    along = f" along dim {dim}" if dim is not None else ""
    op = base_op(step.op)
    log = op == "log_softmax"
    text = f"{who(step)} turns each group of scores{along} into " + (
        "log-probabilities: the logarithms of positive numbers that add up to 1, so all are ≤ 0."
        if log
        else "probabilities: all positive, adding up to 1."
    )
    if op == "softmin":
        text += " It is softmax of -x: the smallest number gets the biggest share."
    if out.dim() == 2 and (dim is None or int(dim) % 2 == 1):
        best = int(out[0].argmax())
        prob = float(out[0, best].exp()) if log else float(out[0, best])
        text += f" For example 0 the largest is at position {best} (probability {prob:.3f})."
    return text


def _softmax_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    a = named_args(step.args, ["input", "dim"])
    if not step.inputs or a.get("dim") is None or out.dim() == 0:
        return cannot(
            step,
            f"`{step.op}` mixes a whole row of inputs, and this step did not "
            "record along which dimension",
        )
    op = base_op(step.op)
    sign = -1.0 if op == "softmin" else 1.0  # softmin(x) is softmax(-x)
    dim = int(a["dim"]) % out.dim()
    row = sign * f64(step.inputs[0][(*index[:dim], slice(None), *index[dim + 1 :])])
    x, m = float(row[index[dim]]), float(row.max())
    sum_exp = float(np.exp(row - m).sum())
    log = op == "log_softmax"
    total = (x - m - math.log(sum_exp)) if log else math.exp(x - m) / sum_exp
    name, v = unit_name(index), "-x" if sign < 0 else "x"
    if log:
        formula = f"{name} = x - log Σ e^x = {fmt(x)} - {paren(m + math.log(sum_exp))}"
    elif m < 300:
        formula = f"{name} = e^{v} / Σ e^{v} = e^{paren(x)} / {fmt(sum_exp * math.exp(m))}"
    else:  # e^x itself would overflow: show the shifted form torch also uses
        formula = f"{name} = e^({v} - max) / Σ e^({v} - max) = e^{paren(x - m)} / {fmt(sum_exp)}"
    formula += f" = {fmt(total)}"
    return dict(
        formula=formula,
        explanation=(
            f"`{step.op}` compares this number with all {row.size} numbers "
            f"along dim {dim}: "
            + (
                "smaller inputs get a bigger share."
                if sign < 0
                else "bigger inputs get a bigger share."
            )
        ),
        total=total,
        operands={"x": x, "max": m, "sum_exp_shifted": sum_exp},
    )


def _softmax_routing(step: Step) -> str | None:
    dim = named_args(step.args, ["input", "dim"]).get("dim")
    out = output_of(step)
    n = (
        f"all {out.shape[int(dim)]} inputs"
        if out is not None and dim is not None and (out.dim())
        else "every input"
    )
    op = base_op(step.op)
    if op == "log_softmax":
        return (
            f"Each output depends on {n} of its row (through the sum), so the gradient of "
            "one output reaches the whole row: dx = g - softmax(x)·Σ g."
        )
    if op == "softmin":
        return (
            f"Each output depends on {n} of its row, so the gradient of one output reaches the "
            "whole row: dx = -y·(g - Σ y·g). Lowering one number takes probability from the "
            "others."
        )
    return (
        f"Each output depends on {n} of its row, so the gradient of one output reaches the "
        "whole row: dx = y·(g - Σ y·g). Raising one score takes probability from the others."
    )


SOFTMAX = OpInfo(
    names=("softmax", "log_softmax", "softmin"),
    explain=_softmax_words,
    unit=_softmax_unit,
    routing=_softmax_routing,
)

OPS = (SOFTMAX,)
