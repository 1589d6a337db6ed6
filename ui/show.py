"""Showing figures and page style, with projector mode (large type, readable from the back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from explorer import ui_state
from explorer.ui_state import Keys

_PROJECTOR_CSS = """
<style>
html { font-size: 22px; }
[data-testid="stSidebar"] { font-size: 18px; }
.fpe-src { font-size: 1.05rem !important; }
</style>
"""


def page_style() -> None:
    """Large type for a projector, when the sidebar's switch is on."""
    if ui_state.get(Keys.projector):
        st.html(_PROJECTOR_CSS)


def chart(fig: go.Figure, **kwargs: Any) -> Any:
    """``st.plotly_chart`` with bigger text and figures in projector mode."""
    if ui_state.get(Keys.projector):
        _enlarge(fig)
    return st.plotly_chart(fig, **kwargs)


def cached_chart(figure_key: tuple | None, build: Callable[[], go.Figure], /,
                 **kwargs: Any) -> Any:
    """``chart(build())``, with the figure built once per ``figure_key`` for the whole server.

    ``figure_key`` must name everything the figure shows (``ui_state.pass_key`` plus the step, the
    channel, ...); None builds it for this session alone. Building a plotly figure (validating
    every property) costs more than tracing the CNN, and a class looks at the same few steps.
    """
    if figure_key is None:
        return chart(build(), **kwargs)
    fig = _shared_figure(figure_key, bool(ui_state.get(Keys.projector)), build)
    return st.plotly_chart(fig, **kwargs)  # it copies the figure (to_dict); ours stays as is


@st.cache_resource(max_entries=256, show_spinner=False)
def _shared_figure(key: tuple, projector: bool, _build: Callable[[], go.Figure]) -> go.Figure:
    fig = _build()
    if projector:
        _enlarge(fig)
    return fig


def _enlarge(fig: go.Figure) -> None:
    height = fig.layout.height or 400
    fig.update_layout(font={"size": 20}, height=int(height * 1.4), title_font={"size": 24})
