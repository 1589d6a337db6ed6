"""Activations and other functions of one number: relu, leaky_relu, elu, gelu, silu, sigmoid,
tanh, exp, log, ...; and softmax / log_softmax, which mix a row.

Every pointwise op here is one ``_pointwise`` entry: its rule as a student reads it (with this
unit's number filled in), the same rule in float64 to recompute a unit, and torch's own function
to measure its slope for the gradient note.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from explorer.ops.info import Fields, OpInfo
from explorer.ops.phrases import output_of, pct, who
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, paren, unit_name
from explorer.units.reading import at, base_op, f64, same_place
from explorer.units.records import fmt
from explorer.units.settings import named_args

Settings = dict[str, Any]


@dataclass(frozen=True)
class _Rule:
    """One function of one number, as words, as float64 maths and as torch computes it."""

    settings: Callable[[Step], Settings]  # the step's own constants (slope, alpha, ...)
    value: Callable[[float, Settings], float]  # float64, to recompute a unit
    formula: Callable[[float, float, Settings], str]  # (x, result, settings) -> "… = …"
    torch_fn: Callable[[torch.Tensor, Settings], torch.Tensor]  # for the slope
    words: Callable[[Step, torch.Tensor, Settings], str]  # (step, output, settings) -> Markdown


def _no_settings(step: Step) -> Settings:
    return {}


def _setting(name: str, default: Any, position: int = 1) -> Callable[[Step], Settings]:
    def read(step: Step) -> Settings:
        names = ["input"] + [""] * (position - 1) + [name]
        return {name: named_args(step.args, names).get(name, default)}

    return read


def _range(out: torch.Tensor) -> str:
    return f"here the outputs run from {fmt(float(out.min()))} to {fmt(float(out.max()))}"


def _negatives(step: Step) -> str:
    x = step.inputs[0]
    neg = int((x < 0).sum())
    return f"{pct(neg / max(x.numel(), 1))} of the values ({neg:,} of {x.numel():,}) were negative"


def _pointwise_unit(rule: _Rule) -> Callable[[Step, torch.Tensor, tuple, int], Fields | None]:
    def unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
        x = at(step.inputs[0], out, index) if len(step.inputs) == 1 else None
        if x is None:
            return None
        s = rule.settings(step)
        total = rule.value(x, s)
        return dict(
            formula=f"{unit_name(index)} = {rule.formula(x, total, s)}",
            explanation=(
                f"`{step.op}` works on each number alone: this one came from "
                f"x = {fmt(x)} at the same position."
            ),
            total=total,
            operands={"x": x},
            **same_place(index),
        )

    return unit


def _slopes(step: Step, rule: _Rule) -> torch.Tensor | None:
    """d output / d input at every position: torch's own function, differentiated."""
    if len(step.inputs) != 1 or not step.inputs[0].is_floating_point():
        return None
    x = step.inputs[0].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = rule.torch_fn(x, rule.settings(step))
        (grad,) = torch.autograd.grad(y.sum(), x)
    return grad


def _pointwise_routing(why: str, rule: _Rule) -> Callable[[Step], str | None]:
    def routing(step: Step) -> str | None:
        slopes = _slopes(step, rule)
        here = (
            ""
            if slopes is None or slopes.numel() == 0
            else f" Here the slope runs from {fmt(float(slopes.min()))} to "
            f"{fmt(float(slopes.max()))}."
        )
        return (
            f"{step.op} works on each number alone, so each gradient goes straight back to "
            f"the number it came from, multiplied by the slope of {why} there.{here}"
        )

    return routing


def _pointwise_words(rule: _Rule) -> Callable[[Step, Trace | None], str | None]:
    def words(step: Step, trace: Trace | None) -> str | None:
        out = output_of(step)
        if out is None or out.numel() == 0 or len(step.inputs) != 1:
            return None
        return rule.words(step, out, rule.settings(step))

    return words


def _pointwise(
    names: tuple[str, ...],
    why: str,
    rule: _Rule,
    *,
    figure: str = "elementwise",
    settings: tuple[str, ...] = (),
    modules: tuple[str, ...] = (),
) -> OpInfo:
    return OpInfo(
        names=names,
        explain=_pointwise_words(rule),
        unit=_pointwise_unit(rule),
        figure=figure,
        routing=_pointwise_routing(why, rule),
        settings=settings,
        modules=modules,
    )


# --- relu and its relatives ------------------------------------------------------------------


def _relu_words(step: Step, trace: Trace | None) -> str | None:
    out = output_of(step)
    if out is None or out.numel() == 0:
        return None
    zeroed = int((out == 0).sum())
    return (
        f"{who(step)} keeps positive numbers and replaces every negative one with 0. "
        f"In this step it zeroed {pct(zeroed / out.numel())} of the values "
        f"({zeroed:,} of {out.numel():,})."
    )


def _relu_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = at(step.inputs[0], out, index) if step.inputs else None
    if x is None:
        return None
    slope = _leaky(step)["negative_slope"] if base_op(step.op) == "leaky_relu" else 0.0
    total = x if x > 0 else slope * x
    name = unit_name(index)
    if slope:
        formula = f"{name} = x if x > 0 else {fmt(slope)}·x = {fmt(total)}  (x = {fmt(x)})"
    else:
        formula = f"{name} = max(0, x) = max(0, {fmt(x)}) = {fmt(total)}"
    kept = (
        "positive, so it passes through unchanged"
        if x > 0
        else (
            "not positive, so it is replaced by 0"
            if not slope
            else f"negative, so it is multiplied by {fmt(slope)}"
        )
    )
    return dict(
        formula=formula,
        explanation=f"The input here was {fmt(x)}: {kept}.",
        total=total,
        operands={"x": x},
        **same_place(index),
    )


def _relu_routing(step: Step) -> str | None:
    text = (
        "ReLU passes the gradient back only where its input was positive; elsewhere it "
        "sends back 0."
    )
    if step.inputs and step.inputs[0].numel():
        positive = float((step.inputs[0] > 0).float().mean())
        text += (
            f" The input was positive at {positive:.1%} of the units; exactly there the "
            "gradient goes through."
        )
    return text


_leaky = _setting("negative_slope", 0.01)


def _leaky_words(step: Step, trace: Trace | None) -> str | None:
    out = output_of(step)
    if out is None or out.numel() == 0 or not step.inputs:
        return None
    slope = fmt(_leaky(step)["negative_slope"])
    return (
        f"{who(step)} keeps positive numbers and multiplies negative ones by {slope} "
        f"instead of zeroing them, so a little signal (and gradient) still gets through. "
        f"In this step {_negatives(step)}; {_range(out)}."
    )


def _leaky_routing(step: Step) -> str | None:
    slope = fmt(_leaky(step)["negative_slope"])
    text = (
        f"LeakyReLU passes the gradient back unchanged where its input was positive and "
        f"multiplied by {slope} where it was negative, so no unit is cut off completely."
    )
    if step.inputs and step.inputs[0].numel():
        positive = float((step.inputs[0] > 0).float().mean())
        text += f" The input was positive at {positive:.1%} of the units."
    return text


RELU = OpInfo(
    names=("relu",), explain=_relu_words, unit=_relu_unit, figure="zeroing", routing=_relu_routing
)
LEAKY_RELU = OpInfo(
    names=("leaky_relu",),
    explain=_leaky_words,
    unit=_relu_unit,
    figure="elementwise",
    routing=_leaky_routing,
)


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _gelu_value(x: float, s: Settings) -> float:
    if s["approximate"] == "tanh":
        return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return x * _phi(x)


def _gelu_formula(x: float, total: float, s: Settings) -> str:
    if s["approximate"] == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return (
            f"½x(1 + tanh(√(2/π)(x + 0.044715x³))) = ½·{paren(x)}·(1 + tanh({fmt(inner)}))"
            f" = {fmt(total)}"
        )
    return f"x·Φ(x) = {paren(x)} × Φ({fmt(x)}) = {paren(x)} × {fmt(_phi(x))} = {fmt(total)}"


GELU = _pointwise(
    ("gelu",),
    "GELU",
    _Rule(
        settings=_setting("approximate", "none"),
        value=_gelu_value,
        formula=_gelu_formula,
        torch_fn=lambda x, s: F.gelu(x, approximate=s["approximate"]),
        words=lambda step, out, s: (
            f"{who(step)} multiplies every number by Φ(x), the chance that a standard bell-curve "
            "value is below x"
            + (" (the tanh approximation)" if s["approximate"] == "tanh" else "")
            + ": big positive numbers pass almost unchanged, big negative ones become almost 0, "
            f"and small negative ones dip a little below 0. In this step {_negatives(step)}; "
            f"{_range(out)}."
        ),
    ),
    settings=("approximate",),
)

SILU = _pointwise(
    ("silu",),
    "SiLU",
    _Rule(
        settings=_no_settings,
        value=lambda x, s: x * _sigmoid(x),
        formula=lambda x, total, s: (
            f"x·σ(x) = {paren(x)} × σ({fmt(x)}) = {paren(x)} × {fmt(_sigmoid(x))} = {fmt(total)}"
        ),
        torch_fn=lambda x, s: F.silu(x),
        words=lambda step, out, s: (
            f"{who(step)} (also called swish) multiplies every number by its own sigmoid, "
            "**x·σ(x)**: positive numbers pass almost unchanged, negative ones shrink towards 0. "
            f"In this step {_negatives(step)}; {_range(out)}."
        ),
    ),
)


def _elu_formula(x: float, total: float, s: Settings) -> str:
    if x > 0:
        return f"x = {fmt(total)}  (x > 0)"
    return f"α(eˣ - 1) = {fmt(s['alpha'])} × (e^{paren(x)} - 1) = {fmt(total)}"


ELU = _pointwise(
    ("elu",),
    "ELU",
    _Rule(
        settings=_setting("alpha", 1.0),
        value=lambda x, s: x if x > 0 else s["alpha"] * math.expm1(x),
        formula=_elu_formula,
        torch_fn=lambda x, s: F.elu(x, alpha=s["alpha"]),
        words=lambda step, out, s: (
            f"{who(step)} keeps positive numbers; a negative x becomes **α(eˣ - 1)** with "
            f"α = {fmt(s['alpha'])}, a smooth curve that never goes below -{fmt(s['alpha'])}. "
            f"In this step {_negatives(step)}; {_range(out)}."
        ),
    ),
    settings=("alpha",),
)


def _squash(low: str, high: str, rule: str) -> Callable[[Step, torch.Tensor, Settings], str]:
    def words(step: Step, out: torch.Tensor, s: Settings) -> str:
        return (
            f"{who(step)} squashes every value into the range {low} to {high} with {rule}; "
            f"here the outputs run from {fmt(float(out.min()))} to {fmt(float(out.max()))}."
        )

    return words


def _rule_only(rule: str) -> Callable[[float, float, Settings], str]:
    return lambda x, total, s: f"{rule} = {fmt(total)}  (x = {fmt(x)})"


def _applies(rule: str) -> Callable[[Step, torch.Tensor, Settings], str]:
    return lambda step, out, s: (
        f"{who(step)} computes **{rule}** for every number on its own; {_range(out)}."
    )


SIGMOID = _pointwise(
    ("sigmoid",),
    "σ (σ(x)·(1 - σ(x)), at most 0.25)",
    _Rule(
        _no_settings,
        lambda x, s: _sigmoid(x),
        _rule_only("1 / (1 + e^(-x))"),
        lambda x, s: torch.sigmoid(x),
        _squash("0", "1", "σ(x) = 1 / (1 + e^(-x))"),
    ),
)
TANH = _pointwise(
    ("tanh",),
    "tanh (1 - tanh²(x), at most 1)",
    _Rule(
        _no_settings,
        lambda x, s: math.tanh(x),
        _rule_only("tanh(x)"),
        lambda x, s: torch.tanh(x),
        _squash("-1", "1", "tanh(x)"),
    ),
)
EXP = _pointwise(
    ("exp",),
    "eˣ (eˣ itself)",
    _Rule(
        _no_settings,
        lambda x, s: math.exp(x),
        _rule_only("e^x"),
        lambda x, s: torch.exp(x),
        _applies("eˣ"),
    ),
    figure="auto",
)
LOG = _pointwise(
    ("log",),
    "ln x (1/x)",
    _Rule(
        _no_settings,
        lambda x, s: math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan),
        _rule_only("ln(x)"),
        lambda x, s: torch.log(x),
        _applies("ln x"),
    ),
    figure="auto",
)
SQRT = _pointwise(
    ("sqrt",),
    "√x (1/(2√x))",
    _Rule(
        _no_settings,
        lambda x, s: math.sqrt(x) if x >= 0 else math.nan,
        _rule_only("√x"),
        lambda x, s: torch.sqrt(x),
        _applies("√x"),
    ),
    figure="auto",
)
NEG = _pointwise(
    ("neg",),
    "-x (always -1)",
    _Rule(
        _no_settings, lambda x, s: -x, _rule_only("-x"), lambda x, s: torch.neg(x), _applies("-x")
    ),
    figure="auto",
)
ABS = _pointwise(
    ("abs",),
    "|x| (+1 or -1, by the sign of x)",
    _Rule(
        _no_settings,
        lambda x, s: abs(x),
        _rule_only("|x|"),
        lambda x, s: torch.abs(x),
        _applies("|x|"),
    ),
    figure="auto",
)

# Drawn as before | after; no words or unit maths yet.
OTHER_ACTIVATIONS = OpInfo(
    names=(
        "selu",
        "celu",
        "mish",
        "softplus",
        "hardtanh",
        "relu6",
        "hardswish",
        "hardsigmoid",
        "softsign",
        "prelu",
        "rrelu",
    ),
    figure="elementwise",
)


# --- softmax and log_softmax: a whole row at once --------------------------------------------


def _softmax_words(step: Step, trace: Trace | None) -> str | None:
    out = output_of(step)
    dim = named_args(step.args, ["input", "dim"]).get("dim")
    if out is None or out.dim() == 0:
        return None
    along = f" along dim {dim}" if dim is not None else ""
    log = base_op(step.op) == "log_softmax"
    text = f"{who(step)} turns each group of scores{along} into " + (
        "log-probabilities: the logarithms of positive numbers that add up to 1, so all are ≤ 0."
        if log
        else "probabilities: all positive, adding up to 1."
    )
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
    dim = int(a["dim"]) % out.dim()
    row = f64(step.inputs[0][(*index[:dim], slice(None), *index[dim + 1 :])])
    x, m = float(row[index[dim]]), float(row.max())
    sum_exp = float(np.exp(row - m).sum())
    log = base_op(step.op) == "log_softmax"
    total = (x - m - math.log(sum_exp)) if log else math.exp(x - m) / sum_exp
    name = unit_name(index)
    if log:
        formula = f"{name} = x - log Σ e^x = {fmt(x)} - {paren(m + math.log(sum_exp))}"
    elif m < 300:
        formula = f"{name} = e^x / Σ e^x = e^{paren(x)} / {fmt(sum_exp * math.exp(m))}"
    else:  # e^x itself would overflow: show the shifted form torch also uses
        formula = f"{name} = e^(x - max) / Σ e^(x - max) = e^{paren(x - m)} / {fmt(sum_exp)}"
    formula += f" = {fmt(total)}"
    return dict(
        formula=formula,
        explanation=(
            f"`{step.op}` compares this number with all {row.size} numbers "
            f"along dim {dim}: bigger inputs get a bigger share."
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
    if base_op(step.op) == "log_softmax":
        return (
            f"Each output depends on {n} of its row (through the sum), so the gradient of "
            "one output reaches the whole row: dx = g - softmax(x)·Σ g."
        )
    return (
        f"Each output depends on {n} of its row, so the gradient of one output reaches the "
        "whole row: dx = y·(g - Σ y·g). Raising one score takes probability from the others."
    )


SOFTMAX = OpInfo(
    names=("softmax", "log_softmax"),
    explain=_softmax_words,
    unit=_softmax_unit,
    routing=_softmax_routing,
)

OPS = (
    RELU,
    LEAKY_RELU,
    GELU,
    SILU,
    ELU,
    SIGMOID,
    TANH,
    EXP,
    LOG,
    SQRT,
    NEG,
    ABS,
    OTHER_ACTIVATIONS,
    SOFTMAX,
)
