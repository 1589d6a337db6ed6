"""Units that are weighted sums of their inputs: linear, conv2d and batch norm.

Each output unit is Σ input·weight (+ bias), or for batch norm a normalise-scale-shift with
learned γ and β; the handlers list the numbers behind that sum.

Each handler returns the ``UnitComputation`` fields beyond op/unit/value, or None to
fall back to ``_generic``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from explorer.trace import Step
from explorer.units.formulas import _cannot, _dot, _name, _paren, _sum_formula
from explorer.units.reading import _f64, _same_place
from explorer.units.records import Fields, fmt
from explorer.units.settings import conv_settings


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
