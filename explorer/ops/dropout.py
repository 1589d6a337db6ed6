"""The dropout family: ``dropout``, ``dropout1d``, ``dropout2d``, ``dropout3d``.

In training each value (or, for dropout1d/2d/3d, each whole channel) is zeroed with probability
p and the survivors are scaled by 1/(1 - p); in evaluation the op is the identity.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.ops.info import Fields, OpInfo, Records, bind
from explorer.ops.phrases import pct, who
from explorer.steps import Step, Trace
from explorer.units.formulas import unit_name
from explorer.units.reading import base_op, same_place
from explorer.units.records import fmt

_FUNCS = frozenset({F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.dropout})

# --- what the tracer records -----------------------------------------------------------------


def _before(module: nn.Module) -> dict[str, Any]:
    # The mask is replayed afterwards from the generator's state as the layer found it.
    return {"rng": torch.get_rng_state()} if module.training else {}


def _module_mask(step: Step, module: nn.Module, notes: dict[str, Any]) -> None:
    p = cast(float, module.p)  # a plain attribute, which nn.Module's typing cannot see
    _mask(step, p, module.training, notes.get("rng"), module.forward)


def _function_mask(step: Step, func, args: tuple, kwargs: dict[str, Any], rng) -> None:
    if func not in _FUNCS:
        return
    b = bind(["input", "p", "training", "inplace"], args, kwargs)
    p, training = b.get("p", 0.5), b.get("training", func is not torch.dropout)
    _mask(step, p, training, rng, lambda t: func(t, p, training))


def _mask(step: Step, p: float, training: bool, rng: torch.Tensor | None, call) -> None:
    x = step.inputs[0]
    step.extras.update(p=float(p), training=bool(training))
    if not training or p == 0 or rng is None:
        step.extras.update(mask=torch.ones_like(x, dtype=torch.bool), scale=1.0)
        return
    # Replay the same random draw on a tensor of ones: the mask is exactly where it survives,
    # even where the input itself was zero. Then put the generator back where the pass left it.
    after = torch.get_rng_state()
    torch.set_rng_state(rng)
    kept = call(torch.ones_like(x))
    torch.set_rng_state(after)
    step.extras.update(mask=kept != 0, scale=1.0 / (1.0 - p) if p < 1 else 0.0)


# --- words, unit, routing --------------------------------------------------------------------


def _what(step: Step) -> str:
    """ "value", or "channel" for the dropouts that zero whole feature maps."""
    return "value" if base_op(step.op) == "dropout" else "whole channel"


def _words(step: Step, trace: Trace | None) -> str | None:
    p, mask = step.extras.get("p"), step.extras.get("mask")
    if p is None or mask is None:
        return None
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    what = _what(step)
    whole = "" if what == "value" else " (every number of one map at once)"
    if not step.extras.get("training", False):
        return (
            f"{who(step)} does nothing in evaluation mode: the output is exactly the input. "
            f"In training it would zero each {what}{whole} with probability p = {fmt(p)} "
            f"and scale the survivors by 1/(1 - {fmt(p)}) = {scale:.3f}."
        )
    dropped = int((~mask).sum())
    share = pct(dropped / mask.numel()) + ("" if what == "value" else " of the values")
    return (
        f"{who(step)} is in training mode: it zeroes each {what}{whole} with probability "
        f"p = {fmt(p)}; this time it dropped {share} ({dropped:,} of {mask.numel():,}). "
        f"The survivors are multiplied by 1/(1 - {fmt(p)}) = {scale:.3f}, so the average "
        "size of the numbers stays the same."
    )


def _unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    mask, scale = step.extras.get("mask"), step.extras.get("scale")
    if mask is None or scale is None or not step.inputs:
        return None
    x_t = step.inputs[0][index]
    kept = bool(mask[index])
    # Recompute in the tensor's own dtype: torch's result is exactly input * mask * scale.
    total = float(x_t * kept * scale)
    x, name = float(x_t), unit_name(index)
    training = bool(step.extras.get("training", False))
    if not training:
        formula, why = f"{name} = x = {fmt(x)}", "Dropout is off in evaluation mode: y = x."
    elif kept:
        formula = f"{name} = x × {fmt(scale)} = {fmt(x)} × {fmt(scale)} = {fmt(total)}"
        why = (
            f"This unit survived, so it is scaled by 1/(1 - p) = {fmt(scale)} to keep the "
            "average the same."
        )
    else:
        formula, why = (
            f"{name} = 0 (dropped)",
            f"This unit was dropped: its input {fmt(x)} became 0.",
        )
        if _what(step) != "value":
            why = f"This unit's whole channel was dropped: its input {fmt(x)} became 0."
    return dict(
        formula=formula,
        explanation=why,
        total=total,
        operands={
            "x": x,
            "kept": kept,
            "scale": float(scale),
            "p": float(step.extras.get("p", 0.0)),
            "training": training,
        },
        **same_place(index),
    )


def _routing(step: Step) -> str | None:
    text = (
        "Dropout in train mode multiplies the gradient by the same mask and 1/(1-p) it "
        "used going forward; in eval mode it passes the gradient through unchanged."
    )
    mask = step.extras.get("mask")
    if step.extras.get("training") and mask is not None and mask.numel():
        text += (
            f" This time {pct(float(mask.float().mean()))} of the units were kept and "
            f"pass their gradient on × {step.extras.get('scale', 1.0):.3f}; the rest get 0."
        )
    return text


DROPOUT = OpInfo(
    names=("dropout", "dropout1d", "dropout2d", "dropout3d"),
    explain=_words,
    unit=_unit,
    figure="dropout",
    routing=_routing,
    records=Records(
        module=_module_mask, function=_function_mask, before_module=_before, draws=_FUNCS
    ),
)

OPS = (DROPOUT,)
