"""Showing figures and page style, with projector mode (large type, readable from the back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from ui import state as ui_state
from ui.state import Keys

_PROJECTOR_CSS = """
<style>
html { font-size: 22px; }
[data-testid="stSidebar"] { font-size: 18px; }
/* the first screen of a 1280x720 projector holds the line and its picture: less chrome */
[data-testid="stMainBlockContainer"] { padding-top: 3.6rem; padding-left: 2rem;
  padding-right: 2rem; }
h1 { font-size: 1.7rem !important; padding: 0 !important; }
.fpe-src { font-size: 0.8rem !important; }
/* the chain of every step: one line that scrolls, not three */
.st-key-overview p { font-size: 0.7rem; white-space: nowrap; overflow-x: auto; }
</style>
"""
# On a tablet or a phone the code and the facts beside it stack, each at full width: a code
# column of 360 px cut `x = self.pool(F.relu(self.conv1(x)))` short.
_NARROW_CSS = """
<style>
/* on a phone the thumbnails shrink to fit: their labels would overlap, so they go */
@media (max-width: 700px) { .st-key-strip_box .annotation { display: none; } }
@media (max-width: 1100px) {
  [class*="st-key-stack"] [data-testid="stHorizontalBlock"] { flex-wrap: wrap; }
  [class*="st-key-stack"] [data-testid="stColumn"] { min-width: 100% !important;
    flex: 1 1 100% !important; }
}
</style>
"""


def page_style() -> None:
    """Large type for a projector, when the sidebar's switch is on."""
    st.html(_NARROW_CSS)
    if ui_state.get(Keys.projector):
        st.html(_PROJECTOR_CSS)


def chart(fig: go.Figure, **kwargs: Any) -> Any:
    """``st.plotly_chart`` with bigger text and figures in projector mode."""
    if ui_state.get(Keys.projector):
        _enlarge(fig)
    return st.plotly_chart(fig, **kwargs)


def cached_chart(figure_key: tuple | None, build: Callable[[], go.Figure], /, **kwargs: Any) -> Any:
    """``chart(build())``, with the figure built once per ``figure_key`` for the whole server.

    ``figure_key`` must name everything the figure shows (``ui_state.pass_key`` plus the step, the
    channel, ...); None builds it for this session alone. Building a plotly figure (validating
    every property) costs more than tracing the CNN, and a class looks at the same few steps.
    """
    if figure_key is None:
        return chart(build(), **kwargs)
    fig = _shared_figure(figure_key, bool(ui_state.get(Keys.projector)), build)
    return st.plotly_chart(fig, **kwargs)  # it copies the figure (to_dict); ours stays as is


class _Shared(go.Figure):
    """A figure shown to many sessions: its dict is made once, not once per ``st.plotly_chart``.

    ``st.plotly_chart`` copies a figure with ``to_dict()`` before writing its JSON; for the
    strip and a step's mosaic that copy was most of a follower's rerun. The dict is read, never
    changed, by everyone after that, so one copy serves the class."""

    _shared_dict: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self._shared_dict


@st.cache_resource(max_entries=256, show_spinner=False)
def _shared_figure(key: tuple, projector: bool, _build: Callable[[], go.Figure]) -> go.Figure:
    fig = _build()
    if projector:
        _enlarge(fig)
    made = fig.to_dict()
    fig.__class__ = _Shared  # the same object, its to_dict() now answers from ``made``
    fig._shared_dict = made
    return fig


def _enlarge(fig: go.Figure) -> None:
    height = fig.layout.height or 400
    # larger type; only a little taller, so a figure still fits a 720-px screen beside its code
    fig.update_layout(font={"size": 20}, height=int(height * 1.15), title_font={"size": 24})
    # a figure beside its code has half the width: a long title goes on two lines, not off
    # the edge ("max_pool2d · pool → (1, 32, 14, 14)<br>one channel: before | after")
    title = fig.layout.title.text or ""
    if " · " in title and "<br>" not in title and len(title) > 36:
        head, _, tail = title.rpartition(" · ")
        fig.update_layout(
            title_text=f"{head}<br>{tail}", margin_t=max(fig.layout.margin.t or 60, 130)
        )
