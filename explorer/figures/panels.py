"""Panels: one view of one tensor (a map mosaic, a vector, a mask or a number), and the figure
that puts a few of them side by side on one shared colour range.

Every panel carries the values torch produced, as float32 numpy arrays: plotly serialises those
as compact typed arrays. Masks go as uint8, a quarter of the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import torch

from explorer.figures.mosaic import GAP, Mosaic, mosaic

VALUE_SCALE = "RdBu_r"  # diverging, red > 0 > blue; readable with the common colour blindnesses
MASK_ON = "#542788"  # purple on light grey: apart by lightness too, not by hue alone
MASK_OFF = "#e0e0e0"
# Masks are uint8: 0 and 1 are the two colours, 2 marks the gaps between tiles, drawn clear.
_MASK_GAP = 2
MASK_SCALE = [
    [0.0, MASK_OFF],
    [0.25, MASK_OFF],
    [0.25, MASK_ON],
    [0.75, MASK_ON],
    [0.75, "rgba(0,0,0,0)"],
    [1.0, "rgba(0,0,0,0)"],
]
BAR_LIMIT = 64  # longer vectors are drawn as a strip heatmap
MAX_NUMBERED = 128  # tiles of a mosaic that get their channel number written on them
VALUE_FORMAT = ".4~g"


@dataclass
class Panel:
    """One view in a figure: what to draw and how."""

    kind: str  # "map", "bars", "strip", "scalar"
    title: str
    values: np.ndarray  # map: (C, H, W); bars/strip: (F,); scalar: ()
    mask: bool = False  # a 0/1 map drawn in two colours, outside the shared value range
    mask_meaning: str = ""  # what 1 means, for the hover label ("zeroed", "kept")
    first: int = 0  # channel number of values[0] (a window of channels)
    # units to mark with a dot, as arrays (channels, rows, cols), e.g. max-pool winners
    marks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    mosaic: Mosaic | None = None  # filled in for maps


def example(t: torch.Tensor, sample: int) -> torch.Tensor:
    """The part of ``t`` that belongs to one example: dim 0 is the batch when ``t`` has 2+ dims."""
    t = t.detach()
    if t.dim() >= 2:
        if not -t.shape[0] <= sample < t.shape[0]:
            raise IndexError(f"sample {sample} is out of range for a batch of {t.shape[0]}")
        t = t[sample]
    return t.to(torch.float32)


def view(
    x: torch.Tensor, title: str, *, mask: bool = False, mask_meaning: str = "", first: int = 0
) -> Panel:
    """The right panel for one example's values: maps for 2+ dims, bars or a strip for vectors."""
    if x.dim() == 0:
        return Panel("scalar", title, x.numpy().astype(np.float32), mask, mask_meaning)
    if x.dim() == 1:
        kind = "bars" if x.numel() <= BAR_LIMIT and not mask else "strip"
        return Panel(kind, title, x.numpy().astype(np.float32), mask, mask_meaning)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    elif x.dim() > 3:
        x = x.reshape(-1, *x.shape[-2:])  # fold extra leading dims into channels
    values = x.numpy().astype(np.float32)
    return Panel("map", title, values, mask, mask_meaning, first)


def shared_range(panels: list[Panel]) -> float:
    """max |value| over every value panel (masks excluded); 1 when all are zero."""
    m = max(
        (float(np.nanmax(np.abs(p.values))) for p in panels if not p.mask and p.values.size),
        default=0.0,
    )
    return m if m > 0 and np.isfinite(m) else 1.0


def panels_figure(
    panels: list[Panel], title: str, *, zmax: float | None = None, height: int | None = None
) -> go.Figure:
    """Panels side by side, left to right, on ONE colour range of +-zmax centred at 0.

    The subplot grid (one row, a column a panel, a title above each) is written out as plain
    layout entries, as ``make_subplots`` would make them: building it through plotly's object
    API costs more than tracing the CNN (about 10 ms, then 1-2 ms per axis update)."""
    if not panels:
        return go.Figure(layout={"title": title, "height": 120})
    zmax = shared_range(panels) if zmax is None else float(zmax)
    grid = _Grid(len(panels), [p.title for p in panels])
    colorbar_at = max((i for i, p in enumerate(panels) if not p.mask), default=None)
    for i, p in enumerate(panels):
        col = i + 1
        show_scale = i == colorbar_at
        if p.kind == "map":
            _add_map(grid, p, col, zmax, show_scale)
        elif p.kind == "strip":
            _add_strip(grid, p, col, zmax, show_scale)
        else:
            _add_bars(grid, p, col, zmax, show_scale)
    grid.layout.update(
        title=title,
        height=height or _height(panels),
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        showlegend=False,
    )
    return go.Figure(data=grid.traces, layout=grid.layout)


class _Grid:
    """A one-row subplot grid as plain data: traces and layout, filled in by the panels."""

    def __init__(self, cols: int, titles: list[str]) -> None:
        spacing = 0.06 if cols > 1 else 0.0
        width = (1.0 - spacing * (cols - 1)) / cols
        self.traces: list[dict] = []
        self.layout: dict = {"annotations": []}
        for c in range(cols):
            start = c * (width + spacing)
            domain = [start, start + width]
            self.layout[_axis_key("x", c + 1)] = {
                "anchor": _axis_name("y", c + 1),
                "domain": domain,
            }
            self.layout[_axis_key("y", c + 1)] = {
                "anchor": _axis_name("x", c + 1),
                "domain": [0.0, 1.0],
            }
            self.layout["annotations"].append(
                {
                    "font": {"size": 16},
                    "showarrow": False,
                    "text": titles[c],
                    "x": (domain[0] + domain[1]) / 2,
                    "xanchor": "center",
                    "xref": "paper",
                    "y": 1.0,
                    "yanchor": "bottom",
                    "yref": "paper",
                }
            )

    def add(self, trace: dict, col: int) -> None:
        self.traces.append({**trace, "xaxis": _axis_name("x", col), "yaxis": _axis_name("y", col)})

    def axes(self, col: int, *, x: dict | None = None, y: dict | None = None) -> None:
        self.layout[_axis_key("x", col)].update(x or {})
        self.layout[_axis_key("y", col)].update(y or {})


def map_coords(
    p: Panel, rows: np.ndarray, cols: np.ndarray
) -> tuple[list | np.ndarray, list | np.ndarray]:
    """Axis coordinates of mosaic cells of a map panel, for markers drawn over it."""
    assert p.mosaic is not None
    if p.mosaic.channels == 1:
        return cols.astype(np.uint16), rows.astype(np.uint16)
    xl, yl = axis_labels(p.mosaic)
    return [xl[c] for c in cols], [yl[r] for r in rows]


def axis_labels(m: Mosaic) -> tuple[list[str], list[str]]:
    """Category labels that read as the row/column *inside* a tile.

    Plotly's hover can show an axis value but not compute one, so the mosaic's axes are
    categories: label "5" for column 5 of the first tile column, "5 " for the second,
    "5  " for the third... unique, yet all read as 5. It costs a few hundred short strings,
    where per-cell hover data would cost 3 bytes a cell.
    """
    return _labels(m.cols, m.tile_w), _labels(m.rows, m.tile_h)


def _labels(tiles: int, size: int) -> list[str]:
    out: list[str] = []
    for t in range(tiles):
        out.extend(f"{i}" + " " * t for i in range(size))
        if t < tiles - 1:
            out.extend(f"|{t}.{g}" for g in range(GAP))
    return out


def _add_map(grid: _Grid, p: Panel, col: int, zmax: float, show_scale: bool) -> None:
    m = mosaic(torch.from_numpy(p.values), first=p.first)
    p.mosaic = m
    if p.mask:
        z = np.where(np.isnan(m.z), _MASK_GAP, m.z).astype(np.uint8)
        value = f"{p.mask_meaning or 'mask'} %{{z}} (1 = yes)"
    else:
        z = m.z
        value = f"value %{{z:{VALUE_FORMAT}}}"
    # one item a line: the labels' trailing spaces (see axis_labels) then fall at a line end
    if m.channels == 1:
        where, extra = "row %{y}<br>col %{x}", {}
    else:
        xl, yl = axis_labels(m)
        where = "channel %{customdata}<br>row %{y}<br>col %{x}"
        extra = {"x": xl, "y": yl, "customdata": m.channel_map}
    grid.add(
        {
            "type": "heatmap",
            "z": z,
            "hoverongaps": False,
            **extra,
            **_colours(p, zmax, show_scale),
            "hovertemplate": f"{where}<br>{value}<extra></extra>",
        },
        col,
    )
    axis = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
    if m.channels > 1:
        axis["type"] = "category"
    # fixed ranges: markers drawn over the map must not pad the axes
    grid.axes(
        col,
        x={**axis, "constrain": "domain", "range": [-0.5, z.shape[1] - 0.5]},
        y={
            **axis,
            "constrain": "domain",
            "range": [z.shape[0] - 0.5, -0.5],
            "scaleanchor": _axis_name("x", col),
        },
    )
    if 1 < m.channels <= MAX_NUMBERED and not p.mask:
        _number_tiles(grid, m, col)
    for channels, rs, cs in p.marks:
        rows, cols = m.positions(channels, rs, cs)
        mx, my = map_coords(p, rows, cols)
        grid.add(
            {
                "type": "scatter",
                "x": mx,
                "y": my,
                "mode": "markers",
                "hoverinfo": "skip",
                "name": "winners",
                # small and half see-through: a quarter of a 2x2 pool's inputs win, and the
                # map must show through
                "marker": {"size": 3, "color": "rgba(0,0,0,0.55)"},
            },
            col,
        )


def _number_tiles(grid: _Grid, m: Mosaic, col: int) -> None:
    """Each tile's channel number in its top-left corner, so "channel 17" can be found."""
    for tile in range(m.channels):
        r, c = m.position(m.first + tile, 0, 0)
        # a category axis takes a category's index as a coordinate: the labels repeat
        grid.layout["annotations"].append(
            {
                "text": str(m.first + tile),
                "x": c - 0.5,
                "y": r - 0.5,
                "xref": _axis_name("x", col),
                "yref": _axis_name("y", col),
                "xanchor": "left",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": 9, "color": "#222"},
                "bgcolor": "rgba(255,255,255,0.7)",
                "borderpad": 0,
            }
        )


def _add_strip(grid: _Grid, p: Panel, col: int, zmax: float, show_scale: bool) -> None:
    if p.mask:
        z = p.values.astype(np.uint8)[None, :]
        value = f"{p.mask_meaning or 'mask'} %{{z}} (1 = yes)"
    else:
        z = p.values[None, :]
        value = f"value %{{z:{VALUE_FORMAT}}}"
    grid.add(
        {
            "type": "heatmap",
            "z": z,
            **_colours(p, zmax, show_scale),
            "hovertemplate": f"unit %{{x}}<br>{value}<extra></extra>",
        },
        col,
    )
    grid.axes(
        col,
        x={"showgrid": False, "zeroline": False, "title": {"text": "unit"}},
        y={"visible": False},
    )


def _add_bars(grid: _Grid, p: Panel, col: int, zmax: float, show_scale: bool) -> None:
    y = p.values.reshape(-1)
    x = ["value"] if p.kind == "scalar" else None  # bars default to x = 0..F-1: no payload
    marker = {
        "color": y,
        "colorscale": VALUE_SCALE,
        "cmin": -zmax,
        "cmax": zmax,
        "cmid": 0,
        "showscale": show_scale,
        "line": {"width": 0.5, "color": "#666"},
    }
    if show_scale:
        marker["colorbar"] = {"thickness": 12, "len": 0.8}
    label = "%{x}" if p.kind == "scalar" else "unit %{x}"
    bar = {
        "type": "bar",
        "y": y,
        "marker": marker,
        "hovertemplate": f"{label}<br>value %{{y:{VALUE_FORMAT}}}<extra></extra>",
    }
    if x is not None:
        bar["x"] = x
    grid.add(bar, col)
    grid.axes(
        col,
        y={"range": [-1.05 * zmax, 1.05 * zmax], "zeroline": True},
        x={"title": {"text": "unit"}} if p.kind == "bars" else None,
    )


def _colours(p: Panel, zmax: float, show_scale: bool) -> dict:
    if p.mask:
        return {"colorscale": MASK_SCALE, "zmin": 0, "zmax": _MASK_GAP, "showscale": False}
    scale = {
        "colorscale": VALUE_SCALE,
        "zmin": -zmax,
        "zmax": zmax,
        "zmid": 0,
        "showscale": show_scale,
    }
    if show_scale:
        scale["colorbar"] = {"thickness": 12, "len": 0.8}
    return scale


def _axis_name(letter: str, col: int) -> str:
    return letter if col == 1 else f"{letter}{col}"


def _axis_key(letter: str, col: int) -> str:
    """The layout entry of an axis: xaxis, xaxis2, ..."""
    return f"{letter}axis" if col == 1 else f"{letter}axis{col}"


def _height(panels: list[Panel]) -> int:
    if any(p.kind == "map" for p in panels):
        return 420 if len(panels) == 1 else 440
    if any(p.kind in ("bars", "scalar") for p in panels):
        return 320
    return 220
