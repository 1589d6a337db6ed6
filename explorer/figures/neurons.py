"""A ``NeuronNet`` as a plotly diagram: neurons in columns, weights as coloured edges.

Each neuron is labelled with its value (4 decimals) and coloured on the value scale centred at
0; a neuron an activation switched off is drawn hollow and grey. An edge's colour is the
weight's sign (red > 0 > blue, as every value in the app) and its width the weight's size
relative to the largest in its layer. The column of the current step is lit, the chosen
neuron ringed. Clicking a neuron selects it: ``customdata = [column, unit]``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.figures.panels import VALUE_SCALE
from explorer.neurons import NeuronNet

_POSITIVE, _NEGATIVE = "rgba(202,0,32,{a})", "rgba(5,113,176,{a})"  # the ends of RdBu
_WIDTHS = (0.6, 1.6, 3.0, 5.0)  # edge widths by the weight's share of the layer's largest
_LIT = "rgba(255,213,79,0.35)"  # the current step's column (the source highlight's yellow)
_OFF = "#9e9e9e"


def neuron_figure(
    net: NeuronNet,
    *,
    step: int | None = None,
    chosen: tuple[int, int] | None = None,
    height: int = 420,
) -> go.Figure:
    """The diagram of ``net``.

    Args:
        net: from ``explorer.neurons.neuron_net``.
        step: the current step of the trace: its column is lit and shows its values as they
            stood right after that step (a Linear's column before its ReLU, say).
        chosen: (column, unit) of the neuron to ring, or None.
        height: the figure's height in pixels.
    """
    current = None if step is None else net.column_of(step)
    ys = [_positions(layer.size) for layer in net.layers]
    shown = [layer.at(step) for layer in net.layers]
    traces: list[go.Scatter] = []
    for col in range(1, len(net.layers)):
        traces += _edges(net.layers[col].weight, col, ys[col - 1], ys[col], shown[col - 1][1])
    zmax = float(max(np.abs(layer.values).max() for layer in net.layers)) or 1.0
    for col, (layer, y, (values, off)) in enumerate(zip(net.layers, ys, shown, strict=True)):
        traces.append(
            go.Scatter(
                x=np.full(layer.size, col, dtype=np.float32),
                y=y,
                mode="markers+text",
                text=[f"{v:.4f}" for v in values],
                textposition="middle right",
                textfont={"size": 13},
                cliponaxis=False,
                customdata=[[col, j] for j in range(layer.size)],
                marker={
                    "size": 26 if layer.size <= 16 else 14,
                    "color": [_OFF if o else float(v) for v, o in zip(values, off, strict=True)]
                    if off.any()
                    else values,
                    "colorscale": VALUE_SCALE,
                    "cmin": -zmax,
                    "cmax": zmax,
                    "line": {
                        "width": [3 if chosen == (col, j) else 1 for j in range(layer.size)],
                        "color": [
                            "#111" if chosen == (col, j) else "#555" for j in range(layer.size)
                        ],
                    },
                    "symbol": ["circle-open" if o else "circle" for o in off],
                    "showscale": col == 0,
                    "colorbar": {"thickness": 10, "len": 0.6, "title": {"text": "value"}},
                },
                hovertemplate=[
                    _hover(layer.title, j, v, layer.pre, o)
                    for j, (v, o) in enumerate(zip(values, off, strict=True))
                ],
                name=layer.title,
                showlegend=False,
            )
        )
    shapes = []
    if current is not None:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": current - 0.35,
                "x1": current + 0.35,
                "y0": 0,
                "y1": 1,
                "fillcolor": _LIT,
                "line": {"width": 0},
                "layer": "below",
            }
        )
    return go.Figure(
        traces,
        layout=dict(
            height=height,
            margin={"l": 10, "r": 60, "t": 40, "b": 10},
            showlegend=False,
            plot_bgcolor="white",
            clickmode="event+select",
            dragmode=False,
            shapes=shapes,
            xaxis={
                "tickmode": "array",
                "tickvals": list(range(len(net.layers))),
                "ticktext": [layer.title for layer in net.layers],
                "side": "top",
                "showgrid": False,
                "zeroline": False,
                "range": [-0.4, len(net.layers) - 0.4],
            },
            yaxis={"visible": False, "range": [-1.08, 1.08]},
        ),
    )


def _positions(n: int) -> np.ndarray:
    """n neurons spread over [-1, 1], top to bottom."""
    return np.zeros(1, dtype=np.float32) if n == 1 else np.linspace(1, -1, n, dtype=np.float32)


def _edges(
    weight: np.ndarray | None, col: int, y0: np.ndarray, y1: np.ndarray, source_off: np.ndarray
) -> list:
    """One line trace per (sign, width bucket, carrying or not): a few traces however many
    weights. An edge out of a switched-off neuron carries 0 this time: drawn faint."""
    if weight is None:
        return []
    biggest = float(np.abs(weight).max()) or 1.0
    bucket = np.minimum((np.abs(weight) / biggest * len(_WIDTHS)).astype(int), len(_WIDTHS) - 1)
    silent = np.broadcast_to(source_off[None, :], weight.shape)
    out = []
    for positive, colour in ((True, _POSITIVE), (False, _NEGATIVE)):
        for b, width in enumerate(_WIDTHS):
            for quiet in (False, True):
                rows, cols = np.nonzero(
                    (bucket == b) & ((weight > 0) == positive) & (silent == quiet)
                )
                if len(rows) == 0:
                    continue
                xs = np.tile(np.array([col - 1, col, np.nan], dtype=np.float32), len(rows))
                ys = np.stack([y0[cols], y1[rows], np.full(len(rows), np.nan)], axis=1)
                alpha = 0.12 if quiet else 0.35 + 0.15 * b
                out.append(
                    go.Scatter(
                        x=xs,
                        y=ys.reshape(-1).astype(np.float32),
                        mode="lines",
                        line={"width": width, "color": colour.format(a=alpha)},
                        hoverinfo="skip",
                        showlegend=False,
                    )
                )
    return out


def _hover(title: str, j: int, value: float, pre: np.ndarray | None, off: bool) -> str:
    text = f"{title}, neuron {j}<br>value {value:.4f}"
    if pre is not None and pre[j] != value:
        text += f"<br>before the activation {pre[j]:.4f}"
    if off:
        text += "<br>switched off (0)"
    return text + "<extra></extra>"
