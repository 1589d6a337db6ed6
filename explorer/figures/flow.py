"""Graphviz DOT text of a trace's data flow, for ``st.graphviz_chart`` (drawn in the browser)."""

from __future__ import annotations

from explorer.steps import INPUT, Step, Trace

_NODE = "#f4f4f4"
_SELECTED = "#ffd54f"
_PARAM = "#e8eaf6"
# light to dark: how large a step's gradient norm is, relative to the largest
_GRAD_SHADES = ("#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603")


def flow_dot(trace: Trace, *, selected: int | None = None, show_params: bool = False,
             grad_norms: dict[int, float] | None = None, shapes_in: bool = False) -> str:
    """The data flow of a traced pass as a top-to-bottom Graphviz graph.

    Args:
        trace: a ``Trace``; one node per step plus an "input" node.
        selected: the step index to highlight.
        show_params: add a node per parameter (name and shape), dashed into its step.
        grad_norms: step index -> gradient norm; nodes shaded light to dark by it.
        shapes_in: label steps "input shape → output shape" rather than the output shape alone.

    Returns:
        DOT source. Node ids are "input" and "s<index>"; edges follow ``step.parents``, so a
        skip connection is a second edge into the step that adds it back.
    """
    input_label = _escape(f"input\n{tuple(trace.input.shape)}")
    lines = [
        "digraph forward {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="' + _NODE + '", '
        'fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555", arrowsize=0.7];',
        f'  input [label="{input_label}", shape=ellipse];',
    ]
    top = max((abs(v) for v in (grad_norms or {}).values()), default=0.0)
    for step in trace.steps:
        attrs = {"label": _escape(_label(step, shapes_in))}
        if grad_norms and step.index in grad_norms:
            g = grad_norms[step.index]
            attrs["label"] = _escape(f"{_label(step, shapes_in)}\n‖grad‖ {g:.3g}")
            shade = _shade(abs(g) / top if top > 0 else 0.0)
            attrs["fillcolor"] = shade
            if shade in _GRAD_SHADES[-2:]:
                attrs["fontcolor"] = "white"  # dark fills need light text
        if step.index == selected:
            attrs.update(fillcolor=_SELECTED, penwidth="2.5")
        lines.append(f"  s{step.index} [{_attrs(attrs)}];")
    for step in trace.steps:
        for parent in step.parents:
            source = "input" if parent == INPUT else f"s{parent}"
            lines.append(f"  {source} -> s{step.index};")
    if show_params:
        for step in trace.steps:
            for i, (name, p) in enumerate(step.params.items()):
                node = f"p{step.index}_{i}"
                label = _escape(f"{name}\n{tuple(p.shape)}")
                lines.append(f'  {node} [label="{label}", shape=note, fillcolor="{_PARAM}", '
                             "fontsize=9];")
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


def _shade(fraction: float) -> str:
    i = min(int(fraction * len(_GRAD_SHADES)), len(_GRAD_SHADES) - 1)
    return _GRAD_SHADES[i]
