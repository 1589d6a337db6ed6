"""Ops that combine numbers at the same position: elementwise ``add``/``sub``/``mul``/``div``
(with tensors, parameters or constants) and ``maximum``/``minimum``. Tensors joined whole are
``ops.joining`` (cat, stack); the matrix product is ``ops.matmul``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from explorer.ops.info import Fields, OpInfo, UnitMaths
from explorer.ops.phrases import descends, output_of, per_example, step_name
from explorer.steps import Step, Trace
from explorer.units.formulas import paren, unit_name
from explorer.units.reading import at, base_op, close, same_place
from explorer.units.records import fmt

# --- elementwise: two numbers at the same position -------------------------------------------


def _constants(step: Step) -> list[float]:
    return [
        float(v)
        for k, v in sorted(step.args.items())
        if k.startswith("arg") and isinstance(v, (int, float)) and not isinstance(v, bool)
    ]


def pairwise(
    symbol: str,
    f: Callable[[float, float], float],
    *,
    commutative: bool = False,
    reverse: bool = False,
    verb: str = "compares the two numbers",
) -> UnitMaths:
    """The unit maths of an elementwise op of two numbers (``a symbol b``).

    ``reverse``: torch records ``2 - x`` as rsub(x, 2), so the operands swap back.
    """

    def unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
        values = [at(t, out, index) for t in step.inputs]
        values += [at(p, out, index) for p in step.params.values()]
        values += _constants(step)
        if len(values) != 2:
            return None
        a, b = values
        if a is None or b is None:
            return None
        if reverse:
            a, b = b, a
        if base_op(step.op) in ("add", "sub"):
            b *= float(step.args.get("alpha", 1))
        value = float(out[index])
        total = f(a, b)
        # A parameter or constant as the left operand is recorded after the input: swap back.
        if not (commutative or reverse) and not close(total, value) and close(f(b, a), value):
            a, b, total = b, a, f(b, a)
        compare = symbol in (">", "<", "≥", "≤", "==", "!=")
        expr = (
            f"{symbol}({fmt(a)}, {fmt(b)})"
            if symbol in ("max", "min")
            else (f"{paren(a)} {symbol} {paren(b)}")
        )
        result = str(bool(total)) if compare else fmt(total)
        return dict(
            formula=f"{unit_name(index)} = {expr} = {result}",
            explanation=f"`{step.op}` {verb} element by element.",
            total=total,
            operands={"a": a, "b": b},
            **same_place(index, None),
        )

    return unit


def _constant_side(step: Step, f: Callable[[float, float], float]) -> tuple[float, bool] | None:
    """The constant of ``x op c`` and whether it stood on the left (``c op x``)."""
    consts = _constants(step)
    out = output_of(step)
    if len(step.inputs) != 1 or step.params or len(consts) != 1 or out is None:
        return None
    c = consts[0]
    if base_op(step.op) in ("rsub", "rdiv"):  # 2 - x, 2 / x: recorded with x first
        return c, True
    x = step.inputs[0]
    if x.numel() == 0 or tuple(x.shape) != tuple(out.shape):
        return c, False
    x0, y0 = float(x.flatten()[0]), float(out.flatten()[0])
    left = not close(f(x0, c), y0) and close(f(c, x0), y0)
    return c, left


def _example(step: Step) -> str:
    x, out = step.inputs[0], output_of(step)
    if out is None or x.numel() == 0 or tuple(x.shape) != tuple(out.shape):
        return ""
    return f" The first value, {fmt(float(x.flatten()[0]))}, became {fmt(float(out.flatten()[0]))}."


_CONSTANT_WORDS = {  # (x op c, c op x)
    "add": ("Adds {c} to every number", "Adds {c} to every number"),
    "sub": ("Subtracts {c} from every number", "Computes {c} - x for every number x"),
    "rsub": ("Subtracts {c} from every number", "Computes {c} - x for every number x"),
    "mul": ("Multiplies every number by {c}", "Multiplies every number by {c}"),
    "div": ("Divides every number by {c}", "Computes {c} / x for every number x"),
    "rdiv": ("Divides every number by {c}", "Computes {c} / x for every number x"),
}
_TWO_WORDS = {
    "add": "Adds",
    "sub": "Subtracts",
    "rsub": "Subtracts",
    "mul": "Multiplies",
    "div": "Divides",
    "rdiv": "Divides",
    "maximum": "Takes the larger of",
    "minimum": "Takes the smaller of",
}


def _arithmetic_words(
    f: Callable[[float, float], float],
) -> Callable[[Step, Trace | None], str | None]:
    def words(step: Step, trace: Trace | None) -> str | None:
        op = base_op(step.op)
        side = _constant_side(step, f)
        if side is not None and op in _CONSTANT_WORDS:
            c, left = side
            does = _CONSTANT_WORDS[op][left].format(c=f"`{fmt(c)}`")
            return (
                f"{does}: {step.input_shapes[0]} → {step.output_shape}, nothing else "
                f"changes.{_example(step)}"
            )
        shapes = [*step.input_shapes, *(tuple(p.shape) for p in step.params.values())]
        if len(shapes) != 2:
            return None
        names = [f"parameter `{n}` {tuple(p.shape)}" for n, p in step.params.items()]
        what = " and ".join([str(s) for s in step.input_shapes] + names)
        text = f"{_TWO_WORDS.get(op, 'Combines')} two tensors element by element: {what} → {step.output_shape}."
        if shapes[0] != shapes[1]:
            text += (
                " They differ in shape, so the smaller one is repeated (broadcast) along "
                "the missing dimensions to fit."
            )
        return text

    return words


def _add_words(step: Step, trace: Trace | None) -> str | None:
    if (
        len(step.inputs) == 2
        and len(step.parents) == 2
        and (step.input_shapes[0] == step.input_shapes[1])
    ):
        x_i, fx_i = sorted(step.parents)
        if trace is None or descends(trace, fx_i, x_i):
            names = (
                f" Here x is {step_name(trace, x_i)} and f(x) is {step_name(trace, fx_i)}."
                if trace is not None
                else ""
            )
            return (
                f"A **skip connection**: two earlier results are added element by element, "
                f"**x + f(x)**, where f(x) was computed from x.{names} Both are "
                f"{per_example(step.input_shapes[0])} per example, so the layers in "
                "between only have to learn a change to x."
            )
        return (
            f"Adds two tensors element by element: {step.input_shapes[0]} + "
            f"{step.input_shapes[1]} → {step.output_shape}."
        )
    return _arithmetic_words(_plus)(step, trace)


def _routing(say: dict[str, str]) -> Callable[[Step], str | None]:
    def routing(step: Step) -> str | None:
        if len(step.inputs) == 2 and "two" in say:
            return say["two"]
        return say.get("one") or say.get("two")

    return routing


def _plus(a: float, b: float) -> float:
    return a + b


def _div(a: float, b: float) -> float:
    return a / b if b else math.nan


ADD = OpInfo(
    names=("add",),
    explain=_add_words,
    unit=pairwise("+", _plus, commutative=True, verb="adds the two numbers at this position"),
    figure="add",
    operators={"radd": "add", "iadd": "add_"},
    routing=_routing(
        {
            "two": "x + f(x) copies the gradient to both of its inputs: the skip connection "
            "gives the earlier layer a direct path for it.",
            "one": "Adding copies the gradient, unchanged, to each tensor that was added; "
            "a constant gets none.",
        }
    ),
)
SUB = OpInfo(
    names=("sub",),
    explain=_arithmetic_words(lambda a, b: a - b),
    unit=pairwise("-", lambda a, b: a - b, verb="subtracts"),
    operators={"isub": "sub_"},
    routing=_routing(
        {
            "one": "a - b sends the gradient back unchanged to a and with its "
            "sign flipped to b; a constant gets none."
        }
    ),
)
RSUB = OpInfo(
    names=("rsub",),
    explain=_arithmetic_words(lambda a, b: a - b),
    unit=pairwise("-", lambda a, b: a - b, reverse=True, verb="subtracts"),
    routing=_routing({"one": "c - x sends the gradient back to x with its sign flipped."}),
)
MUL = OpInfo(
    names=("mul",),
    explain=_arithmetic_words(lambda a, b: a * b),
    unit=pairwise("×", lambda a, b: a * b, commutative=True, verb="multiplies"),
    operators={"rmul": "mul", "imul": "mul_"},
    routing=_routing(
        {
            "one": "a × b sends each input the gradient multiplied by the "
            "other factor (by the constant, for a constant)."
        }
    ),
)
DIV = OpInfo(
    names=("div",),
    explain=_arithmetic_words(_div),
    unit=pairwise("/", _div, verb="divides"),
    operators={"truediv": "div", "rtruediv": "div", "itruediv": "div_"},
    routing=_routing(
        {"one": "a / b sends a the gradient divided by b, and b the gradient times -a/b²."}
    ),
)
RDIV = OpInfo(
    names=("rdiv",),
    explain=_arithmetic_words(_div),
    unit=pairwise("/", _div, reverse=True, verb="divides"),
    routing=_routing({"one": "c / x sends x the gradient times -c/x²."}),
)


def _extreme_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    pick = max if base_op(step.op) == "maximum" else min
    symbol = "max" if pick is max else "min"
    return pairwise(symbol, pick, commutative=True)(step, out, index, top_k)


MAXIMUM = OpInfo(
    names=("maximum", "minimum"),
    explain=_arithmetic_words(max),
    unit=_extreme_unit,
    routing=_routing(
        {
            "one": "Each gradient goes back to whichever of the two "
            "numbers was chosen at that position."
        }
    ),
)


OPS = (ADD, SUB, RSUB, MUL, DIV, RDIV, MAXIMUM)
