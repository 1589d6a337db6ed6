"""Ops that combine numbers: elementwise ``add``/``sub``/``mul``/``div`` (with tensors,
parameters or constants), ``maximum``/``minimum``; ``cat`` and ``stack``, which join tensors;
``matmul``, the matrix product.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from explorer.ops.info import Fields, OpInfo, UnitMaths
from explorer.ops.phrases import descends, output_of, per_example, step_name, who
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, dot, paren, sum_formula, unit_name
from explorer.units.reading import at, base_op, close, f64, same_place
from explorer.units.records import fmt
from explorer.units.settings import named_args

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


# --- cat and stack: tensors joined -----------------------------------------------------------


def _dim(step: Step, name: str = "tensors") -> int:
    return int(named_args(step.args, [name, "dim"]).get("dim", 0))


def _cat_words(step: Step, trace: Trace | None) -> str | None:
    shapes = " and ".join(str(s) for s in step.input_shapes)
    return (
        f"`torch.cat` joins {len(step.inputs)} tensors along dim {_dim(step)}: {shapes} → "
        f"{step.output_shape}. Nothing is computed: the values are placed side by side."
    )


def _cat_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    dim = _dim(step) % max(out.dim(), 1)
    sizes = [t.shape[dim] for t in step.inputs]
    if not step.inputs or sum(sizes) != out.shape[dim]:
        return cannot(
            step,
            "the recorded inputs do not add up to this output (a parameter "
            "may have been concatenated too)",
        )
    pos, k = index[dim], 0
    while pos >= sizes[k]:
        pos, k = pos - sizes[k], k + 1
    src = (*index[:dim], pos, *index[dim + 1 :])
    total = float(step.inputs[k][src])
    return dict(
        formula=f"{unit_name(index)} = {unit_name(src, f'x{k}')} = {fmt(total)}",
        explanation=(
            f"`cat` copies this number from input {k} (of {len(sizes)}), "
            f"position {src}, into the joined tensor."
        ),
        total=total,
        source=src[1:],
        source_sample=src[0],
        source_input=k,
    )


def _join_routing(step: Step) -> str | None:
    return (
        f"{step.op} splits the gradient back into the {len(step.inputs)} pieces it joined: "
        "each input gets exactly the part of the gradient that sits where its numbers went."
    )


def _stack_words(step: Step, trace: Trace | None) -> str | None:
    if not step.inputs:
        return None
    dim = _dim(step)
    return (
        f"`torch.stack` puts {len(step.inputs)} tensors of shape {step.input_shapes[0]} "
        f"together along a new dim {dim}: → {step.output_shape}. Nothing is computed; "
        f"position i along dim {dim} holds input i."
    )


def _stack_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    dim = _dim(step) % max(out.dim(), 1)
    if not step.inputs or out.dim() == 0 or out.shape[dim] != len(step.inputs):
        return cannot(
            step,
            "the recorded inputs do not match this output (a parameter may have been stacked too)",
        )
    k = index[dim]
    src = (*index[:dim], *index[dim + 1 :])
    total = float(step.inputs[k][src])
    source = (
        dict(source=src[1:], source_sample=src[0], source_input=k)
        if src
        else dict(source=(), source_sample=None, source_input=k)
    )
    return dict(
        formula=f"{unit_name(index)} = {unit_name(src, f'x{k}') if src else f'x{k}'} = "
        f"{fmt(total)}",
        explanation=(
            f"`stack` copies this number from input {k} (of "
            f"{len(step.inputs)}), position {src}: index {k} along the new dim "
            f"{dim} says which input."
        ),
        total=total,
        **source,
    )


CAT = OpInfo(
    names=("cat", "concat", "concatenate"),
    explain=_cat_words,
    unit=_cat_unit,
    routing=_join_routing,
)
STACK = OpInfo(names=("stack",), explain=_stack_words, unit=_stack_unit, routing=_join_routing)


# --- matmul ----------------------------------------------------------------------------------


def _factors(step: Step) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The two matrices in the order they were multiplied (a parameter is recorded last)."""
    tensors = [*step.inputs, *step.params.values()]
    out = output_of(step)
    if len(tensors) != 2 or out is None:
        return None
    for a, b in (tensors, tensors[::-1]):
        try:
            shape = torch.matmul(
                torch.empty(a.shape, device="meta"), torch.empty(b.shape, device="meta")
            ).shape
        except RuntimeError:
            continue
        if tuple(shape) == tuple(out.shape):
            return a, b
    return None


def _matmul_words(step: Step, trace: Trace | None) -> str | None:
    ab = _factors(step)
    if ab is None:
        return None
    a, b = ab
    inner = a.shape[-1]
    return (
        f"{who(step)} multiplies matrices: {tuple(a.shape)} @ {tuple(b.shape)} → "
        f"{step.output_shape}. Each output number is the dot product of a row of the first "
        f"with a column of the second: {inner} products added up."
    )


def _matmul_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    ab = _factors(step)
    if ab is None:
        return cannot(step, "the explorer cannot tell which two recorded tensors were multiplied")
    a, b = ab
    A = a if a.dim() > 1 else a.unsqueeze(0)  # (…, n, k)
    B = b if b.dim() > 1 else b.unsqueeze(-1)  # (…, k, m)
    idx = list(index)
    if b.dim() == 1:
        idx.append(0)
    if a.dim() == 1:
        idx.insert(len(idx) - 1, 0)
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A = A.broadcast_to((*batch, *A.shape[-2:]))
    B = B.broadcast_to((*batch, *B.shape[-2:]))
    *lead, i, j = idx
    row, col = f64(A[(*lead, i)]), f64(B[(*lead, slice(None), j)])
    terms, rest, n_rest, total = dot(row, col, lambda k: f"a[{i},{k}]·b[{k},{j}]", top_k)
    name = unit_name(index)
    return dict(
        formula=sum_formula(f"{name} = Σ a·b", terms, rest, n_rest, None, total),
        explanation=(
            f"{name} is row {i} of the first matrix times column {j} of the "
            f"second: {row.size} products, added."
        ),
        terms=terms,
        rest=rest,
        rest_count=n_rest,
        total=total,
    )


def _matmul_routing(step: Step) -> str | None:
    return (
        "For y = a @ b the gradient goes back as d loss/da = g @ bᵀ and d loss/db = aᵀ @ g: "
        "each factor gets the gradient weighted by the other one, as in a linear layer."
    )


MATMUL = OpInfo(
    names=("matmul", "mm", "bmm"),
    explain=_matmul_words,
    unit=_matmul_unit,
    routing=_matmul_routing,
    operators={"matmul": "matmul", "rmatmul": "matmul"},
)

OPS = (ADD, SUB, RSUB, MUL, DIV, RDIV, MAXIMUM, CAT, STACK, MATMUL)
