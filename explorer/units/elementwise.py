"""Units that come from a few input numbers, not a weighted sum: every other op.

Elementwise ops (relu, dropout, unary and binary arithmetic), ops that only move numbers
(reshapes, cat), ops that pick or mix a region (max-pool, softmax, sum/mean), and the
fallbacks for ops the explorer has no formula for.

Each handler returns the ``UnitComputation`` fields beyond op/unit/value, or None to
fall back to ``_generic``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from explorer.trace import Step
from explorer.units.formulas import _cannot, _dot, _name, _paren, _sum_formula
from explorer.units.reading import _at, _base_op, _close, _f64, _same_place
from explorer.units.records import Fields, fmt
from explorer.units.settings import _named_args, pool_settings

_RESHAPES = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as",
             "reshape_as", "ravel", "contiguous", "clone", "detach"}
_UNARY: dict[str, tuple[str, Callable[[float], float]]] = {
    "sigmoid": ("1 / (1 + e^(-x))", lambda x: 1.0 / (1.0 + math.exp(-x)) if x >= 0
                else math.exp(x) / (1.0 + math.exp(x))),
    "tanh": ("tanh(x)", math.tanh),
    "exp": ("e^x", math.exp),
    "log": ("ln(x)", lambda x: math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)),
    "sqrt": ("√x", lambda x: math.sqrt(x) if x >= 0 else math.nan),
    "neg": ("-x", lambda x: -x),
    "abs": ("|x|", abs),
}
_BINARY: dict[str, tuple[str, Callable[[float, float], float]]] = {
    "add": ("+", lambda a, b: a + b), "sub": ("-", lambda a, b: a - b),
    "mul": ("×", lambda a, b: a * b), "div": ("/", lambda a, b: a / b if b else math.nan),
    "rsub": ("-", lambda a, b: a - b), "rdiv": ("/", lambda a, b: a / b if b else math.nan),
    "gt": (">", lambda a, b: float(a > b)), "lt": ("<", lambda a, b: float(a < b)),
    "ge": ("≥", lambda a, b: float(a >= b)), "le": ("≤", lambda a, b: float(a <= b)),
    "eq": ("==", lambda a, b: float(a == b)), "ne": ("!=", lambda a, b: float(a != b)),
    "maximum": ("max", max), "minimum": ("min", min),
}
_REVERSED = {"rsub", "rdiv"}  # torch records ``2 - x`` as rsub(x, 2)
_COMMUTATIVE = {"add", "mul", "eq", "ne", "maximum", "minimum"}


def _max_pool2d(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    s = pool_settings(step)
    x = step.inputs[0] if step.inputs else None
    if s is None or x is None or x.dim() != 4 or out.dim() != 4:
        return _cannot(step, "the recorded settings do not say enough about this pooling to "
                             "recompute it")
    n, ch, r, c = index
    h, wd = x.shape[2:]
    rows = tuple(r * s.stride[0] - s.padding[0] + i * s.dilation[0] for i in range(s.kernel[0]))
    cols = tuple(c * s.stride[1] - s.padding[1] + j * s.dilation[1] for j in range(s.kernel[1]))
    window = np.full(s.kernel, -np.inf)  # max_pool2d pads with -inf: padding never wins
    for i, rr in enumerate(rows):
        for j, cc in enumerate(cols):
            if 0 <= rr < h and 0 <= cc < wd:
                window[i, j] = float(x[n, ch, rr, cc])
    if np.all(window == -np.inf):
        return _cannot(step, "this pooling window lies entirely in the padding")
    best = int(np.argmax(window))  # the first maximum in row-major order, as torch picks
    wi, wj = divmod(best, s.kernel[1])
    total = float(window[wi, wj])
    name = _name(index)
    size = f"{s.kernel[0]}×{s.kernel[1]}"
    return dict(
        formula=f"{name} = max of the {size} window = {fmt(total)} (input row {rows[wi]}, "
                f"column {cols[wj]})",
        explanation=(f"{name} is the largest of the {window.size} values in its {size} window "
                     f"of channel {ch}; the other values are dropped."),
        total=total, window=window, winner=(rows[wi], cols[wj]), rows=rows, cols=cols,
        source=(ch, rows[wi], cols[wj]), source_sample=n, source_input=0,
    )


def _relu(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = _at(step.inputs[0], out, index) if step.inputs else None
    if x is None:
        return None
    slope = 0.0
    if step.op.startswith("leaky_relu"):
        slope = float(_named_args(step.args, ["input", "negative_slope"]).get(
            "negative_slope", 0.01))
    total = x if x > 0 else slope * x
    name = _name(index)
    if slope:
        formula = f"{name} = x if x > 0 else {fmt(slope)}·x = {fmt(total)}  (x = {fmt(x)})"
    else:
        formula = f"{name} = max(0, x) = max(0, {fmt(x)}) = {fmt(total)}"
    kept = "positive, so it passes through unchanged" if x > 0 else (
        "not positive, so it is replaced by 0" if not slope else "negative, so it is scaled")
    return dict(formula=formula, explanation=f"The input here was {fmt(x)}: {kept}.",
                total=total, operands={"x": x}, **_same_place(index))


def _dropout(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    mask, scale = step.extras.get("mask"), step.extras.get("scale")
    if mask is None or scale is None or not step.inputs:
        return None
    x_t = step.inputs[0][index]
    kept = bool(mask[index])
    # Recompute in the tensor's own dtype: torch's result is exactly input * mask * scale.
    total = float(x_t * kept * scale)
    x, name = float(x_t), _name(index)
    training = bool(step.extras.get("training", False))
    if not training:
        formula, why = f"{name} = x = {fmt(x)}", "Dropout is off in evaluation mode: y = x."
    elif kept:
        formula = f"{name} = x × {fmt(scale)} = {fmt(x)} × {fmt(scale)} = {fmt(total)}"
        why = (f"This unit survived, so it is scaled by 1/(1 - p) = {fmt(scale)} to keep the "
               "average the same.")
    else:
        formula, why = f"{name} = 0 (dropped)", f"This unit was dropped: its input {fmt(x)} became 0."
    return dict(formula=formula, explanation=why, total=total,
                operands={"x": x, "kept": kept, "scale": float(scale),
                          "p": float(step.extras.get("p", 0.0)), "training": training},
                **_same_place(index))


def _reshape(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = step.inputs[0] if step.inputs else None
    if x is None or x.numel() != out.numel():
        return None
    # view/reshape/flatten keep the row-major order of the elements: same flat position.
    flat = int(np.ravel_multi_index(index, tuple(out.shape))) if out.dim() else 0
    src = tuple(int(i) for i in np.unravel_index(flat, tuple(x.shape))) if x.dim() else ()
    total = float(x[src])
    where = _name(src, "x")
    other = f" of example {src[0]}" if x.dim() and src[0] != index[0] else ""
    return dict(formula=f"{_name(index)} = {where}{other} = {fmt(total)}",
                explanation=(f"`{step.op}` only moves numbers into a new shape: this one was "
                             f"{where}{other} before, {tuple(x.shape)} → {tuple(out.shape)}."),
                total=total, source=src[1:] if x.dim() else (),
                source_sample=src[0] if x.dim() else None, source_input=0)


def _cat(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    a = _named_args(step.args, ["tensors", "dim"])
    dim = int(a.get("dim", 0)) % max(out.dim(), 1)
    sizes = [t.shape[dim] for t in step.inputs]
    if not step.inputs or sum(sizes) != out.shape[dim]:
        return _cannot(step, "the recorded inputs do not add up to this output (a parameter "
                             "may have been concatenated too)")
    pos, k = index[dim], 0
    while pos >= sizes[k]:
        pos, k = pos - sizes[k], k + 1
    src = (*index[:dim], pos, *index[dim + 1:])
    total = float(step.inputs[k][src])
    return dict(formula=f"{_name(index)} = {_name(src, f'x{k}')} = {fmt(total)}",
                explanation=(f"`cat` copies this number from input {k} (of {len(sizes)}), "
                             f"position {src}, into the joined tensor."),
                total=total, source=src[1:], source_sample=src[0], source_input=k)


def _unary(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = _at(step.inputs[0], out, index) if len(step.inputs) == 1 else None
    if x is None:
        return None
    rule, f = _UNARY[_base_op(step.op)]
    total = f(x)
    return dict(formula=f"{_name(index)} = {rule} = {fmt(total)}  (x = {fmt(x)})",
                explanation=f"`{step.op}` works on each number alone: this one came from x = "
                            f"{fmt(x)} at the same position.",
                total=total, operands={"x": x}, **_same_place(index))


def _binary(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    op = _base_op(step.op)
    values = [_at(t, out, index) for t in step.inputs]
    values += [_at(p, out, index) for p in step.params.values()]
    values += [float(v) for k, v in sorted(step.args.items()) if k.startswith("arg")
               and isinstance(v, (int, float))]
    if len(values) != 2 or any(v is None for v in values):
        return None
    a, b = values
    if op in _REVERSED:
        a, b = b, a
    if op in ("add", "sub"):
        alpha = float(step.args.get("alpha", 1))
        b *= alpha
    symbol, f = _BINARY[op]
    value = float(out[index])
    total = f(a, b)
    # A parameter or constant as the left operand is recorded after the input: swap back.
    swappable = op not in _COMMUTATIVE and op not in _REVERSED
    if swappable and not _close(total, value) and _close(f(b, a), value):
        a, b, total = b, a, f(b, a)
    compare = op in ("gt", "lt", "ge", "le", "eq", "ne")
    expr = f"{symbol}({fmt(a)}, {fmt(b)})" if symbol in ("max", "min") else (
        f"{_paren(a)} {symbol} {_paren(b)}")
    result = str(bool(total)) if compare else fmt(total)
    text = {"add": "adds the two numbers at this position", "sub": "subtracts",
            "rsub": "subtracts", "mul": "multiplies", "div": "divides", "rdiv": "divides"}
    return dict(formula=f"{_name(index)} = {expr} = {result}",
                explanation=(f"`{step.op}` {text.get(op, 'compares the two numbers')} "
                             "element by element."),
                total=total, operands={"a": a, "b": b},
                **_same_place(index, None))


def _softmax(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    a = _named_args(step.args, ["input", "dim"])
    if not step.inputs or a.get("dim") is None or out.dim() == 0:
        return _cannot(step, f"`{step.op}` mixes a whole row of inputs, and this step did not "
                             "record along which dimension")
    dim = int(a["dim"]) % out.dim()
    row = _f64(step.inputs[0][(*index[:dim], slice(None), *index[dim + 1:])])
    x, m = float(row[index[dim]]), float(row.max())
    sum_exp = float(np.exp(row - m).sum())
    log = _base_op(step.op) == "log_softmax"
    total = (x - m - math.log(sum_exp)) if log else math.exp(x - m) / sum_exp
    name = _name(index)
    if log:
        formula = f"{name} = x - log Σ e^x = {fmt(x)} - {_paren(m + math.log(sum_exp))}"
    elif m < 300:
        formula = f"{name} = e^x / Σ e^x = e^{_paren(x)} / {fmt(sum_exp * math.exp(m))}"
    else:  # e^x itself would overflow: show the shifted form torch also uses
        formula = f"{name} = e^(x - max) / Σ e^(x - max) = e^{_paren(x - m)} / {fmt(sum_exp)}"
    formula += f" = {fmt(total)}"
    return dict(formula=formula,
                explanation=(f"`{step.op}` compares this number with all {row.size} numbers "
                             f"along dim {dim}: bigger inputs get a bigger share."),
                total=total, operands={"x": x, "max": m, "sum_exp_shifted": sum_exp})


def _reduce(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = step.inputs[0] if len(step.inputs) == 1 else None
    if x is None:
        return None
    a = _named_args(step.args, ["input", "dim", "keepdim"])
    dims = a.get("dim")
    dims = tuple(range(x.dim())) if dims is None else (dims,) if isinstance(dims, int) else dims
    dims = {d % x.dim() for d in dims} if x.dim() else set()
    keep = bool(a.get("keepdim", False))
    picks, rest_of_index = [], list(index)
    for d in range(x.dim()):
        if d in dims:
            picks.append(slice(None))
            if keep:
                rest_of_index.pop(0)
        else:
            picks.append(rest_of_index.pop(0) if rest_of_index else slice(None))
    if rest_of_index:
        return None  # the recorded dims do not explain the output's shape
    region = x[tuple(picks)]
    vals = _f64(region).ravel()
    is_mean = _base_op(step.op) == "mean"
    w = 1.0 / max(vals.size, 1) if is_mean else 1.0

    def label(flat: int) -> str:
        inner = iter(np.unravel_index(flat, tuple(region.shape)) if region.dim() else ())
        full = [int(next(inner)) if isinstance(p, slice) else p for p in picks]
        return "x[" + ",".join(str(i) for i in full) + "]"

    terms, rest, n_rest, total = _dot(vals, np.full(vals.size, w), label, top_k)
    head = f"{_name(index)} = " + (f"Σ (x / {vals.size})" if is_mean else "Σ x")
    return dict(formula=_sum_formula(head, terms, rest, n_rest, None, total),
                explanation=(f"`{step.op}` combines {vals.size} input numbers into this one" +
                             (" by averaging them." if is_mean else " by adding them.")),
                terms=terms, rest=rest, rest_count=n_rest, total=total)


def _generic(step: Step, out: torch.Tensor, index: tuple) -> Fields:
    same = [t for t in step.inputs if tuple(t.shape) == tuple(out.shape)]
    if same and len(same) == len(step.inputs):
        values = {f"input {k}": float(t[index]) for k, t in enumerate(step.inputs)}
        shown = ", ".join(f"{fmt(v)}" for v in values.values())
        return dict(formula=f"{_name(index)} = {step.op}({shown}) = {fmt(float(out[index]))}",
                    explanation=(f"The explorer has no formula for `{step.op}`; the input "
                                 "value(s) at the same position are shown."),
                    operands=values, **_same_place(index, None))
    shapes = ", ".join(str(s) for s in step.input_shapes) or "no tensor inputs"
    return _cannot(step, f"`{step.op}` changes the shape ({shapes} → {tuple(out.shape)}), so an "
                         "output position does not line up with one input position: the op "
                         "mixes or rearranges many input values, and the explorer has no "
                         "per-unit formula for it")
