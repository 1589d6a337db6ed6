"""Writing a unit's computation as text: names, signed numbers and weighted sums.

Shared by the handlers so every formula reads the same way: ``y[c,r,col]`` for a unit,
negative numbers in parentheses, the largest products of a sum first and the rest summed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explorer.steps import Step
from explorer.units.records import Fields, Term, fmt


def dot(
    xs: np.ndarray, ws: np.ndarray, label: Callable[[int], str], top_k: int
) -> tuple[tuple[Term, ...], float, int, float]:
    """The top_k largest |x·w| as terms, the sum of the rest, their count and the full sum."""
    prods = xs * ws
    order = np.argsort(-np.abs(prods), kind="stable")[:top_k]
    terms = tuple(Term(label(int(i)), float(xs[i]), float(ws[i]), float(prods[i])) for i in order)
    total = float(prods.sum())
    shown = float(prods[order].sum()) if len(order) else 0.0
    return terms, total - shown, prods.size - len(order), total


def sum_formula(
    head: str, terms: tuple[Term, ...], rest: float, n_rest: int, bias: float | None, total: float
) -> str:
    parts = [t.product for t in terms]
    text = ""
    for k, v in enumerate(parts):
        text += fmt(v) if k == 0 else (f" - {fmt(-v)}" if v < 0 else f" + {fmt(v)}")
    if n_rest:
        text += f"{' + ' if text else ''}… ({n_rest} more: {fmt(rest)})"
    if bias is not None:
        text += f" - {fmt(-bias)}" if bias < 0 else f" + {fmt(bias)}"
    return f"{head} = {text or '0'} = {fmt(total)}"


def unit_name(index: tuple, var: str = "y") -> str:
    """``y[c,r,col]`` for a full index (batch first), the batch position left out."""
    rest = index[1:] if index else ()
    return f"{var}[" + ",".join(str(int(i)) for i in rest) + "]" if rest else var


def paren(v: float) -> str:
    return f"({fmt(v)})" if v < 0 else fmt(v)


def cannot(step: Step, why: str) -> Fields:
    return dict(formula=f"{step.op}: not recomputed", explanation=why[0].upper() + why[1:] + ".")
