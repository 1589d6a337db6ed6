"""Activations made of straight pieces, beyond the ReLU family: hardtanh, hardsigmoid,
hardswish, threshold, hardshrink, softshrink. Each clips, replaces or shrinks some numbers; the
words count how many of this step's numbers each piece took.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from explorer.ops.phrases import who
from explorer.ops.pointwise import (
    Rule,
    Settings,
    constants,
    counted,
    no_settings,
    pointwise,
    value_range,
)
from explorer.steps import Step
from explorer.units.records import fmt


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


_hardtanh = constants(("min_val", -1.0), ("max_val", 1.0))


def _hardtanh_words(step: Step, out: torch.Tensor, s: Settings) -> str:
    x, lo, hi = step.inputs[0], float(s["min_val"]), float(s["max_val"])
    return (
        f"{who(step)} clips every number into the range {fmt(lo)} to {fmt(hi)}: numbers "
        f"inside pass unchanged, the rest become the nearer end. In this step "
        f"{counted(step, (x < lo) | (x > hi), 'were clipped')}; {value_range(out)}."
    )


HARDTANH = pointwise(
    ("hardtanh",),
    "hardtanh (1 inside the range, 0 outside)",
    Rule(
        settings=_hardtanh,
        value=lambda x, s: _clip(x, float(s["min_val"]), float(s["max_val"])),
        formula=lambda x, total, s: (
            f"min(max(x, {fmt(s['min_val'])}), {fmt(s['max_val'])}) = {fmt(total)}  (x = {fmt(x)})"
        ),
        torch_fn=lambda x, s: F.hardtanh(x, float(s["min_val"]), float(s["max_val"])),
        words=_hardtanh_words,
    ),
    settings=("min_val", "max_val"),
)

HARDSIGMOID = pointwise(
    ("hardsigmoid",),
    "hardsigmoid (1/6 between -3 and 3, else 0)",
    Rule(
        settings=no_settings,
        value=lambda x, s: _clip(x / 6 + 0.5, 0.0, 1.0),
        formula=lambda x, total, s: f"min(max(x/6 + 1/2, 0), 1) = {fmt(total)}  (x = {fmt(x)})",
        torch_fn=lambda x, s: F.hardsigmoid(x),
        words=lambda step, out, s: (
            f"{who(step)} is a sigmoid made of straight pieces: 0 up to x = -3, then x/6 + 1/2, "
            f"then 1 from x = 3 on. In this step "
            f"{counted(step, step.inputs[0].abs() >= 3, 'were on the flat ends')}; "
            f"{value_range(out)}."
        ),
    ),
)

HARDSWISH = pointwise(
    ("hardswish",),
    "hardswish",
    Rule(
        settings=no_settings,
        value=lambda x, s: x * _clip(x + 3, 0.0, 6.0) / 6,
        formula=lambda x, total, s: (
            f"x·min(max(x + 3, 0), 6)/6 = {fmt(x)} × {fmt(_clip(x + 3, 0.0, 6.0))}/6 = {fmt(total)}"
        ),
        torch_fn=lambda x, s: F.hardswish(x),
        words=lambda step, out, s: (
            f"{who(step)} multiplies every number by a straight-piece sigmoid of it, "
            "x·relu6(x + 3)/6: 0 up to x = -3, x itself from x = 3 on, a bend in between. "
            f"In this step {counted(step, step.inputs[0] <= -3, 'became 0')}; "
            f"{value_range(out)}."
        ),
    ),
)

_threshold = constants(("threshold", 0.0), ("value", 0.0))

THRESHOLD = pointwise(
    ("threshold", "_threshold"),
    "threshold (1 above the threshold, else 0)",
    Rule(
        settings=_threshold,
        value=lambda x, s: x if x > float(s["threshold"]) else float(s["value"]),
        formula=lambda x, total, s: (
            f"x if x > {fmt(s['threshold'])} else {fmt(s['value'])} = {fmt(total)}  (x = {fmt(x)})"
        ),
        torch_fn=lambda x, s: F.threshold(x, float(s["threshold"]), float(s["value"])),
        words=lambda step, out, s: (
            f"{who(step)} keeps every number above {fmt(s['threshold'])} and replaces the rest "
            f"with {fmt(s['value'])}. In this step "
            f"{counted(step, step.inputs[0] <= float(s['threshold']), 'were replaced')}; "
            f"{value_range(out)}."
        ),
    ),
    settings=("threshold", "value"),
)


# --- hardshrink, softshrink: small numbers become 0 ------------------------------------------

_lambd = constants(("lambd", 0.5))


def _shrink_words(soft: bool) -> Callable[[Step, torch.Tensor, Settings], str]:
    def words(step: Step, out: torch.Tensor, s: Settings) -> str:
        lam = float(s["lambd"])
        rest = f"the rest move {fmt(lam)} closer to 0" if soft else "the rest pass unchanged"
        return (
            f"{who(step)} sets every number between -{fmt(lam)} and {fmt(lam)} to 0; {rest}. "
            f"In this step {counted(step, step.inputs[0].abs() <= lam, 'became 0')}; "
            f"{value_range(out)}."
        )

    return words


def _softshrink(x: float, lam: float) -> float:
    return x - lam if x > lam else (x + lam if x < -lam else 0.0)


HARDSHRINK = pointwise(
    ("hardshrink",),
    "hardshrink (1 outside ±λ, else 0)",
    Rule(
        settings=_lambd,
        value=lambda x, s: x if abs(x) > float(s["lambd"]) else 0.0,
        formula=lambda x, total, s: (
            f"x if |x| > {fmt(s['lambd'])} else 0 = {fmt(total)}  (x = {fmt(x)})"
        ),
        torch_fn=lambda x, s: F.hardshrink(x, float(s["lambd"])),
        words=_shrink_words(soft=False),
    ),
    settings=("lambd",),
)
SOFTSHRINK = pointwise(
    ("softshrink",),
    "softshrink (1 outside ±λ, else 0)",
    Rule(
        settings=_lambd,
        value=lambda x, s: _softshrink(x, float(s["lambd"])),
        formula=lambda x, total, s: (
            f"x - λ if x > λ, x + λ if x < -λ, else 0 = {fmt(total)}  "
            f"(x = {fmt(x)}, λ = {fmt(s['lambd'])})"
        ),
        torch_fn=lambda x, s: F.softshrink(x, float(s["lambd"])),
        words=_shrink_words(soft=True),
    ),
    settings=("lambd",),
)

OPS = (HARDTANH, HARDSIGMOID, HARDSWISH, THRESHOLD, HARDSHRINK, SOFTSHRINK)
