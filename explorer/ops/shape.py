"""Shape ops: the numbers stay, only where they sit changes.

``view``/``reshape``/``flatten``/... keep the row-major order; ``permute``/``transpose``
reorder the dimensions; ``clone``/``contiguous``/``detach`` copy the numbers as they are;
``getitem`` (``x[0]``, ``x[:, 1]``) picks some of them.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.ops.info import Fields, OpInfo
from explorer.ops.phrases import output_of, who
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, unit_name
from explorer.units.reading import base_op
from explorer.units.records import fmt
from explorer.units.settings import named_args

# --- view, reshape, flatten, ...: the same numbers in the same order -------------------------


def _reshape_words(step: Step, trace: Trace | None) -> str | None:
    if not step.inputs:
        return None
    before, after = step.input_shapes[0], step.output_shape
    text = (
        f"{who(step)} only changes the shape: {before} → {after}. "
        "The numbers and their order stay exactly the same"
    )
    if before and after and before[0] == after[0] and len(before) > len(after) == 2:
        text += (
            f"; each example's {'×'.join(map(str, before[1:]))} = {after[1]} values now "
            "sit in one row"
        )
    elif before and after and before[0] == after[0] and len(after) > len(before) == 2:
        text += (
            f"; each example's {before[1]} values are laid out as {'×'.join(map(str, after[1:]))}"
        )
    return text + "."


def _source(x: torch.Tensor, src: tuple) -> Fields:
    """Where a moved or picked number came from: its place in its example, the example, the
    input (the step's first)."""
    return dict(
        source=src[1:] if x.dim() else (),
        source_sample=src[0] if x.dim() else None,
        source_input=0,
    )


def _moved(
    step: Step, index: tuple, src: tuple, x: torch.Tensor, out: torch.Tensor, how: str
) -> Fields:
    total = float(x[src])
    where = unit_name(src, "x")
    other = f" of example {src[0]}" if x.dim() and index and src[0] != index[0] else ""
    return dict(
        formula=f"{unit_name(index)} = {where}{other} = {fmt(total)}",
        explanation=(
            f"`{step.op}` {how}: this one was {where}{other} before, "
            f"{tuple(x.shape)} → {tuple(out.shape)}."
        ),
        total=total,
        **_source(x, src),
    )


def _reshape_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = step.inputs[0] if step.inputs else None
    if x is None or x.numel() != out.numel():
        return None
    # view/reshape/flatten keep the row-major order of the elements: same flat position.
    flat = int(np.ravel_multi_index(index, tuple(out.shape))) if out.dim() else 0
    src = tuple(int(i) for i in np.unravel_index(flat, tuple(x.shape))) if x.dim() else ()
    return _moved(step, index, src, x, out, "only moves numbers into a new shape")


def _reshape_routing(step: Step) -> str | None:
    shapes = f" ({step.output_shape} back to {step.input_shapes[0]})" if step.inputs else ""
    return f"{step.op} only reshapes: the gradient goes back unchanged, reshaped{shapes}."


RESHAPE = OpInfo(
    names=(
        "view",
        "reshape",
        "flatten",
        "unflatten",
        "squeeze",
        "unsqueeze",
        "view_as",
        "reshape_as",
        "ravel",
    ),
    explain=_reshape_words,
    unit=_reshape_unit,
    figure="reshape",
    routing=_reshape_routing,
)


# --- clone, contiguous, detach: the same numbers, copied -------------------------------------


def _copy_words(step: Step, trace: Trace | None) -> str | None:
    if not step.inputs:
        return None
    op = base_op(step.op)
    what = {
        "clone": "makes a copy of its input",
        "contiguous": "lays its input out in one unbroken block of memory",
        "detach": "hands on the same numbers cut off from the gradient",
    }.get(op, "copies")
    return (
        f"{who(step)} {what}: the {step.output_shape} numbers and their order stay exactly "
        "the same."
    )


def _copy_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = step.inputs[0] if step.inputs else None
    if x is None or tuple(x.shape) != tuple(out.shape):
        return None
    return _moved(step, index, index, x, out, "copies each number to the same place")


def _copy_routing(step: Step) -> str | None:
    if base_op(step.op) == "detach":
        return "detach stops the gradient: nothing flows back to its input."
    return f"{step.op} only copies: the gradient goes back unchanged."


COPY = OpInfo(
    names=("clone", "contiguous", "detach"),
    explain=_copy_words,
    unit=_copy_unit,
    figure="reshape",
    routing=_copy_routing,
)


# --- permute, transpose: the dimensions reordered --------------------------------------------


def _order(step: Step, ndim: int) -> tuple[int, ...] | None:
    """Which input dimension each output dimension is (``out.shape[k] == x.shape[order[k]]``)."""
    op = base_op(step.op)
    if op == "permute":
        dims = named_args(step.args, ["input", "dims"]).get("dims")
        if dims is None or isinstance(dims, int):  # x.permute(1, 0): one argument per dim
            dims = [step.args.get(f"arg{k + 1}") for k in range(ndim)]
        if len(dims) != ndim or any(not isinstance(d, int) for d in dims):
            return None
        return tuple(int(d) % ndim for d in dims)
    order = list(range(ndim))
    if op in ("transpose", "swapaxes", "swapdims"):
        a = named_args(step.args, ["input", "dim0", "dim1"])
        if "dim0" not in a or "dim1" not in a:
            return None
        d0, d1 = int(a["dim0"]) % ndim, int(a["dim1"]) % ndim
    elif op == "mT":
        d0, d1 = ndim - 2, ndim - 1
    else:  # t, T: every dimension reversed (for 2-d: rows become columns)
        return tuple(reversed(order))
    order[d0], order[d1] = order[d1], order[d0]
    return tuple(order)


def _permute_words(step: Step, trace: Trace | None) -> str | None:
    if not step.inputs:
        return None
    order = _order(step, step.inputs[0].dim())
    if order is None:
        return None
    moves = ", ".join(f"dim {k} ← dim {d}" for k, d in enumerate(order) if k != d)
    return (
        f"{who(step)} reorders the dimensions: {step.input_shapes[0]} → "
        f"{step.output_shape} ({moves or 'nothing moves'}). No number changes; they are "
        "read in a different order, like turning rows into columns."
    )


def _permute_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    x = step.inputs[0] if step.inputs else None
    order = _order(step, x.dim()) if x is not None else None
    if x is None or order is None or len(index) != x.dim():
        return None
    src = [0] * x.dim()
    for k, d in enumerate(order):
        src[d] = index[k]
    return _moved(step, index, tuple(src), x, out, "only reorders the dimensions")


def _permute_routing(step: Step) -> str | None:
    return (
        f"{step.op} only reorders the dimensions: the gradient goes back unchanged, put "
        f"back in the input's order ({step.output_shape} back to "
        f"{step.input_shapes[0] if step.inputs else '?'})."
    )


PERMUTE = OpInfo(
    names=("permute", "transpose", "swapaxes", "swapdims", "t", "T", "mT"),
    explain=_permute_words,
    unit=_permute_unit,
    routing=_permute_routing,
)


# --- getitem: x[0], x[:, 1], x[..., 1:3], x[mask] --------------------------------------------


def _key(step: Step) -> object | None:
    """The index the step used: kept as a setting, or (a tensor of positions or a mask) its
    second input. None when it mixed tensors with other indices: not recorded whole."""
    if "arg1" in step.args:
        return step.args["arg1"]
    if len(step.inputs) == 2 and not step.inputs[1].is_floating_point():
        return step.inputs[1]
    return None


def _picked(step: Step) -> torch.Tensor | None:
    """For every output number, the flat position in the input it was picked from; None when
    the index cannot be replayed to give exactly this step's output."""
    key = _key(step)
    out = output_of(step)
    if key is None or out is None or not step.inputs:
        return None
    x = step.inputs[0]
    try:
        positions = torch.arange(x.numel()).reshape(x.shape)[key]  # type: ignore[index]
    except (IndexError, TypeError, RuntimeError, ValueError):
        return None
    if tuple(positions.shape) != tuple(out.shape):
        return None
    if not torch.equal(x.reshape(-1)[positions], out):  # NaN-free steps only: NaN != NaN
        return None
    return positions


def _key_text(key: object) -> str:
    """The index as Python writes it: ``0``, ``:, 1``, ``..., 1:3``, ``:, None, 2``."""
    parts = key if isinstance(key, tuple) else (key,)
    return ", ".join(_part_text(p) for p in parts)


def _part_text(part: object) -> str:
    if part is Ellipsis:
        return "..."
    if isinstance(part, slice):
        ends = ["" if v is None else str(v) for v in (part.start, part.stop)] + (
            [str(part.step)] if part.step is not None else []
        )
        return ":".join(ends)
    if isinstance(part, torch.Tensor):
        return "mask" if part.dtype == torch.bool else "positions"
    return repr(part)


def _getitem_words(step: Step, trace: Trace | None) -> str | None:
    out = output_of(step)
    if out is None or not step.inputs:
        return None
    x, key = step.inputs[0], _key(step)
    written = f"`x[{_key_text(key)}]`" if _picked(step) is not None else "an index"
    text = (
        f"Indexing with {written} picks numbers out of its input: {tuple(x.shape)} → "
        f"{tuple(out.shape)}. No number changes; {out.numel():,} of the {x.numel():,} are kept"
    )
    if isinstance(key, torch.Tensor) and key.dtype == torch.bool and written != "an index":
        text += ", those where the mask is True, in reading order"
    return text + "."


def _getitem_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    positions = _picked(step)
    if positions is None:
        return cannot(step, "this index mixes tensors with other indices; it was not kept whole")
    x = step.inputs[0]
    flat = int(positions[index]) if index else int(positions)
    src = tuple(int(i) for i in np.unravel_index(flat, tuple(x.shape))) if x.dim() else ()
    total = float(x[src])
    where = unit_name((None, *src), "x") if src else "x"
    return dict(
        formula=f"{unit_name(index)} = {where} = {fmt(total)}",
        explanation=(
            f"`x[{_key_text(_key(step))}]` picked this number from {where}, "
            f"{tuple(x.shape)} → {tuple(out.shape)}; it is not changed."
        ),
        total=total,
        **_source(x, src),
    )


def _getitem_routing(step: Step) -> str | None:
    positions = _picked(step)
    if positions is None or not step.inputs:
        return (
            f"{step.op} only picks numbers: each picked number's gradient goes back to the "
            "place it was picked from, and every number not picked gets 0."
        )
    n = step.inputs[0].numel()
    used = torch.unique(positions).numel()
    twice = positions.numel() - used
    text = (
        f"{step.op} only picks numbers: each picked number's gradient goes back to the place "
        f"it was picked from; the {n - used:,} of {n:,} input numbers not picked get 0."
    )
    if twice:
        text += f" {twice:,} were picked more than once: their gradients add up."
    return text


GETITEM = OpInfo(
    names=("getitem",),
    explain=_getitem_words,
    unit=_getitem_unit,
    routing=_getitem_routing,
)

OPS = (RESHAPE, COPY, PERMUTE, GETITEM)
