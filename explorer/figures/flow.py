"""Graphviz DOT text of a trace's data flow, for ``st.graphviz_chart`` (drawn in the browser)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from explorer.steps import INPUT, Step, Trace

_NODE = "#f4f4f4"
_SELECTED = "#1565c0"  # blue: apart from every shade of the gradient scale
_PARAM = "#e8eaf6"
# light to dark: how large a step's gradient is per element, on a log scale
_GRAD_SHADES = ("#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603")


@dataclass(frozen=True)
class Shade:
    """One band of the gradient legend: elements' RMS gradient in [low, high) gets ``colour``."""

    low: float
    high: float
    colour: str
    dark: bool  # white text reads better on it


def grad_rms(grads: dict[int, torch.Tensor]) -> dict[int, float]:
    """Step index -> the root mean square of d loss / d its output: the gradient's size per
    element, so a large tensor does not look "hot" just for having many elements."""
    return {
        i: float(g.detach().double().pow(2).mean().sqrt())
        for i, g in grads.items()
        if isinstance(g, torch.Tensor) and g.numel()
    }


def grad_shades(values: dict[int, float]) -> list[Shade]:
    """Equal bands on a log scale from the smallest to the largest non-zero value."""
    positive = [v for v in values.values() if v > 0 and math.isfinite(v)]
    if not positive:
        return []
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    n = len(_GRAD_SHADES)
    edges = [10 ** (lo + (hi - lo) * k / n) for k in range(n + 1)]
    return [Shade(edges[k], edges[k + 1], c, k >= n - 2) for k, c in enumerate(_GRAD_SHADES)]


def _shade_of(value: float, shades: list[Shade]) -> Shade | None:
    if not shades or not value > 0:
        return None
    return next((s for s in shades if value < s.high), shades[-1])


def flow_dot(
    trace: Trace,
    *,
    selected: int | None = None,
    show_params: bool = False,
    grad_rms: dict[int, float] | None = None,
    shapes_in: bool = False,
    per_row: int | None = None,
) -> str:
    """The data flow of a traced pass as a top-to-bottom Graphviz graph.

    Args:
        trace: a ``Trace``; one node per step plus an "input" node.
        selected: the step index to highlight.
        show_params: add a node per parameter (name and shape), dashed into its step.
        grad_rms: step index -> gradient size per element (``grad_rms``); nodes shaded light
            to dark by it on a log scale, in the bands of ``grad_shades``.
        shapes_in: label steps "input shape → output shape" rather than the output shape alone.
        per_row: lay the steps out left to right in rows of this many (as text wraps), each
            step's parameters named in its own box; a chain fits a page's width this way.

    Returns:
        DOT source. Node ids are "input" and "s<index>"; edges follow ``step.parents``, so a
        skip connection is a second edge into the step that adds it back.
    """
    input_label = _escape(f"input\n{tuple(trace.input.shape)}")
    lines = [
        "digraph forward {",
        "  rankdir=TB;",
        *(["  nodesep=0.35; ranksep=0.45;"] if per_row else []),
        '  node [shape=box, style="rounded,filled", fillcolor="' + _NODE + '", '
        'fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555", arrowsize=0.7];',
        f'  input [label="{input_label}", shape=ellipse];',
    ]
    shades = grad_shades(grad_rms or {})
    for step in trace.steps:
        label = _label(step, shapes_in)
        if per_row and show_params and step.params:
            label += "".join(
                f"\n{n.rsplit('.', 1)[-1]} {tuple(p.shape)}" for n, p in step.params.items()
            )
        attrs = {"label": _escape(label)}
        if grad_rms and step.index in grad_rms:
            g = grad_rms[step.index]
            attrs["label"] = _escape(f"{label}\ngrad RMS {g:.2g}")
            shade = _shade_of(g, shades)
            if shade is not None:
                attrs["fillcolor"] = shade.colour
                if shade.dark:
                    attrs["fontcolor"] = "white"
        if step.index == selected:
            attrs.update(color=_SELECTED, penwidth="5")  # keeps its shade; a blue frame
        lines.append(f"  s{step.index} [{_attrs(attrs)}];")
    for step in trace.steps:
        for parent in step.parents:
            source = "input" if parent == INPUT else f"s{parent}"
            lines.append(f"  {source} -> s{step.index};")
    if per_row:
        nodes = ["input", *(f"s{step.index}" for step in trace.steps)]
        rows = [nodes[k : k + per_row] for k in range(0, len(nodes), per_row)]
        for row in rows:
            lines.append(f"  {{rank=same; {'; '.join(row)}}}")
        for above, below in zip(rows[:-1], rows[1:], strict=True):  # flush left, like text
            lines.append(f"  {above[0]} -> {below[0]} [style=invis, weight=100];")
    elif show_params:
        for step in trace.steps:
            for i, (name, p) in enumerate(step.params.items()):
                node = f"p{step.index}_{i}"
                label = _escape(f"{name}\n{tuple(p.shape)}")
                lines.append(
                    f'  {node} [label="{label}", shape=note, fillcolor="{_PARAM}", fontsize=9];'
                )
                lines.append(f"  {node} -> s{step.index} [style=dashed, arrowsize=0.5];")
    lines.append("}")
    return "\n".join(lines)


def model_flow_dot(trace: Trace) -> str:
    """The home page's "data flow, shapes step by step": every step with its shape in and out."""
    return flow_dot(trace, shapes_in=True)


def _label(step: Step, shapes_in: bool) -> str:
    name = f"{step.op} · {step.module}" if step.kind == "module" and step.module else step.op
    if step.kind != "module" and step.module:
        name += f" (in {step.module})"
    if shapes_in and step.inputs:
        return f"{name}\n{step.input_shapes[0]} → {step.output_shape}"
    return f"{name}\n{step.output_shape}"


def _escape(text: str) -> str:
    """Text for a double-quoted DOT string: backslashes and quotes escaped, newlines as \\n."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _attrs(attrs: dict[str, str]) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in attrs.items())
