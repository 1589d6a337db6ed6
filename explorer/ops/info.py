"""The record the op catalogue keeps per op: ``OpInfo``, and what the tracer records, ``Records``.

Kept apart from the families and the registry so every family module can build its records
without importing the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from explorer.steps import Step, Trace

Fields = dict[str, Any]  # the UnitComputation fields a unit function fills in, beyond op/unit/value

# (step, trace or None) -> 1-4 sentences of Markdown with the step's numbers; None: generic words
Words = Callable[[Step, "Trace | None"], "str | None"]
# (step, output, full index of the unit, top_k) -> the numbers that make that one output value
UnitMaths = Callable[[Step, torch.Tensor, tuple, int], "Fields | None"]
# step -> how the gradient goes back through it, with the step's numbers where it helps
Routing = Callable[[Step], "str | None"]


@dataclass(frozen=True)
class Records:
    """What the tracer keeps for an op beyond its tensors, and what it must take beforehand.

    ``before_module(module)`` runs just before a layer does (state the call is about to change:
    the RNG of a dropout, BatchNorm's running statistics) and returns notes; ``module(step,
    module, notes)`` and ``function(step, func, args, kwargs, rng)`` run right after the op.
    ``draws`` are functions whose RNG state must be saved before they run (``rng`` above).
    """

    module: Callable[[Step, nn.Module, dict[str, Any]], None] | None = None
    function: Callable[[Step, Any, tuple, dict[str, Any], Any], None] | None = None
    before_module: Callable[[nn.Module], dict[str, Any]] | None = None
    draws: frozenset[Any] = frozenset()


@dataclass(frozen=True)
class OpInfo:
    """Everything the explorer knows about one op (or a few that work alike), side by side."""

    names: tuple[str, ...]  # as the tracer records them; names[0] is the op's own name
    explain: Words | None = None  # the plain-language words
    unit: UnitMaths | None = None  # "click a unit": one output value recomputed
    figure: str = "auto"  # the layout explorer.figures.steps draws it with
    routing: Routing | None = None  # the note /backward shows for its gradient
    records: Records = Records()  # extras the tracer keeps (masks, winners, statistics)
    settings: tuple[str, ...] = ()  # layer attributes the tracer keeps as args, beyond the common
    modules: tuple[str, ...] = ()  # layer classes recorded as names[0] (BatchNorm2d: batch_norm)
    operators: Mapping[str, str] = field(default_factory=dict)  # __radd__ -> "add", ...

    @property
    def name(self) -> str:
        return self.names[0]


def bind(names: list[str], args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A live call's arguments by parameter name (for ``Records.function``)."""
    bound = dict(zip(names, args, strict=False))
    bound.update({k: v for k, v in kwargs.items() if k in names})
    return bound
