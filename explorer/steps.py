"""The records of a traced forward pass: ``Step``, ``Trace``, and the source behind a step."""

from __future__ import annotations

import linecache
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

INPUT = -1  # the parent index that stands for the model's input


@dataclass(frozen=True)
class CallFlow:
    """What ``module(x)`` did: ``__call__`` -> pre-hooks -> ``forward`` -> hooks."""

    pre_hooks: tuple[str, ...]
    forward: str
    hooks: tuple[str, ...]

    def describe(self) -> list[str]:
        return [
            "__call__",
            *(f"pre-hook {h}" for h in self.pre_hooks),
            self.forward,
            *(f"hook {h}" for h in self.hooks),
        ]


@dataclass
class Step:
    """One op of the forward pass, with the tensors it saw and where in the code it came from."""

    index: int
    op: str  # e.g. "conv2d", "relu", "max_pool2d", "view", "add"
    kind: str  # "module", "function" or "method"
    module: str  # module path ("conv1", "block.conv1"); for other ops the enclosing module
    nesting: tuple[str, ...]  # enclosing module paths, outermost first ("" is the model)
    inputs: tuple[torch.Tensor, ...]  # detached copies of the tensor inputs, in call order
    output: Any  # a detached tensor (or a tuple of them)
    parents: tuple[int, ...]  # steps that produced the inputs; INPUT (-1) for the model's input
    file: str
    line: int
    code: str  # the source line in the model's own code
    function: (
        str  # qualified name of the function holding that line, e.g. "ImageClassifier.forward"
    )
    module_type: str | None = None  # class name for module steps, e.g. "Conv2d"
    # the running call's characters on ``line`` (start, end): "self.conv1(x)" of
    # "x = self.pool(F.relu(self.conv1(x)))"; None when Python cannot say
    columns: tuple[int, int] | None = None
    call_flow: CallFlow | None = None
    params: dict[str, torch.Tensor] = field(default_factory=dict)  # full name -> tensor
    args: dict[str, Any] = field(default_factory=dict)  # the non-tensor settings (k, stride, p...)
    extras: dict[str, Any] = field(default_factory=dict)  # dropout mask, pool winners, BN stats

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(t.shape) for t in self.inputs]

    @property
    def output_shape(self) -> tuple[int, ...]:
        out = self.output if isinstance(self.output, torch.Tensor) else first_tensor(self.output)
        return tuple(out.shape) if out is not None else ()

    @property
    def param_count(self) -> int:
        return sum(p.numel() for p in self.params.values())


@dataclass
class Trace:
    """Every step of one forward pass, in execution order."""

    model_type: str
    input: torch.Tensor
    output: Any
    steps: list[Step]
    training: bool
    seed: int | None

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __getitem__(self, i: int) -> Step:
        return self.steps[i]


@dataclass(frozen=True)
class Source:
    """The function that issued a step, for showing with its line highlighted."""

    file: str
    start: int  # line number of lines[0]
    lines: tuple[str, ...]


def source_of(step: Step) -> Source:
    """The whole function (usually a ``forward()``) containing ``step.line``."""
    all_lines = linecache.getlines(step.file)
    if not all_lines:
        return Source(step.file, step.line, (step.code,))
    # Walk up to the enclosing ``def`` at a smaller indent, then down to the end of its body.
    i = step.line - 1
    indent = _indent(all_lines[i])
    while i > 0 and not (
        all_lines[i].lstrip().startswith("def ") and _indent(all_lines[i]) < indent
    ):
        i -= 1
    start, def_indent = i, _indent(all_lines[i])
    j = step.line
    while j < len(all_lines) and (not all_lines[j].strip() or _indent(all_lines[j]) > def_indent):
        j += 1
    while j > step.line and not all_lines[j - 1].strip():
        j -= 1
    return Source(step.file, start + 1, tuple(line.rstrip("\n") for line in all_lines[start:j]))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def tensors_in(obj: Any) -> list[torch.Tensor]:
    """Every tensor inside nested tuples, lists and dicts, in order."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in tensors_in(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in tensors_in(o)]
    return []


def first_tensor(obj: Any) -> torch.Tensor | None:
    found = tensors_in(obj)
    return found[0] if found else None
