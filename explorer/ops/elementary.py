"""Elementary functions of one number that are not activations: exp, log, sqrt, neg, abs.

Each is one ``Rule`` (see ``ops.pointwise``), drawn as input | output.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from explorer.ops.info import OpInfo
from explorer.ops.pointwise import Rule, applies, no_settings, pointwise, rule_only


def _elementary(
    name: str,
    slope: str,
    value: Callable[[float], float],
    torch_fn: Callable[[torch.Tensor], torch.Tensor],
    formula: str,
    word: str,
) -> OpInfo:
    """An entry with no constants of its own: ``formula`` as the unit's maths writes it,
    ``word`` as the step's sentence does ("e^x" and "eˣ")."""
    return pointwise(
        (name,),
        slope,
        Rule(
            no_settings,
            lambda x, s: value(x),
            rule_only(formula),
            lambda x, s: torch_fn(x),
            applies(word),
        ),
        figure="auto",
    )


def _log(x: float) -> float:
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


EXP = _elementary("exp", "eˣ (eˣ itself)", math.exp, torch.exp, "e^x", "eˣ")
LOG = _elementary("log", "ln x (1/x)", _log, torch.log, "ln(x)", "ln x")
SQRT = _elementary(
    "sqrt", "√x (1/(2√x))", lambda x: math.sqrt(x) if x >= 0 else math.nan, torch.sqrt, "√x", "√x"
)
NEG = _elementary("neg", "-x (always -1)", lambda x: -x, torch.neg, "-x", "-x")
ABS = _elementary("abs", "|x| (+1 or -1, by the sign of x)", abs, torch.abs, "|x|", "|x|")

OPS = (EXP, LOG, SQRT, NEG, ABS)
