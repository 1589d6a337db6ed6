"""Smooth activations: gelu, silu, mish, elu, selu, celu, softplus, softsign, sigmoid, tanh,
logsigmoid, tanhshrink. Curves without a corner, each one ``Rule`` (see ``ops.pointwise``).

The piecewise-straight ones (relu, relu6, hardtanh, ...) are in ``ops.relu_family``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from explorer.ops.phrases import who
from explorer.ops.pointwise import (
    Rule,
    Settings,
    constants,
    negatives,
    no_settings,
    pointwise,
    rule_only,
    sigmoid64,
    softplus64,
    squash,
    value_range,
)
from explorer.units.formulas import paren
from explorer.units.records import fmt

# SELU's two constants, as torch.nn.SELU documents them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


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


GELU = pointwise(
    ("gelu",),
    "GELU",
    Rule(
        settings=constants(("approximate", "none")),
        value=_gelu_value,
        formula=_gelu_formula,
        torch_fn=lambda x, s: F.gelu(x, approximate=s["approximate"]),
        words=lambda step, out, s: (
            f"{who(step)} multiplies every number by Φ(x), the chance that a standard bell-curve "
            "value is below x"
            + (" (the tanh approximation)" if s["approximate"] == "tanh" else "")
            + ": big positive numbers pass almost unchanged, big negative ones become almost 0, "
            f"and small negative ones dip a little below 0. In this step {negatives(step)}; "
            f"{value_range(out)}."
        ),
    ),
    settings=("approximate",),
)

SILU = pointwise(
    ("silu",),
    "SiLU",
    Rule(
        settings=no_settings,
        value=lambda x, s: x * sigmoid64(x),
        formula=lambda x, total, s: (
            f"x·σ(x) = {paren(x)} × σ({fmt(x)}) = {paren(x)} × {fmt(sigmoid64(x))} = {fmt(total)}"
        ),
        torch_fn=lambda x, s: F.silu(x),
        words=lambda step, out, s: (
            f"{who(step)} (also called swish) multiplies every number by its own sigmoid, "
            "**x·σ(x)**: positive numbers pass almost unchanged, negative ones shrink towards 0. "
            f"In this step {negatives(step)}; {value_range(out)}."
        ),
    ),
)

MISH = pointwise(
    ("mish",),
    "Mish",
    Rule(
        settings=no_settings,
        value=lambda x, s: x * math.tanh(softplus64(x)),
        formula=lambda x, total, s: (
            f"x·tanh(softplus(x)) = {paren(x)} × tanh({fmt(softplus64(x))}) = {fmt(total)}"
        ),
        torch_fn=lambda x, s: F.mish(x),
        words=lambda step, out, s: (
            f"{who(step)} multiplies every number by **tanh(softplus(x))**, a smooth step from "
            "0 to 1: positive numbers pass almost unchanged, negative ones shrink towards 0 "
            f"after a small dip. In this step {negatives(step)}; {value_range(out)}."
        ),
    ),
)


def _elu_formula(x: float, total: float, s: Settings) -> str:
    if x > 0:
        return f"x = {fmt(total)}  (x > 0)"
    return f"α(eˣ - 1) = {fmt(s['alpha'])} × (e^{paren(x)} - 1) = {fmt(total)}"


ELU = pointwise(
    ("elu",),
    "ELU",
    Rule(
        settings=constants(("alpha", 1.0)),
        value=lambda x, s: x if x > 0 else s["alpha"] * math.expm1(x),
        formula=_elu_formula,
        torch_fn=lambda x, s: F.elu(x, alpha=s["alpha"]),
        words=lambda step, out, s: (
            f"{who(step)} keeps positive numbers; a negative x becomes **α(eˣ - 1)** with "
            f"α = {fmt(s['alpha'])}, a smooth curve that never goes below -{fmt(s['alpha'])}. "
            f"In this step {negatives(step)}; {value_range(out)}."
        ),
    ),
    settings=("alpha",),
)


def _selu_formula(x: float, total: float, s: Settings) -> str:
    if x > 0:
        return f"λ·x = {fmt(SELU_SCALE)} × {fmt(x)} = {fmt(total)}"
    return (
        f"λ·α(eˣ - 1) = {fmt(SELU_SCALE)} × {fmt(SELU_ALPHA)} × (e^{paren(x)} - 1) = {fmt(total)}"
    )


SELU = pointwise(
    ("selu",),
    "SELU",
    Rule(
        settings=no_settings,
        value=lambda x, s: SELU_SCALE * (x if x > 0 else SELU_ALPHA * math.expm1(x)),
        formula=_selu_formula,
        torch_fn=lambda x, s: F.selu(x),
        words=lambda step, out, s: (
            f"{who(step)} is ELU scaled: a positive x becomes λx and a negative one "
            f"λα(eˣ - 1), with the fixed λ = {fmt(SELU_SCALE)} and α = {fmt(SELU_ALPHA)} chosen "
            "so that values keep a mean near 0 and a spread near 1 layer after layer. "
            f"In this step {negatives(step)}; {value_range(out)}."
        ),
    ),
)


def _celu_formula(x: float, total: float, s: Settings) -> str:
    if x > 0:
        return f"x = {fmt(total)}  (x > 0)"
    a = float(s["alpha"])
    return f"α(e^(x/α) - 1) = {fmt(a)} × (e^({fmt(x)}/{fmt(a)}) - 1) = {fmt(total)}"


CELU = pointwise(
    ("celu",),
    "CELU",
    Rule(
        settings=constants(("alpha", 1.0)),
        value=lambda x, s: x if x > 0 else float(s["alpha"]) * math.expm1(x / float(s["alpha"])),
        formula=_celu_formula,
        torch_fn=lambda x, s: F.celu(x, alpha=float(s["alpha"])),
        words=lambda step, out, s: (
            f"{who(step)} keeps positive numbers; a negative x becomes **α(e^(x/α) - 1)** with "
            f"α = {fmt(s['alpha'])}, which never goes below -{fmt(s['alpha'])}. "
            f"In this step {negatives(step)}; {value_range(out)}."
        ),
    ),
    settings=("alpha",),
)


def _softplus_value(x: float, s: Settings) -> float:
    beta, threshold = float(s["beta"]), float(s["threshold"])
    return x if beta * x > threshold else softplus64(beta * x) / beta


def _softplus_formula(x: float, total: float, s: Settings) -> str:
    beta, threshold = float(s["beta"]), float(s["threshold"])
    if beta * x > threshold:
        return f"x = {fmt(total)}  (βx = {fmt(beta * x)} is above {fmt(threshold)}: x itself)"
    return f"log(1 + e^(βx))/β = log(1 + e^{paren(beta * x)})/{fmt(beta)} = {fmt(total)}"


SOFTPLUS = pointwise(
    ("softplus",),
    "softplus (σ(βx))",
    Rule(
        settings=constants(("beta", 1.0), ("threshold", 20.0)),
        value=_softplus_value,
        formula=_softplus_formula,
        torch_fn=lambda x, s: F.softplus(x, float(s["beta"]), float(s["threshold"])),
        words=lambda step, out, s: (
            f"{who(step)} is a smooth ReLU, **log(1 + e^(βx))/β** with β = {fmt(s['beta'])}: "
            "always positive, close to 0 for very negative x and close to x for large x "
            f"(x itself once βx passes {fmt(s['threshold'])}). In this step {negatives(step)}; "
            f"{value_range(out)}."
        ),
    ),
    settings=("beta", "threshold"),
)

SOFTSIGN = pointwise(
    ("softsign",),
    "softsign (1/(1 + |x|)²)",
    Rule(
        no_settings,
        lambda x, s: x / (1.0 + abs(x)),
        lambda x, total, s: f"x/(1 + |x|) = {fmt(x)}/{fmt(1.0 + abs(x))} = {fmt(total)}",
        lambda x, s: F.softsign(x),
        squash("-1", "1", "x/(1 + |x|)"),
    ),
)
SIGMOID = pointwise(
    ("sigmoid",),
    "σ (σ(x)·(1 - σ(x)), at most 0.25)",
    Rule(
        no_settings,
        lambda x, s: sigmoid64(x),
        rule_only("1 / (1 + e^(-x))"),
        lambda x, s: torch.sigmoid(x),
        squash("0", "1", "σ(x) = 1 / (1 + e^(-x))"),
    ),
)
LOG_SIGMOID = pointwise(
    ("log_sigmoid", "logsigmoid"),
    "log σ (1 - σ(x))",
    Rule(
        no_settings,
        lambda x, s: -softplus64(-x),
        lambda x, total, s: f"log σ(x) = -log(1 + e^(-x)) = {fmt(total)}  (x = {fmt(x)})",
        lambda x, s: F.logsigmoid(x),
        lambda step, out, s: (
            f"{who(step)} computes **log σ(x)**, the logarithm of the sigmoid: always "
            "negative, near 0 for large x and near x itself for very negative x; "
            f"{value_range(out)}."
        ),
    ),
)
TANH = pointwise(
    ("tanh",),
    "tanh (1 - tanh²(x), at most 1)",
    Rule(
        no_settings,
        lambda x, s: math.tanh(x),
        rule_only("tanh(x)"),
        lambda x, s: torch.tanh(x),
        squash("-1", "1", "tanh(x)"),
    ),
)
TANHSHRINK = pointwise(
    ("tanhshrink",),
    "x - tanh(x) (tanh²(x))",
    Rule(
        no_settings,
        lambda x, s: x - math.tanh(x),
        lambda x, total, s: f"x - tanh(x) = {fmt(x)} - {paren(math.tanh(x))} = {fmt(total)}",
        lambda x, s: F.tanhshrink(x),
        lambda step, out, s: (
            f"{who(step)} computes **x - tanh(x)**: near 0 for small numbers (tanh(x) is "
            f"almost x there), x ∓ 1 for large ones; {value_range(out)}."
        ),
    ),
)

OPS = (
    GELU,
    SILU,
    MISH,
    ELU,
    SELU,
    CELU,
    SOFTPLUS,
    SOFTSIGN,
    SIGMOID,
    LOG_SIGMOID,
    TANH,
    TANHSHRINK,
)
