"""How the catalogue's words name things: the step, its kind, shapes, settings and fractions.

Shared by every family's words and by ``explorer.explain`` (titles, the generic sentence).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.steps import INPUT, Step, Trace
from explorer.units.records import fmt

__all__ = [
    "descends",
    "fmt",
    "function_prefix",
    "kind_label",
    "op_title",
    "output_of",
    "pair_text",
    "pct",
    "per_example",
    "shape_text",
    "step_name",
    "who",
]

_KINDS = {"module": "module call", "function": "functional call", "method": "tensor method"}


def kind_label(step: Step) -> str:
    """ "module call", "functional call" or "tensor method"."""
    return _KINDS.get(step.kind, step.kind)


def op_title(step: Step) -> str:
    """A heading such as ``conv2d · conv1 (Conv2d)`` or ``relu · F.relu() in block``."""
    if step.kind == "module":
        return f"{step.op} · {step.module or 'model'} ({step.module_type})"
    where = (
        f"{function_prefix(step)}{step.op}()"
        if step.kind == "function"
        else (f"Tensor.{step.op}()")
    )
    return f"{step.op} · {where}" + (f" in {step.module}" if step.module else "")


def who(step: Step) -> str:
    """How a sentence names the step: the module, or the call."""
    if step.kind == "module":
        return f"`{step.module or 'model'}` ({step.module_type})"
    if step.kind == "function":
        return f"`{function_prefix(step)}{step.op}`"
    return f"`x.{step.op}()`"


def function_prefix(step: Step) -> str:
    """``F.`` or ``torch.``, as the source line wrote it when it says."""
    if f"torch.{step.op}(" in step.code:
        return "torch."
    return "F." if hasattr(F, step.op) else "torch."


def step_name(trace: Trace, index: int) -> str:
    if index == INPUT:
        return "the model's input"
    return f"step {index} ({op_title(trace[index])})"


def descends(trace: Trace, later: int, earlier: int) -> bool:
    """Whether step ``later`` was computed (through any path) from step ``earlier``."""
    seen, todo = set(), [later]
    while todo:
        i = todo.pop()
        if i == earlier:
            return True
        if i == INPUT or i in seen or i >= len(trace):
            continue
        seen.add(i)
        todo.extend(trace[i].parents)
    return False


def output_of(step: Step) -> torch.Tensor | None:
    out = step.output
    if isinstance(out, (tuple, list)):
        out = next((o for o in out if isinstance(o, torch.Tensor)), None)
    return out if isinstance(out, torch.Tensor) else None


def per_example(shape: tuple[int, ...]) -> str:
    """``(2, 64, 7, 7)`` -> ``64×7×7``: one example's shape, safe in Markdown."""
    return "×".join(str(n) for n in shape[1:]) if len(shape) > 1 else str(shape)


def shape_text(shape: tuple[int, ...]) -> str:
    """A whole shape with ``×`` (``2×3×4``), where a ``*`` would start Markdown emphasis."""
    return "×".join(str(n) for n in shape) or "a single number"


def pair_text(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]}×{v[1]}"


def pct(frac: float) -> str:
    return f"{100 * frac:.1f}%"
