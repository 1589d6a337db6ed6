"""Home: what this is, how a class starts, and the chosen network's data flow."""

import streamlit as st
import torch

from explorer import figures
from explorer.trace import trace
from ui import state as ui_state
from ui.pages import PAGES

sel = ui_state.current_selection()
preset = sel.preset

st.title("Forward Pass Explorer")
st.markdown(
    "See what PyTorch's `forward()` does, one operation at a time: every picture here is a "
    "tensor that torch really computed, tied to the line of `forward()` that computed it."
)
st.info(
    "**How to start:** pick a network in the sidebar, draw a digit on **Draw**, then "
    "step through it on **Forward pass**.",
    icon=":material/school:",
)

row = st.container(horizontal=True, gap="small")
for p in PAGES:
    if p.blurb:
        with row.container(border=True, width=220):
            st.page_link(p.path, label=p.title, icon=p.icon)
            st.caption(p.blurb)

st.subheader(f"How data flows through {preset.title}")
st.caption(f"{preset.description} {preset.parameter_count:,} parameters.")
# The flow of shapes does not depend on the values, so any input of the right shape will do.
flow = trace(
    ui_state.model_of(sel.model_name), torch.zeros((1, *preset.input_shape)), **sel.forward_kwargs
)
st.graphviz_chart(figures.flow_dot(flow, show_params=True))
