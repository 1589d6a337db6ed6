"""One conv unit's arithmetic as pictures: the input patch, the kernel, and patch ⊙ kernel,
each cell written out, for kernels up to ``MAX_WRITTEN`` x ``MAX_WRITTEN``."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from explorer.figures.panels import VALUE_SCALE

MAX_WRITTEN = 5  # larger kernels are drawn without their numbers


def patch_figure(patch: np.ndarray, kernel: np.ndarray, *, title: str = "") -> go.Figure:
    """Three (k, k) grids side by side: the patch, the kernel, their elementwise product.

    The product's cells add up to this input channel's share of the unit's value.
    """
    patch, kernel = np.asarray(patch, np.float64), np.asarray(kernel, np.float64)
    product = patch * kernel
    k = patch.shape[-1]
    written = max(patch.shape) <= MAX_WRITTEN
    panels = [
        ("input patch x", patch),
        ("kernel w", kernel),
        (f"x ⊙ w: sum {product.sum():.4f}", product),
    ]
    width, gap = 0.3, 0.05
    data = []
    annotations: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "annotations": annotations,
        "height": 260 if k <= 3 else 320,
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
        "showlegend": False,
        "title": {"text": title, "font": {"size": 15}},
    }
    for i, (name, z) in enumerate(panels):
        ax = "" if i == 0 else str(i + 1)
        x0 = i * (width + gap)
        zmax = float(np.abs(z).max()) or 1.0
        data.append(
            go.Heatmap(
                z=z.astype(np.float32),
                zmin=-zmax,
                zmax=zmax,
                colorscale=VALUE_SCALE,
                showscale=False,
                xaxis=f"x{ax}",
                yaxis=f"y{ax}",
                text=np.vectorize(lambda v: f"{v:.3f}")(z) if written else None,
                texttemplate="%{text}" if written else None,
                textfont={"size": 13},
                hovertemplate="row %{y}, col %{x}<br>%{z:.4f}<extra></extra>",
            )
        )
        layout[f"xaxis{ax}"] = {"domain": [x0, x0 + width], "visible": False, "anchor": f"y{ax}"}
        layout[f"yaxis{ax}"] = {
            "domain": [0, 1],
            "visible": False,
            "anchor": f"x{ax}",
            "autorange": "reversed",
            "scaleanchor": f"x{ax}",
            "constrain": "domain",
        }
        annotations.append(
            {
                "text": name,
                "x": x0 + width / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "yanchor": "bottom",
                "xanchor": "center",
                "showarrow": False,
                "font": {"size": 14},
            }
        )
    return go.Figure(data=data, layout=layout)
