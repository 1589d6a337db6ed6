"""The shape every op of one number shares: a ``Rule`` (the maths as words, in float64 and as
torch computes it) turned into an ``OpInfo`` by ``pointwise``.

The activation families (``relu_family``, ``activations``) write one ``Rule`` per op; the words,
the unit maths and the gradient note all come from it, so they cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from explorer.ops.info import Fields, OpInfo
from explorer.ops.phrases import output_of, pct, who
from explorer.steps import Step, Trace
from explorer.units.formulas import unit_name
from explorer.units.reading import at, same_place
from explorer.units.records import fmt
from explorer.units.settings import named_args

Settings = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """One function of one number, as words, as float64 maths and as torch computes it."""

    settings: Callable[[Step], Settings]  # the step's own constants (slope, alpha, ...)
    value: Callable[[float, Settings], float]  # float64, to recompute a unit
    formula: Callable[[float, float, Settings], str]  # (x, result, settings) -> "… = …"
    torch_fn: Callable[[torch.Tensor, Settings], torch.Tensor]  # for the slope
    words: Callable[[Step, torch.Tensor, Settings], str]  # (step, output, settings) -> Markdown


def no_settings(step: Step) -> Settings:
    return {}


def constants(*defaults: tuple[str, Any]) -> Callable[[Step], Settings]:
    """Read the step's constants by name, in the order the function takes them after its input
    (``constants(("min_val", -1.0), ("max_val", 1.0))``), whether passed by position, by
    keyword, or kept from a layer."""
    names = ["input", *(name for name, _ in defaults)]

    def read(step: Step) -> Settings:
        given = named_args(step.args, names)
        return {name: given.get(name, default) for name, default in defaults}

    return read


def value_range(out: torch.Tensor) -> str:
    return f"here the outputs run from {fmt(float(out.min()))} to {fmt(float(out.max()))}"


def negatives(step: Step) -> str:
    x = step.inputs[0]
    neg = int((x < 0).sum())
    return f"{pct(neg / max(x.numel(), 1))} of the values ({neg:,} of {x.numel():,}) were negative"


def counted(step: Step, where: torch.Tensor, what: str) -> str:
    """``12.5% of the values (5 of 40) were …`` for a mask over the step's input."""
    n = max(where.numel(), 1)
    k = int(where.sum())
    return f"{pct(k / n)} of the values ({k:,} of {where.numel():,}) {what}"


def sigmoid64(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def softplus64(x: float) -> float:
    """log(1 + eˣ) without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def rule_only(rule: str) -> Callable[[float, float, Settings], str]:
    return lambda x, total, s: f"{rule} = {fmt(total)}  (x = {fmt(x)})"


def applies(rule: str) -> Callable[[Step, torch.Tensor, Settings], str]:
    return lambda step, out, s: (
        f"{who(step)} computes **{rule}** for every number on its own; {value_range(out)}."
    )


def squash(low: str, high: str, rule: str) -> Callable[[Step, torch.Tensor, Settings], str]:
    def words(step: Step, out: torch.Tensor, s: Settings) -> str:
        return (
            f"{who(step)} squashes every value into the range {low} to {high} with {rule}; "
            f"{value_range(out)}."
        )

    return words


def _unit(rule: Rule) -> Callable[[Step, torch.Tensor, tuple, int], Fields | None]:
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


def slopes(step: Step, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor | None:
    """d output / d input at every position: torch's own function, differentiated."""
    if not step.inputs or not step.inputs[0].is_floating_point():
        return None
    x = step.inputs[0].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(fn(x).sum(), x)
    return grad


def slope_note(step: Step, why: str, grad: torch.Tensor | None) -> str:
    here = (
        ""
        if grad is None or grad.numel() == 0
        else f" Here the slope runs from {fmt(float(grad.min()))} to {fmt(float(grad.max()))}."
    )
    return (
        f"{step.op} works on each number alone, so each gradient goes straight back to "
        f"the number it came from, multiplied by the slope of {why} there.{here}"
    )


def _routing(why: str, rule: Rule) -> Callable[[Step], str | None]:
    def routing(step: Step) -> str | None:
        grad = None
        if len(step.inputs) == 1:
            s = rule.settings(step)
            grad = slopes(step, lambda x: rule.torch_fn(x, s))
        return slope_note(step, why, grad)

    return routing


def _words(rule: Rule) -> Callable[[Step, Trace | None], str | None]:
    def words(step: Step, trace: Trace | None) -> str | None:
        out = output_of(step)
        if out is None or out.numel() == 0 or len(step.inputs) != 1:
            return None
        return rule.words(step, out, rule.settings(step))

    return words


def pointwise(
    names: tuple[str, ...],
    why: str,
    rule: Rule,
    *,
    figure: str = "elementwise",
    settings: tuple[str, ...] = (),
    modules: tuple[str, ...] = (),
) -> OpInfo:
    """The catalogue entry of a function of one number: words, unit maths and gradient note
    from ``rule``; ``why`` names the function whose slope the gradient is multiplied by."""
    return OpInfo(
        names=names,
        explain=_words(rule),
        unit=_unit(rule),
        figure=figure,
        routing=_routing(why, rule),
        settings=settings,
        modules=modules,
    )
