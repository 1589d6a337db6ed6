"""Plain-language words for a step: ``explain(step)``, ``op_title(step)``, ``kind_label(step)``.

Each explanation is 1-4 sentences of Markdown for a secondary-school or first-year student,
with this step's own numbers filled in (sizes, settings, how many values ReLU zeroed...). The
words for each op live with the rest of what the explorer knows about it, in ``explorer.ops``;
an op the catalogue has no words for gets the generic sentence here.
"""

from __future__ import annotations

import torch

from explorer import ops
from explorer.ops.phrases import function_prefix, kind_label, op_title
from explorer.steps import Step, Trace, first_tensor

__all__ = ["explain", "kind_label", "op_title"]


def overflow_note(trace: Trace) -> str | None:
    """A warning if some step's output holds infinity or NaN, naming the first such step.

    A typed input may be up to float32's largest number (about 3.4e38) and still grow past it
    inside the network; the figures and statistics would then show inf or NaN with no reason.
    """
    for step in trace.steps:
        out = step.output if isinstance(step.output, torch.Tensor) else first_tensor(step.output)
        if out is not None and out.is_floating_point() and not bool(torch.isfinite(out).all()):
            return (
                f"From step {step.index} ({step.op}) on, some values are infinite or NaN: "
                "they grew past about 3.4e38, the largest number float32 holds. Smaller "
                "inputs keep the numbers in range."
            )
    return None


def explain(step: Step, trace: Trace | None = None) -> str:
    """What this step did, in 1-4 plain sentences of Markdown with its real numbers.

    Args:
        step: a step from ``explorer.trace``.
        trace: the trace it came from, if at hand; lets ``add`` name the steps it joins and
            check that one was computed from the other before calling it a skip connection.

    Returns:
        Markdown text.
    """
    info = ops.lookup(step.op)
    text = info.explain(step, trace) if info is not None and info.explain is not None else None
    return text or generic(step)


def generic(step: Step) -> str:
    """The sentence for an op the catalogue has no words for: what it is, its shapes."""
    ins = ", ".join(str(s) for s in step.input_shapes) or "no tensor inputs"
    return f"`{step.op}` is {_kind_phrase(step)}. It took {ins} and returned {step.output_shape}."


def _kind_phrase(step: Step) -> str:
    if step.kind == "module":
        return f"the module {step.module or 'model'} ({step.module_type})"
    if step.kind == "function":
        prefix = function_prefix(step)
        return (
            "a function from torch.nn.functional"
            if prefix == "F."
            else f"a torch function (`{prefix}{step.op}`)"
        )
    return f"a tensor method (`x.{step.op}(...)`)"
