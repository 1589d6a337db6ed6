"""The note every page shows while this session's weights are not the preset's: SGD steps."""

from __future__ import annotations

import streamlit as st

from ui import state as ui_state
from ui.errors import guarded
from ui.state import Keys


def banner() -> None:
    """Replay the SGD steps a link brought, then say how many steps this session's copy of the
    chosen model has taken, with Reset (every page: /forward and /draw use these weights)."""
    if ui_state.get(Keys.sgd_replay):
        try:
            ui_state.replay_sgd(ui_state.current_selection())
        except ValueError as err:
            st.warning(f"The link's SGD steps could not be replayed: {err}", icon=":material/link:")
    name = ui_state.get(Keys.model)
    steps = len(ui_state.sgd_history(name))
    if not steps:
        return
    c1, c2 = st.columns([6, 1], vertical_alignment="center")
    c1.info(
        f"**{steps} SGD step{'s' if steps != 1 else ''} applied** to this session's copy "
        f"of {ui_state.preset_of(name).title}: every page shows these weights, not the "
        "trained ones (the rest of the class still has those).",
        icon=":material/model_training:",
    )
    c2.button(
        "Reset",
        key="sgd_banner_reset",
        on_click=guarded(ui_state.reset_weights),
        args=(name,),
        help="Back to the trained weights",
        width="stretch",
        icon=":material/restart_alt:",
    )
