"""ReLU and its relatives: relu, leaky_relu, rrelu, prelu, relu6. Each keeps the positive
numbers and zeroes, scales or caps the rest; the words count this step's numbers on each side.

The other straight-piece activations (hardtanh, hardswish, threshold, the shrinks) are in
``ops.hard``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.ops.info import Fields, OpInfo
from explorer.ops.phrases import output_of, pct, who
from explorer.ops.pointwise import (
    Rule,
    Settings,
    constants,
    counted,
    negatives,
    no_settings,
    pointwise,
    value_range,
)
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, unit_name
from explorer.units.reading import at, base_op, same_place
from explorer.units.records import fmt

# --- relu, leaky_relu, rrelu: negative numbers zeroed or scaled ------------------------------


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


_leaky = constants(("negative_slope", 0.01))
_rrelu = constants(("lower", 1 / 8), ("upper", 1 / 3), ("training", False))


def _negative_slope(step: Step) -> float:
    """The slope a negative number is multiplied by (RReLU in eval mode: the middle of its
    range)."""
    op = base_op(step.op)
    if op == "leaky_relu":
        return float(_leaky(step)["negative_slope"])
    if op == "rrelu":
        s = _rrelu(step)
        return (float(s["lower"]) + float(s["upper"])) / 2
    return 0.0


def _rrelu_drew(step: Step) -> bool:
    """An RReLU in train mode drew a random slope for each negative number."""
    if base_op(step.op) != "rrelu" or not step.inputs:
        return False
    out, x = output_of(step), step.inputs[0]
    neg = x < 0
    if out is None or not bool(neg.any()):
        return False
    return not torch.allclose(out[neg], x[neg] * _negative_slope(step), rtol=1e-5, atol=1e-7)


def _relu_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = at(step.inputs[0], out, index) if step.inputs else None
    if x is None:
        return None
    if _rrelu_drew(step):
        return cannot(
            step,
            "in train mode RReLU drew a random slope for each negative number, and the step "
            "did not keep the draws",
        )
    slope = _negative_slope(step)
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


def _leaky_words(step: Step, trace: Trace | None) -> str | None:
    out = output_of(step)
    if out is None or out.numel() == 0 or not step.inputs:
        return None
    slope = fmt(_negative_slope(step))
    if base_op(step.op) == "rrelu":
        s = _rrelu(step)
        how = (
            "by a slope drawn at random for each number"
            if _rrelu_drew(step)
            else "by the middle of its range"
        )
        return (
            f"{who(step)} (randomised leaky ReLU) keeps positive numbers and multiplies "
            f"negative ones {how}, between {fmt(s['lower'])} and {fmt(s['upper'])}"
            f"{'' if _rrelu_drew(step) else f' ({slope}: in eval mode nothing is random)'}. "
            f"In this step {negatives(step)}; {value_range(out)}."
        )
    return (
        f"{who(step)} keeps positive numbers and multiplies negative ones by {slope} "
        f"instead of zeroing them, so a little signal (and gradient) still gets through. "
        f"In this step {negatives(step)}; {value_range(out)}."
    )


def _leaky_routing(step: Step) -> str | None:
    slope = "the slope drawn for it" if _rrelu_drew(step) else fmt(_negative_slope(step))
    name = "RReLU" if base_op(step.op) == "rrelu" else "LeakyReLU"
    text = (
        f"{name} passes the gradient back unchanged where its input was positive and "
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
RRELU = OpInfo(
    names=("rrelu",),
    explain=_leaky_words,
    unit=_relu_unit,
    figure="elementwise",
    routing=_leaky_routing,
    settings=("lower", "upper"),
    modules=("RReLU",),
)


# --- prelu: the negative slope is a learned weight -------------------------------------------


def _prelu_weight(step: Step) -> torch.Tensor | None:
    """PReLU's slopes: the layer's weight, or ``F.prelu``'s second input."""
    if step.params:
        return next(iter(step.params.values()))
    return step.inputs[1] if len(step.inputs) == 2 else None


def _prelu_slope(step: Step, index: tuple) -> float | None:
    w = _prelu_weight(step)
    if w is None:
        return None
    if w.numel() == 1:
        return float(w.reshape(()))
    if len(index) < 2 or index[1] >= w.numel():
        return None
    return float(w.reshape(-1)[index[1]])  # one slope per channel (dim 1)


def _prelu_words(step: Step, trace: Trace | None) -> str | None:
    out, w = output_of(step), _prelu_weight(step)
    if out is None or out.numel() == 0 or w is None or not step.inputs:
        return None
    learned = (
        f"a = {fmt(float(w.reshape(-1)[0]))}"
        if w.numel() == 1
        else f"one a per channel, here from {fmt(float(w.min()))} to {fmt(float(w.max()))}"
    )
    return (
        f"{who(step)} (parametric ReLU) keeps positive numbers and multiplies negative ones by "
        f"a slope the network learned in training ({learned}). In this step "
        f"{negatives(step)}; {value_range(out)}."
    )


def _prelu_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = at(step.inputs[0], out, index) if step.inputs else None
    a = _prelu_slope(step, index)
    if x is None or a is None:
        return None
    total = x if x > 0 else a * x
    channel = f" (the slope of channel {index[1]})" if _prelu_weight(step).numel() > 1 else ""  # type: ignore[union-attr]
    return dict(
        formula=f"{unit_name(index)} = x if x > 0 else a·x = {fmt(total)}  "
        f"(x = {fmt(x)}, a = {fmt(a)})",
        explanation=(
            f"The input here was {fmt(x)}: "
            + ("positive, so it passes through unchanged." if x > 0 else "")
            + (
                f"not positive, so it is multiplied by the learned a = {fmt(a)}{channel}."
                if x <= 0
                else ""
            )
        ),
        total=total,
        operands={"x": x, "a": a},
        **same_place(index),
    )


def _prelu_routing(step: Step) -> str | None:
    text = (
        "PReLU passes the gradient back unchanged where its input was positive and multiplied "
        "by the learned slope a where it was negative; a gets a gradient too: the sum of "
        "g·x over the negative inputs."
    )
    if step.inputs and step.inputs[0].numel():
        positive = float((step.inputs[0] > 0).float().mean())
        text += f" The input was positive at {positive:.1%} of the units."
    return text


PRELU = OpInfo(
    names=("prelu",),
    explain=_prelu_words,
    unit=_prelu_unit,
    figure="elementwise",
    routing=_prelu_routing,
    modules=("PReLU",),
)


# --- capped and clipped: relu6, hardtanh, hardsigmoid, hardswish, threshold ------------------


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _relu6_words(step: Step, out: torch.Tensor, s: Settings) -> str:
    x = step.inputs[0]
    return (
        f"{who(step)} is ReLU with a ceiling: negative numbers become 0 and numbers above 6 "
        f"become 6. In this step {counted(step, x < 0, 'were zeroed')} and "
        f"{int((x > 6).sum()):,} capped at 6; {value_range(out)}."
    )


RELU6 = pointwise(
    ("relu6",),
    "min(max(0, x), 6) (1 between 0 and 6, else 0)",
    Rule(
        settings=no_settings,
        value=lambda x, s: _clip(x, 0.0, 6.0),
        formula=lambda x, total, s: f"min(max(0, {fmt(x)}), 6) = {fmt(total)}",
        torch_fn=lambda x, s: F.relu6(x),
        words=_relu6_words,
    ),
)

OPS = (
    RELU,
    LEAKY_RELU,
    RRELU,
    PRELU,
    RELU6,
)
