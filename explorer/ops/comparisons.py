"""Comparisons: ``gt``, ``lt``, ``ge``, ``le``, ``eq``, ``ne``: yes/no answers, often what an
``if`` in forward() reads to choose which code runs next.
"""

from __future__ import annotations

from collections.abc import Callable

from explorer.ops.combining import pairwise
from explorer.ops.info import OpInfo
from explorer.ops.phrases import output_of, pct
from explorer.steps import Step, Trace
from explorer.units.reading import base_op
from explorer.units.records import fmt

_SYMBOLS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gt": (">", lambda a, b: a > b),
    "lt": ("<", lambda a, b: a < b),
    "ge": ("≥", lambda a, b: a >= b),
    "le": ("≤", lambda a, b: a <= b),
    "eq": ("==", lambda a, b: a == b),
    "ne": ("!=", lambda a, b: a != b),
}


def _words(step: Step, trace: Trace | None) -> str | None:
    out = output_of(step)
    if out is None:
        return None
    symbol = _SYMBOLS[base_op(step.op)][0]
    if out.dim() == 0:
        left = fmt(float(step.inputs[0])) if step.inputs and step.inputs[0].dim() == 0 else "a"
        rights = [float(p) for p in step.params.values() if p.dim() == 0]
        rights += [
            float(v)
            for k, v in step.args.items()
            if k.startswith("arg") and isinstance(v, (int, float))
        ]
        if len(step.inputs) == 2 and step.inputs[1].dim() == 0:
            rights.insert(0, float(step.inputs[1]))
        right = fmt(rights[0]) if rights else "b"
        return (
            f"Compares: is {left} {symbol} {right}? The answer is **{bool(out)}**. A yes/no "
            "value like this is what an `if` in forward() reads to choose which code runs "
            "next, so the steps after it depend on this answer."
        )
    true = int(out.bool().sum())
    return (
        f"Compares element by element ({symbol}): {pct(true / max(out.numel(), 1))} of the "
        f"{out.numel():,} results are True."
    )


def _routing(step: Step) -> str | None:
    return (
        "A comparison has no slope: no gradient flows back through it. It can only choose "
        "which code runs next."
    )


def _comparison(op: str) -> OpInfo:
    symbol, f = _SYMBOLS[op]
    return OpInfo(
        names=(op,),
        explain=_words,
        routing=_routing,
        unit=pairwise(symbol, lambda a, b: float(f(a, b)), commutative=op in ("eq", "ne")),
    )


OPS = tuple(_comparison(op) for op in _SYMBOLS)
