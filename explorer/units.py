"""Click a unit in an output heatmap, see its computation: ``unit_computation(step, unit)``.

Every number is read from the step torch recorded (its inputs, weights and extras) and the
unit's value is recomputed from them in float64, so a view can show the sum next to the value
torch produced and the two can be checked against each other.

``unit`` indexes the step's output without the batch dimension: ``(c, row, col)`` for a
(N, C, H, W) output, ``(j,)`` for (N, F); ``()`` for a 0-d output such as ``x.mean()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from explorer.trace import Step

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


class Term(NamedTuple):
    """One product in a weighted sum: ``input * weight``."""

    label: str  # e.g. "x[17]·W[5,17]" or "x[3,4,5]·w[7,3,0,1]"
    input: float
    weight: float
    product: float


@dataclass(frozen=True, eq=False)  # eq=False: the numpy fields have no single truth value
class UnitComputation:
    """How one output unit of one step was computed, with every number filled in."""

    op: str
    unit: tuple[int, ...]
    sample: int
    value: float  # what torch produced (read from step.output)
    formula: str  # one line, e.g. "y[5] = Σ x·w + b = 0.12 + … = 1.734"
    explanation: str  # a plain sentence; says so when the explorer cannot recompute the unit
    terms: tuple[Term, ...] = ()  # the top_k largest |products|, largest first
    rest: float = 0.0  # sum of the products not in ``terms``, so terms + rest + bias = total
    rest_count: int = 0
    bias: float | None = None  # linear/conv2d bias of this unit (batch norm's β is in operands)
    total: float | None = None  # recomputed in float64 from every term; None if not recomputable
    operands: dict[str, Any] = field(default_factory=dict)  # named scalars (relu x, bn mean...)
    patch: np.ndarray | None = None  # conv2d: (C_in, kh, kw) input patch, padding as zeros
    kernel: np.ndarray | None = None  # conv2d: (C_in, kh, kw) weights of this output channel
    channel_sums: np.ndarray | None = None  # conv2d: (C_in,) Σ patch·kernel per input channel
    channels: tuple[int, ...] = ()  # conv2d: input channels of the patch (its group's, if any)
    rows: tuple[int, ...] = ()  # conv2d/pool: input rows under the kernel (<0 or ≥H: padding)
    cols: tuple[int, ...] = ()
    window: np.ndarray | None = None  # max_pool2d: (kh, kw) values, padding as -inf
    winner: tuple[int, int] | None = None  # max_pool2d: (row, col) of the maximum in the input
    source: tuple[int, ...] | None = None  # where the value came from in the input (no batch)
    source_sample: int | None = None  # the batch position of ``source``
    source_input: int | None = None  # which of step.inputs holds ``source`` (cat)

    @property
    def agrees(self) -> bool | None:
        """Whether the recomputed total matches torch's value (None if not recomputed)."""
        if self.total is None:
            return None
        return bool(np.isclose(self.total, self.value, rtol=1e-4, atol=1e-5, equal_nan=True))


@dataclass(frozen=True)
class ConvSettings:
    """The geometry of one conv2d call, padding resolved to numbers."""

    stride: tuple[int, int]
    padding: tuple[int, int]  # rows and columns added before the image (top, left)
    dilation: tuple[int, int]
    groups: int
    padding_end: tuple[int, int]  # after the image (bottom, right); differs only for 'same'


@dataclass(frozen=True)
class PoolSettings:
    """The geometry of one max_pool2d call."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


def unit_computation(step: Step, unit: tuple[int, ...], *, sample: int = 0,
                     top_k: int = 8) -> UnitComputation:
    """Break one output unit of ``step`` into the numbers that produced it.

    Args:
        step: a step from ``explorer.trace``.
        unit: index into the step's output without the batch dimension, e.g. ``(c, row, col)``
            for a (N, C, H, W) output or ``(j,)`` for (N, F); ``()`` for a 0-d output.
        sample: which example of the batch.
        top_k: how many of the largest products to list in ``terms`` (the rest are summed).

    Returns:
        A ``UnitComputation``; ``total`` is None (and ``explanation`` says why) when the op
        is one the explorer cannot recompute.

    Raises:
        ValueError: the unit or sample is outside the output.
    """
    out = _output_tensor(step)
    index = _full_index(out, tuple(int(i) for i in unit), sample)
    base = dict(op=step.op, unit=tuple(int(i) for i in unit), sample=sample,
                value=float(out[index]))
    op = _base_op(step.op)
    handler = _HANDLERS.get(op)
    if handler is None:
        if op in _RESHAPES:
            handler = _reshape
        elif op in _UNARY:
            handler = _unary
        elif op in _BINARY:
            handler = _binary
    fields = handler(step, out, index, max(int(top_k), 0)) if handler else None
    if fields is None:
        fields = _generic(step, out, index)
    return UnitComputation(**base, **fields)


def conv_settings(step: Step) -> ConvSettings | None:
    """Stride, padding, dilation and groups of a conv2d step (module or F.conv2d), if recorded."""
    a = step.args
    if step.kind != "module":
        a = _named_args(a, ["input", "weight", "bias", "stride", "padding", "dilation", "groups"])
        a = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, **a}
    if not all(k in a for k in ("stride", "padding", "dilation", "groups")):
        return None
    weight = step.extras.get("weight")
    if weight is None or weight.dim() != 4:
        return None
    dilation = _pair(a["dilation"])
    padding = a["padding"]
    if padding == "valid":
        before = end = (0, 0)
    elif padding == "same":
        # torch puts the odd extra row/column of 'same' padding after the image, not before
        totals = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:], strict=True)]
        before = (totals[0] // 2, totals[1] // 2)
        end = (totals[0] - before[0], totals[1] - before[1])
    else:
        before = end = _pair(padding)
    return ConvSettings(_pair(a["stride"]), before, dilation, int(a["groups"]), end)


def pool_settings(step: Step) -> PoolSettings | None:
    """Kernel, stride, padding and dilation of a max_pool2d step (module or F.max_pool2d)."""
    a = step.args
    if step.kind != "module":
        a = _named_args(a, ["input", "kernel_size", "stride", "padding", "dilation"])
        a = {"padding": 0, "dilation": 1, **a}
    kernel = a.get("kernel_size", step.extras.get("kernel_size"))
    if kernel is None:
        return None
    stride = a.get("stride") or step.extras.get("stride") or kernel
    return PoolSettings(_pair(kernel), _pair(stride), _pair(a.get("padding", 0)),
                        _pair(a.get("dilation", 1)))


def fmt(v: float) -> str:
    """A number the way a student reads it: 4 significant digits."""
    if isinstance(v, bool):
        return str(v)
    if v == 0:
        return "0"
    return f"{v:.4g}"


# --- one handler per op: each returns the UnitComputation fields beyond op/unit/value ----------

Fields = dict[str, Any]


def _linear(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    w, b = step.extras.get("weight"), step.extras.get("bias")
    if w is None or not step.inputs or out.dim() == 0:
        return None
    j = index[-1]
    x = _f64(step.inputs[0][index[:-1]])  # (in,)
    ws = _f64(w[j])
    bias = None if b is None else float(b[j])
    terms, rest, n_rest, total = _dot(x, ws, lambda i: f"x[{i}]·W[{j},{i}]", top_k)
    total += bias or 0.0
    name = _name(index)
    return dict(
        formula=_sum_formula(f"{name} = Σ x·w" + (" + b" if bias is not None else ""),
                             terms, rest, n_rest, bias, total),
        explanation=(f"{name} multiplies each of the {x.size} inputs by its weight in row {j} "
                     f"of W, adds the {x.size} products" +
                     (" and the bias." if bias is not None else ".")),
        terms=terms, rest=rest, rest_count=n_rest, bias=bias, total=total,
    )


def _conv2d(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    s = conv_settings(step)
    w, b = step.extras.get("weight"), step.extras.get("bias")
    if s is None or w is None or not step.inputs or step.inputs[0].dim() != 4 or out.dim() != 4:
        return _cannot(step, "the recorded settings do not say enough about this convolution "
                             "(stride, padding, dilation, groups or weight) to recompute it")
    x = step.inputs[0]
    (kh, kw), (h, wd) = w.shape[2:], x.shape[2:]
    expected = [(size + p + pe - d * (k - 1) - 1) // st + 1 for size, p, pe, d, k, st in
                zip((h, wd), s.padding, s.padding_end, s.dilation, (kh, kw), s.stride,
                    strict=True)]
    if expected != list(out.shape[2:]) or x.shape[1] != w.shape[1] * s.groups:
        return _cannot(step, "the recorded stride/padding/dilation do not reproduce this "
                             "output's shape, so the explorer will not guess how it was computed")
    n, co, r, c = index
    per_group = w.shape[0] // s.groups
    g = co // per_group
    channels = tuple(range(g * w.shape[1], (g + 1) * w.shape[1]))
    rows = tuple(r * s.stride[0] - s.padding[0] + i * s.dilation[0] for i in range(kh))
    cols = tuple(c * s.stride[1] - s.padding[1] + j * s.dilation[1] for j in range(kw))
    patch = np.zeros((len(channels), kh, kw))
    inside_r = [i for i, rr in enumerate(rows) if 0 <= rr < h]
    inside_c = [j for j, cc in enumerate(cols) if 0 <= cc < wd]
    if inside_r and inside_c:
        sub = x[n, channels[0]:channels[-1] + 1][:, [rows[i] for i in inside_r]]
        patch[np.ix_(range(len(channels)), inside_r, inside_c)] = _f64(
            sub[:, :, [cols[j] for j in inside_c]])
    kernel = _f64(w[co])
    bias = None if b is None else float(b[co])

    def label(flat: int) -> str:
        ci, i, j = np.unravel_index(flat, patch.shape)
        pad = "" if 0 <= rows[i] < h and 0 <= cols[j] < wd else " (padding)"
        return f"x[{channels[ci]},{rows[i]},{cols[j]}]{pad}·w[{co},{ci},{i},{j}]"

    terms, rest, n_rest, total = _dot(patch.ravel(), kernel.ravel(), label, top_k)
    total += bias or 0.0
    name = _name(index)
    return dict(
        formula=_sum_formula(f"{name} = Σ x·w" + (" + b" if bias is not None else ""),
                             terms, rest, n_rest, bias, total),
        explanation=(f"{name} lays output channel {co}'s {len(channels)}×{kh}×{kw} kernel over "
                     f"the input patch at rows {rows[0]}..{rows[-1]}, columns "
                     f"{cols[0]}..{cols[-1]}, multiplies the overlapping numbers and adds all "
                     f"{patch.size} products" + (" and the bias." if bias is not None else ".")),
        terms=terms, rest=rest, rest_count=n_rest, bias=bias, total=total, patch=patch,
        kernel=kernel, channel_sums=(patch * kernel).sum(axis=(1, 2)), channels=channels,
        rows=rows, cols=cols,
    )


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


def _batch_norm(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    stats = step.extras.get("statistics")
    if stats is None or not step.inputs or out.dim() < 2:
        return None
    ch = index[1]
    mean_t = step.extras.get(f"{stats}_mean")
    var_t = step.extras.get(f"{stats}_var")
    gamma, beta = _affine(step)
    if mean_t is None or var_t is None or gamma is False:
        return _cannot(step, "the explorer cannot tell which recorded tensors are this batch "
                             "norm's statistics or γ and β")
    x = float(step.inputs[0][index])
    mean, var, eps = float(mean_t[ch]), float(var_t[ch]), float(step.extras.get("eps", 1e-5))
    g = 1.0 if gamma is None else float(gamma[ch])
    bt = 0.0 if beta is None else float(beta[ch])
    total = (x - mean) / math.sqrt(var + eps) * g + bt
    name = _name(index)
    which = ("this batch's mean and variance" if stats == "batch" else
             "the running mean and variance saved during training")
    return dict(
        formula=(f"{name} = (x - mean) / √(var + eps) · γ + β = ({fmt(x)} - {_paren(mean)}) / "
                 f"√({fmt(var)} + {fmt(eps)}) · {_paren(g)} + {_paren(bt)} = {fmt(total)}"),
        explanation=f"Channel {ch} is normalised with {which}, then scaled by γ and shifted by β.",
        total=total,
        operands={"x": x, "mean": mean, "var": var, "eps": eps, "gamma": g, "beta": bt,
                  "statistics": stats},
        **_same_place(index),
    )


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


def _cannot(step: Step, why: str) -> Fields:
    return dict(formula=f"{step.op}: not recomputed", explanation=why[0].upper() + why[1:] + ".")


_HANDLERS: dict[str, Callable[[Step, torch.Tensor, tuple, int], Fields | None]] = {
    "linear": _linear, "conv2d": _conv2d, "max_pool2d": _max_pool2d,
    "max_pool2d_with_indices": _max_pool2d, "relu": _relu, "leaky_relu": _relu,
    "dropout": _dropout, "dropout1d": _dropout, "dropout2d": _dropout, "dropout3d": _dropout,
    "batch_norm": _batch_norm, "cat": _cat, "concat": _cat, "concatenate": _cat,
    "softmax": _softmax, "log_softmax": _softmax, "mean": _reduce, "sum": _reduce,
}


# --- helpers ---------------------------------------------------------------------------------


def _output_tensor(step: Step) -> torch.Tensor:
    out = step.output
    if isinstance(out, (tuple, list)):
        out = next((o for o in out if isinstance(o, torch.Tensor)), None)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"step {step.index} ({step.op}) has no tensor output to click on")
    return out


def _full_index(out: torch.Tensor, unit: tuple[int, ...], sample: int) -> tuple[int, ...]:
    """The index into the whole output (batch first), checked against its shape."""
    if out.dim() == 0:
        if unit:
            raise ValueError(f"this output is a single number; use unit=(), not {unit}")
        return ()
    shape = tuple(out.shape[1:])
    if len(unit) != len(shape):
        raise ValueError(f"unit {unit} has {len(unit)} indices but the output has shape "
                         f"{shape} per example ({len(shape)} indices needed)")
    if not 0 <= sample < out.shape[0]:
        raise ValueError(f"sample {sample} is out of range: the batch has {out.shape[0]} "
                         "example(s)")
    for axis, (i, n) in enumerate(zip(unit, shape, strict=True)):
        if not 0 <= i < n:
            raise ValueError(f"unit {unit} is out of range: index {i} on axis {axis} must be "
                             f"in 0..{n - 1} for an output of shape {shape} per example")
    return (sample, *unit)


def _dot(xs: np.ndarray, ws: np.ndarray, label: Callable[[int], str],
         top_k: int) -> tuple[tuple[Term, ...], float, int, float]:
    """The top_k largest |x·w| as terms, the sum of the rest, their count and the full sum."""
    prods = xs * ws
    order = np.argsort(-np.abs(prods), kind="stable")[:top_k]
    terms = tuple(Term(label(int(i)), float(xs[i]), float(ws[i]), float(prods[i]))
                  for i in order)
    total = float(prods.sum())
    shown = float(prods[order].sum()) if len(order) else 0.0
    return terms, total - shown, prods.size - len(order), total


def _sum_formula(head: str, terms: tuple[Term, ...], rest: float, n_rest: int,
                 bias: float | None, total: float) -> str:
    parts = [t.product for t in terms]
    text = ""
    for k, v in enumerate(parts):
        text += fmt(v) if k == 0 else (f" - {fmt(-v)}" if v < 0 else f" + {fmt(v)}")
    if n_rest:
        text += f"{' + ' if text else ''}… ({n_rest} more: {fmt(rest)})"
    if bias is not None:
        text += f" - {fmt(-bias)}" if bias < 0 else f" + {fmt(bias)}"
    return f"{head} = {text or '0'} = {fmt(total)}"


def _name(index: tuple, var: str = "y") -> str:
    """``y[c,r,col]`` for a full index (batch first), the batch position left out."""
    rest = index[1:] if index else ()
    return f"{var}[" + ",".join(str(int(i)) for i in rest) + "]" if rest else var


def _same_place(index: tuple, source_input: int | None = 0) -> Fields:
    """Source fields for an elementwise op: the unit came from the same position."""
    return dict(source=tuple(index[1:]), source_sample=index[0] if index else None,
                source_input=source_input)


def _paren(v: float) -> str:
    return f"({fmt(v)})" if v < 0 else fmt(v)


def _at(t: torch.Tensor, out: torch.Tensor, index: tuple) -> float | None:
    """The value of ``t`` broadcast to the output's shape, at ``index``."""
    try:
        return float(torch.broadcast_to(t, out.shape)[index])
    except RuntimeError:
        return None


def _affine(step: Step) -> tuple[Any, Any]:
    """γ and β of a batch norm step: (None, None) if it has none, False if ambiguous."""
    if step.kind == "module":
        prefix = f"{step.module}." if step.module else ""
        return step.params.get(f"{prefix}weight"), step.params.get(f"{prefix}bias")
    gammas = [p for n, p in step.params.items() if n.endswith("weight")]
    betas = [p for n, p in step.params.items() if n.endswith("bias")]
    if len(gammas) > 1 or len(betas) > 1 or len(step.inputs) > 1:
        return False, False
    return (gammas[0] if gammas else None), (betas[0] if betas else None)


def _named_args(args: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Turn the recorder's positional ``argN`` keys into parameter names."""
    out = {}
    for k, v in args.items():
        if k.startswith("arg") and k[3:].isdigit():
            i = int(k[3:])
            if i < len(names):
                out[names[i]] = v
        else:
            out[k] = v
    return out


def _base_op(op: str) -> str:
    """``add_`` -> ``add``: an in-place op computes the same numbers."""
    return op[:-1] if op.endswith("_") and not op.startswith("_") else op


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy()


def _close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True))
