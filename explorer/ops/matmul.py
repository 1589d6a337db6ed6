"""``matmul`` (also ``mm``, ``bmm``, the ``@`` operator): the matrix product, each output a
row of one factor times a column of the other.
"""

from __future__ import annotations

import torch

from explorer.ops.info import Fields, OpInfo
from explorer.ops.phrases import output_of, who
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, dot, sum_formula, unit_name
from explorer.units.reading import f64


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


OPS = (MATMUL,)
