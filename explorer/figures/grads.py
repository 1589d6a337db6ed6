"""Figures of gradients: parameter gradients (kernels, weight matrices) and gradient norms."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from explorer.figures.activations import activation_figure
from explorer.figures.panels import VALUE_FORMAT, VALUE_SCALE

MAX_MATRIX_CELLS = 20_000  # a bigger weight gradient is drawn as one norm per output unit
MAX_KERNELS = 512  # conv kernels drawn at once (in x out); conv2 of the cnn has 2,048


def param_grad_figure(name: str, grad: torch.Tensor) -> tuple[go.Figure, str]:
    """The picture of one parameter's gradient, and a caption saying what is shown.

    Conv weights (out, in, kh, kw) become one mosaic of kh x kw kernels; a Linear weight
    (out, in) a heatmap when small, else each output unit's gradient norm; a bias one bar each.
    """
    g = grad.detach().to(torch.float32)
    if g.dim() == 4:
        out_c, in_c, kh, kw = g.shape
        rows = max(1, min(out_c, MAX_KERNELS // max(in_c, 1)))
        note = (
            f"all {out_c * in_c:,} kernels"
            if rows == out_c
            else f"the kernels of output channels 0-{rows - 1} of {out_c}"
        )
        # one mosaic of kh x kw tiles; tile k is (output k // in_c, input k % in_c)
        tiles = g[:rows].reshape(1, rows * in_c, kh, kw)
        return activation_figure(tiles, f"{name}: gradient, {note}"), (
            f"{tuple(g.shape)}: one {kh}x{kw} kernel per (output, input) channel pair, tile k "
            f"is output channel k // {in_c}, input channel k % {in_c}; {note}."
        )
    if g.dim() == 2 and g.numel() <= MAX_MATRIX_CELLS:
        return _matrix(
            g, f"{name}: gradient {tuple(g.shape)}", "row: output unit · column: input"
        ), f"{tuple(g.shape)}: row j is d loss / d y_j times the layer's input."
    if g.dim() == 2:
        norms = g.norm(dim=1)
        return _bars(norms, f"{name}: gradient norm of each output unit's row", "output unit"), (
            f"{tuple(g.shape)} is {g.numel():,} numbers, too many to draw: each bar is the size "
            "of one output unit's row of the gradient."
        )
    return _bars(
        g.reshape(-1), f"{name}: gradient {tuple(g.shape)}", "unit"
    ), f"{tuple(g.shape)}: one number per unit."


def norms_figure(norms: dict[str, float], title: str = "gradient norm per parameter") -> go.Figure:
    """A bar per parameter: how large its gradient is (L2 norm)."""
    names = list(norms)
    values = np.array([norms[n] for n in names], dtype=np.float32)
    # the layout goes in with the data: update_layout afterwards costs 5x the whole figure
    return go.Figure(
        go.Bar(
            x=names,
            y=values,
            marker={"color": "#5e3c99"},
            hovertemplate="%{x}<br>‖grad‖ %{y:.4g}<extra></extra>",
        ),
        layout=dict(
            title=title,
            height=300,
            margin={"l": 10, "r": 10, "t": 50, "b": 10},
            yaxis={"title": "‖grad‖"},
            xaxis={"tickangle": -30},
        ),
    )


def _matrix(m: torch.Tensor, title: str, axes: str) -> go.Figure:
    z = m.numpy().astype(np.float32)
    finite = z[np.isfinite(z)]
    zmax = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
    return go.Figure(
        go.Heatmap(
            z=z,
            colorscale=VALUE_SCALE,
            zmin=-zmax,
            zmax=zmax,
            zmid=0,
            hoverongaps=False,
            hovertemplate=f"row %{{y}}<br>col %{{x}}<br>grad %{{z:{VALUE_FORMAT}}}<extra></extra>",
        ),
        layout=dict(
            title=title,
            height=380,
            margin={"l": 10, "r": 10, "t": 50, "b": 30},
            xaxis={"showticklabels": False, "title": axes},
            yaxis={"showticklabels": False, "autorange": "reversed"},
        ),
    )


def _bars(v: torch.Tensor, title: str, axis: str) -> go.Figure:
    y = v.numpy().astype(np.float32)
    return go.Figure(
        go.Bar(
            y=y,
            marker={"color": "#5e3c99"},
            hovertemplate=f"{axis} %{{x}}<br>%{{y:{VALUE_FORMAT}}}<extra></extra>",
        ),
        layout=dict(
            title=title,
            height=300,
            margin={"l": 10, "r": 10, "t": 50, "b": 10},
            xaxis={"title": axis},
            bargap=0.1 if len(y) <= 64 else 0,
        ),
    )
