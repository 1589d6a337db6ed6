"""What ``print()`` would show after a step, as the tutorials print after every layer.

``printout(step)`` gives the variable the step's line assigns, ``print(x.shape)`` and, for up to
``MAX_PRINTED`` values, ``print(x)`` -- torch's own text for the tensor (4 decimals), so the
page reads like the tutorial's output with this model's numbers.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import torch

from explorer.steps import Step, first_tensor

MAX_PRINTED = 64  # more values than this are a table to open, not a printout
_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?::[^=]+)?=(?!=)")


@dataclass(frozen=True)
class Printout:
    """The lines a student would see."""

    name: str  # the variable the line assigns ("x"), or "out" when it assigns none
    shape: str  # str(x.shape): "torch.Size([1, 3])"
    values: str | None  # str(x) as print shows it; None when there are too many values
    count: int  # how many values the tensor holds

    def text(self) -> str:
        """The printout as a console would show it."""
        lines = [f">>> print({self.name}.shape)", self.shape]
        if self.values is not None:
            lines += [f">>> print({self.name})", self.values]
        return "\n".join(lines)


def printout(step: Step, max_values: int = MAX_PRINTED) -> Printout | None:
    """The printout of ``step``'s output (its first tensor); None if it made no tensor."""
    out = step.output if isinstance(step.output, torch.Tensor) else first_tensor(step.output)
    if out is None:
        return None
    match = _ASSIGNED.match(step.code or "")
    name = match.group(1) if match else "out"
    values = str(out.detach()) if out.numel() <= max_values else None
    return Printout(name, str(out.shape), values, out.numel())


def value_table(t: torch.Tensor) -> tuple[list[str], list[str], list[list[float]]]:
    """Every value as a table: (row labels, column labels, rows).

    The last dimension becomes the columns, every other index a row label: a (1, 3) output is
    one row "0" of 3 values; a (1, 32, 14, 14) map is 448 rows "0, 0, 0" ... "0, 31, 13".
    """
    t = t.detach().float()
    if t.dim() == 0:
        return ["0"], ["value"], [[float(t)]]
    if t.dim() == 1:
        t = t[None]
    lead = t.shape[:-1]
    labels = [", ".join(map(str, idx)) for idx in itertools.product(*(range(n) for n in lead))]
    return labels, [str(i) for i in range(t.shape[-1])], t.reshape(-1, t.shape[-1]).tolist()
