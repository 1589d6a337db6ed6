"""Figures of activation tensors: any tensor, two side by side, one channel, one vector, and the
class probabilities. Each shows one example of the batch (``sample``)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from explorer.figures.panels import (
    MASK_ON,
    VALUE_FORMAT,
    VALUE_SCALE,
    example,
    panels_figure,
    view,
)

_OTHER = "#bdbdbd"


def figure_bytes(fig: go.Figure) -> int:
    """Size of the figure's plotly JSON: what a rerun sends to the browser."""
    return len(fig.to_json())


def activation_figure(
    t: torch.Tensor, title: str, *, sample: int = 0, zmax: float | None = None
) -> go.Figure:
    """The right view of any activation: maps as one mosaic, vectors as bars or a strip.

    Args:
        t: a tensor whose dim 0 is the batch when it has 2+ dims: (N, C, H, W) -> a mosaic of
            the C maps, (N, H, W) -> one map, (N, F) -> F bars (a strip when F > 64);
            a 1-D tensor is one vector, a 0-D tensor one bar.
        title: the figure title.
        sample: which example of the batch to show.
        zmax: the colour range is +-zmax; by default max |value| of the example shown.
    """
    return panels_figure([view(example(t, sample), _shape_label(t, sample))], title, zmax=zmax)


def compare_figure(
    a: torch.Tensor,
    b: torch.Tensor,
    labels: tuple[str, str] = ("train", "eval"),
    title: str = "",
    *,
    sample: int = 0,
) -> go.Figure:
    """Two tensors side by side on one colour range (e.g. a step in train | eval mode)."""
    panels = [
        view(example(t, sample), f"{label} {tuple(t.shape)}")
        for t, label in zip((a, b), labels, strict=True)
    ]
    return panels_figure(panels, title)


def probabilities_figure(logits: torch.Tensor, *, sample: int = 0) -> go.Figure:
    """Softmax of one example's class scores as bars on 0..1, the predicted class highlighted."""
    scores = example(logits, sample).reshape(-1)
    probs = torch.softmax(scores.double(), dim=0).float().numpy()
    best = int(np.argmax(probs))
    colours = [MASK_ON if k == best else _OTHER for k in range(len(probs))]
    # the layout goes in with the data: update_layout afterwards costs 5x the whole figure
    return go.Figure(
        go.Bar(
            x=np.arange(len(probs), dtype=np.uint16),
            y=probs,
            marker={"color": colours},
            text=[f"{p:.0%}" for p in probs],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="class %{x}<br>probability %{y:.4f}<extra></extra>",
        ),
        layout=dict(
            title=f"prediction: {best} (probability {probs[best]:.0%})",
            height=300,
            margin={"l": 10, "r": 10, "t": 60, "b": 10},
            showlegend=False,
            xaxis={"title": "class", "tickmode": "linear", "dtick": 1},
            yaxis={"title": "probability", "range": [0, 1]},
        ),
    )


def channel_figure(
    t4d: torch.Tensor,
    channel: int,
    *,
    sample: int = 0,
    winners: torch.Tensor | None = None,
    clickable: bool = True,
    title: str = "",
    zmax: float | None = None,
) -> go.Figure:
    """One channel's H x W map; clickable, each cell is a selectable point with [row, col].

    Args:
        t4d: (N, C, H, W) activations (a (C, H, W) tensor is taken as one example).
        channel: the channel to show.
        sample: which example of the batch.
        winners: max-pool winners to mark: the step's whole ``indices`` (N, C, oh, ow) or this
            channel's flat indices into H*W, any shape.
        clickable: add the selectable layer. ``st.plotly_chart(on_select="rerun")`` reports no
            clicks on heatmaps, only on points; so one nearly invisible square per cell carries
            ``customdata = [row, col]``.
        title: the figure title; by default the channel and the tensor's shape.
        zmax: the colour range is +-zmax; by default max |value| over all channels of the
            example, so colours match the mosaic the channel came from.
    """
    x = t4d.detach()[sample].float() if t4d.dim() == 4 else t4d.detach().float()
    if not 0 <= channel < x.shape[0]:
        raise IndexError(f"channel {channel} is out of range for {x.shape[0]} channels")
    zmax = _range(x) if zmax is None else float(zmax)
    z = x[channel].numpy().astype(np.float32)
    h, w = z.shape
    traces = [
        go.Heatmap(
            z=z,
            colorscale=VALUE_SCALE,
            zmin=-zmax,
            zmax=zmax,
            zmid=0,
            colorbar={"thickness": 12, "len": 0.8},
            # under the clickable layer the cells' own points carry the hover
            **(
                {"hoverinfo": "skip"}
                if clickable
                else {
                    "hovertemplate": f"row %{{y}}, col %{{x}}<br>value %{{z:{VALUE_FORMAT}}}"
                    "<extra></extra>"
                }
            ),
        )
    ]
    if clickable:
        rows, cols = np.divmod(np.arange(h * w), w)
        traces.append(
            go.Scatter(
                x=cols.astype(np.uint16),
                y=rows.astype(np.uint16),
                mode="markers",
                name="cells",
                # a plain list: a click event then carries plain [row, col] arrays
                customdata=[[int(r), int(c)] for r, c in zip(rows, cols, strict=True)],
                marker={
                    "symbol": "square-open",
                    "size": 10,
                    "opacity": 0.01,
                    "color": z.reshape(-1),
                    "colorscale": VALUE_SCALE,
                    "cmin": -zmax,
                    "cmax": zmax,
                    "showscale": False,
                },
                selected={"marker": {"opacity": 1, "color": "black"}},
                unselected={"marker": {"opacity": 0.01}},
                hovertemplate=(
                    "row %{customdata[0]}, col %{customdata[1]}<br>"
                    f"value %{{marker.color:{VALUE_FORMAT}}}<extra></extra>"
                ),
            )
        )
    if winners is not None:
        flat = winners.detach()
        if flat.dim() == 4:
            flat = flat[sample, channel]
        wr, wc = np.divmod(flat.reshape(-1).numpy(), w)
        traces.append(
            go.Scatter(
                x=wc.astype(np.uint16),
                y=wr.astype(np.uint16),
                mode="markers",
                name="winners",
                hoverinfo="skip",
                marker={"size": 5, "color": "black", "line": {"width": 1, "color": "white"}},
            )
        )
    return go.Figure(
        data=traces,
        layout=dict(
            title=title or f"channel {channel} · {tuple(t4d.shape)}",
            height=420,
            margin={"l": 10, "r": 10, "t": 60, "b": 10},
            showlegend=False,
            clickmode="event+select",
            dragmode=False if clickable else "zoom",
            xaxis={
                "title": "col",
                "showgrid": False,
                "zeroline": False,
                "constrain": "domain",
                "range": [-0.5, w - 0.5],
            },
            yaxis={
                "title": "row",
                "showgrid": False,
                "zeroline": False,
                "autorange": "reversed",
                "scaleanchor": "x",
                "constrain": "domain",
            },
        ),
    )


def vector_figure(
    t2d: torch.Tensor, title: str, *, sample: int = 0, zmax: float | None = None
) -> go.Figure:
    """One example's vector as bars, each selectable with ``customdata = [unit]``."""
    y = example(t2d, sample).reshape(-1).numpy().astype(np.float32)
    zmax = _range(torch.from_numpy(y)) if zmax is None else float(zmax)
    return go.Figure(
        go.Bar(
            y=y,
            customdata=[[i] for i in range(len(y))],
            marker={
                "color": y,
                "colorscale": VALUE_SCALE,
                "cmin": -zmax,
                "cmax": zmax,
                "cmid": 0,
                "colorbar": {"thickness": 12, "len": 0.8},
                "line": {"width": 0.5 if len(y) <= 64 else 0, "color": "#666"},
            },
            selected={"marker": {"opacity": 1}},
            unselected={"marker": {"opacity": 0.35}},
            hovertemplate=f"unit %{{x}}<br>value %{{y:{VALUE_FORMAT}}}<extra></extra>",
        ),
        layout=dict(
            title=f"{title} {_shape_label(t2d, sample)}".strip(),
            height=320,
            margin={"l": 10, "r": 10, "t": 60, "b": 10},
            showlegend=False,
            clickmode="event+select",
            dragmode=False,
            bargap=0.1 if len(y) <= 64 else 0,
            xaxis={"title": "unit"},
            yaxis={"range": [-1.05 * zmax, 1.05 * zmax]},
        ),
    )


def _range(x: torch.Tensor) -> float:
    m = float(x.abs().max()) if x.numel() else 0.0
    return m if m > 0 and np.isfinite(m) else 1.0


def _shape_label(t: torch.Tensor, sample: int) -> str:
    shape = tuple(t.shape)
    return f"{shape}, example {sample}" if t.dim() >= 2 and shape[0] > 1 else f"{shape}"
