"""The whole pass at a glance: one thumbnail per step, in a row, the current step lit.

A map shows its liveliest channel (the one whose values vary most), a vector its values as a
small strip (a near-square grid when long), a classifier's last step its probabilities. Every
thumbnail is a heatmap whose cells carry their step index (``customdata``), so a click on any
of them selects that step. Steps a student has not predicted yet (``hidden``) are drawn blank.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import torch

from explorer.figures.panels import VALUE_SCALE
from explorer.steps import Step, Trace

_LIT = "#f9a825"
_PROB_SCALE = [[0.0, "#f3e5f5"], [1.0, "#542788"]]
THUMB_WIDTH = 78  # pixels a thumbnail and its label take: the strip scrolls on a phone
# A thumbnail's cells at most: 78 px show no more than 14 x 14 cells, and the whole strip is sent
# with every rerun of /forward (28 x 28 thumbnails were 68 KB of it).
SIDE = 14
MAX_CELLS = SIDE * SIDE


def overview_figure(
    t: Trace,
    current: int,
    *,
    hidden: set[int] | None = None,
    classify: bool = False,
    sample: int = 0,
    height: int = 130,
) -> go.Figure:
    """Thumbnails of the input and every step of ``t``.

    Args:
        t: the traced pass.
        current: the step to light.
        hidden: steps to draw blank (not predicted yet).
        classify: the last step is class scores: show their probabilities.
        sample: which example of the batch.
        height: the figure's height in pixels.
    """
    hidden = hidden or set()
    items: list[tuple[int, str, np.ndarray | None, str]] = [
        (-1, "input", _thumb(t.input, sample), "value")
    ]
    for s in t.steps:
        last = s.index == len(t) - 1
        kind = "prob" if last and classify else "value"
        z = (
            None
            if s.index in hidden
            else _thumb(
                _probs(s, sample) if kind == "prob" else _output(s),
                sample if kind == "value" else 0,
            )
        )
        items.append((s.index, f"{s.index}·{s.op}", z, kind))
    n = len(items)
    gap = 0.012
    width = (1 - gap * (n - 1)) / n
    layout: dict = {
        "height": height,
        "width": THUMB_WIDTH * n,
        "margin": {"l": 4, "r": 4, "t": 4, "b": 22},
        "showlegend": False,
        "clickmode": "event+select",
        "dragmode": False,
        "plot_bgcolor": "white",
        "annotations": [],
        "shapes": [],
    }
    traces: list[dict] = []
    for k, (index, label, z, kind) in enumerate(items):
        x0 = k * (width + gap)
        ax = "" if k == 0 else str(k + 1)
        # no fixed aspect ratio: each thumbnail fills its slot, so slot and label line up
        layout[f"xaxis{ax}"] = {
            "domain": [x0, x0 + width],
            "visible": False,
            "anchor": f"y{ax}",
            "fixedrange": True,
        }
        layout[f"yaxis{ax}"] = {
            "domain": [0, 1],
            "visible": False,
            "anchor": f"x{ax}",
            "autorange": "reversed",
            "fixedrange": True,
        }
        lit = index == current
        layout["annotations"].append(
            {
                "text": f"<b>{label}</b>" if lit else label,
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": x0 + width / 2,
                "y": 0,
                "yanchor": "top",
                "xanchor": "center",
                "font": {"size": 10, "color": _LIT if lit else "#555"},
            }
        )
        if lit:
            layout["shapes"].append(
                {
                    "type": "rect",
                    "xref": "paper",
                    "yref": "paper",
                    "x0": x0 - gap / 3,
                    "x1": x0 + width + gap / 3,
                    "y0": -0.02,
                    "y1": 1.02,
                    "line": {"color": _LIT, "width": 3},
                }
            )
        if z is None:
            z = np.full((1, 1), np.nan, dtype=np.float32)
            layout["annotations"].append(
                {
                    "text": "?",
                    "showarrow": False,
                    "xref": "paper",
                    "yref": "paper",
                    "x": x0 + width / 2,
                    "y": 0.5,
                    "xanchor": "center",
                    "font": {"size": 22, "color": "#999"},
                }
            )
        zmax = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
        colours = (
            {"colorscale": _PROB_SCALE, "zmin": 0, "zmax": 1}
            if kind == "prob"
            else {"colorscale": VALUE_SCALE, "zmin": -(zmax or 1), "zmax": zmax or 1}
        )
        traces.append(
            {
                "type": "heatmap",
                "z": z,
                "xaxis": f"x{ax}",
                "yaxis": f"y{ax}",
                "showscale": False,
                "hoverongaps": True,
                **colours,
                "customdata": np.full(z.shape, index, dtype=np.int16),
                "hovertemplate": f"{label}<extra></extra>",
            }
        )
    return go.Figure(data=traces, layout=layout)


def _output(s: Step) -> torch.Tensor | None:
    return s.output if isinstance(s.output, torch.Tensor) and s.output.is_floating_point() else None


def _probs(s: Step, sample: int) -> torch.Tensor | None:
    out = _output(s)
    if out is None or out.dim() != 2:
        return out
    return torch.softmax(out[sample].double(), 0).float()[None]


def _thumb(t: torch.Tensor | None, sample: int) -> np.ndarray | None:
    """One small 2-D picture of ``t``'s example ``sample``."""
    if t is None or t.numel() == 0:
        return None
    x = t.detach().float()
    if x.dim() >= 2:
        x = x[min(sample, x.shape[0] - 1)]
    if x.dim() == 3:  # (C, H, W): the liveliest channel, the one that varies most
        x = x[int(x.flatten(1).std(1, correction=0).argmax())]
    if x.dim() == 2:
        z = x
    else:
        v = x.reshape(-1)
        if v.numel() > MAX_CELLS:  # average neighbours down to MAX_CELLS values
            v = torch.nn.functional.adaptive_avg_pool1d(v[None, None], MAX_CELLS)[0, 0]
        cols = v.numel() if v.numel() <= 16 else math.ceil(math.sqrt(v.numel()))
        rows = math.ceil(v.numel() / cols)
        z = torch.full((rows * cols,), float("nan"))
        z[: v.numel()] = v
        z = z.reshape(rows, cols)
    if z.numel() > MAX_CELLS:  # a map: the mean of each block, down to SIDE x SIDE
        z = torch.nn.functional.adaptive_avg_pool2d(
            z[None], (min(SIDE, z.shape[0]), min(SIDE, z.shape[1]))
        )[0]
    return z.numpy().astype(np.float32)
