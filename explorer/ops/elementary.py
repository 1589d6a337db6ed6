"""Elementary functions of one number that are not activations: exp, log, sqrt, neg, abs.

Each is one ``Rule`` (see ``ops.pointwise``), drawn as input | output.
"""

from __future__ import annotations

import math

import torch

from explorer.ops.pointwise import Rule, applies, no_settings, pointwise, rule_only

EXP = pointwise(
    ("exp",),
    "eˣ (eˣ itself)",
    Rule(
        no_settings,
        lambda x, s: math.exp(x),
        rule_only("e^x"),
        lambda x, s: torch.exp(x),
        applies("eˣ"),
    ),
    figure="auto",
)
LOG = pointwise(
    ("log",),
    "ln x (1/x)",
    Rule(
        no_settings,
        lambda x, s: math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan),
        rule_only("ln(x)"),
        lambda x, s: torch.log(x),
        applies("ln x"),
    ),
    figure="auto",
)
SQRT = pointwise(
    ("sqrt",),
    "√x (1/(2√x))",
    Rule(
        no_settings,
        lambda x, s: math.sqrt(x) if x >= 0 else math.nan,
        rule_only("√x"),
        lambda x, s: torch.sqrt(x),
        applies("√x"),
    ),
    figure="auto",
)
NEG = pointwise(
    ("neg",),
    "-x (always -1)",
    Rule(no_settings, lambda x, s: -x, rule_only("-x"), lambda x, s: torch.neg(x), applies("-x")),
    figure="auto",
)
ABS = pointwise(
    ("abs",),
    "|x| (+1 or -1, by the sign of x)",
    Rule(
        no_settings,
        lambda x, s: abs(x),
        rule_only("|x|"),
        lambda x, s: torch.abs(x),
        applies("|x|"),
    ),
    figure="auto",
)

OPS = (EXP, LOG, SQRT, NEG, ABS)
