"""Showing figures and page style, with projector mode (large type, readable from the back)."""

from __future__ import annotations

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
        height = fig.layout.height or 400
        fig.update_layout(font={"size": 20}, height=int(height * 1.4),
                          title_font={"size": 24})
    return st.plotly_chart(fig, **kwargs)
