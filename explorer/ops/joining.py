"""Ops that join tensors whole: ``cat`` (along an existing dimension) and ``stack`` (along a
new one). Every number keeps its value; the unit says which input and place it came from.
"""

from __future__ import annotations

import torch

from explorer.ops.info import Fields, OpInfo
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, unit_name
from explorer.units.records import fmt
from explorer.units.settings import named_args


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


OPS = (CAT, STACK)
