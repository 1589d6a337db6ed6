"""The op catalogue: everything the explorer knows about an op, one module per family.

Each family module (``weighted``, ``relu_family``, ``hard``, ``activations``, ``elementary``,
``softmax``, ``pooling``, ``dropout``, ``normalisation``, ``shape``, ``combining``,
``joining``, ``matmul``, ``reductions``, ``comparisons``) lists its ops as ``OpInfo`` records:
names and aliases, what the tracer records, the words, the unit maths, the figure layout and
the gradient note. The tracer (``explorer.trace``), the words (``explorer.explain``), units
(``explorer.units``), figures (``explorer.figures.steps``) and /backward look an op up here.

To add an op: write its ``OpInfo`` in its family's module and add it to that module's ``OPS``.
"""

from __future__ import annotations

from explorer.ops import (
    activations,
    combining,
    comparisons,
    dropout,
    elementary,
    hard,
    joining,
    matmul,
    normalisation,
    pooling,
    reductions,
    relu_family,
    shape,
    softmax,
    weighted,
)
from explorer.ops.info import OpInfo, Records
from explorer.steps import Step

__all__ = [
    "FAMILIES",
    "RANDOM_FUNCS",
    "OpInfo",
    "Records",
    "acts_alone",
    "is_reshape",
    "lookup",
    "module_op",
    "operator_op",
    "routing",
]

FAMILIES = (
    weighted,
    relu_family,
    hard,
    activations,
    elementary,
    softmax,
    pooling,
    dropout,
    normalisation,
    shape,
    combining,
    joining,
    matmul,
    reductions,
    comparisons,
)


def _index() -> dict[str, OpInfo]:
    by_name: dict[str, OpInfo] = {}
    for family in FAMILIES:
        for info in family.OPS:
            for name in info.names:
                if name in by_name:
                    raise ValueError(f"op {name!r} is in the catalogue twice")
                by_name[name] = info
    return by_name


_BY_NAME = _index()
_BY_MODULE = {cls: info.name for info in _BY_NAME.values() for cls in info.modules}
_OPERATORS = {dunder: op for info in _BY_NAME.values() for dunder, op in info.operators.items()}
# Functions whose RNG state the tracer saves before they run (dropout replays its draw).
RANDOM_FUNCS = frozenset(f for info in _BY_NAME.values() for f in info.records.draws)


def lookup(op: str) -> OpInfo | None:
    """The catalogue's record for a recorded op name (``relu_`` is ``relu``), or None."""
    info = _BY_NAME.get(op)
    if info is None and op.endswith("_") and not op.startswith("_"):
        info = _BY_NAME.get(op[:-1])  # an in-place op computes the same numbers
    return info


def module_op(class_name: str) -> str | None:
    """The op name a layer class is recorded under when it is not its snake_case name."""
    return _BY_MODULE.get(class_name)


def operator_op(dunder: str) -> str:
    """The op name of a Python operator: ``radd`` (``1 + x``) -> ``add``, ``iadd`` -> ``add_``."""
    return _OPERATORS.get(dunder, dunder)


def routing(step: Step) -> str | None:
    """How the gradient goes back through ``step``, in a sentence or two, or None if unknown."""
    info = lookup(step.op)
    return info.routing(step) if info is not None and info.routing is not None else None


def is_reshape(op: str) -> bool:
    """Whether ``op`` only lays the same numbers out in a new shape (view, flatten, ...)."""
    return lookup(op) is shape.RESHAPE


_ALONE = frozenset(
    id(info)
    for family in (relu_family, hard, activations, elementary, softmax, dropout)
    for info in family.OPS
)


def acts_alone(op: str) -> bool:
    """Whether ``op`` turns each number into one number, on its own (an activation, dropout):
    it keeps the shape, and a small network's neuron stays the same neuron through it."""
    info = lookup(op)
    return info is not None and id(info) in _ALONE
