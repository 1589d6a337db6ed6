"""Home: what this is, how a class starts, and the chosen network's data flow."""

import streamlit as st
import torch

from explorer import figures, ui_state
from explorer.trace import trace

sel = ui_state.current_selection()
preset = sel.preset

st.title("Forward Pass Explorer")
st.markdown(
    "See what PyTorch's `forward()` does, one operation at a time: every picture here is a "
    "tensor that torch really computed, tied to the line of `forward()` that computed it."
)
st.info("**How to start:** pick a network in the sidebar, draw a digit on **Draw**, then "
        "step through it on **Forward pass**.", icon=":material/school:")

c1, c2, c3 = st.columns(3)
c1.page_link("views/draw.py", label="Draw a digit and classify it", icon=":material/draw:")
c2.page_link("views/forward.py", label="Step through the forward pass", icon=":material/step:")
c3.markdown(f"**{preset.title}**: {preset.parameter_count:,} parameters")

st.subheader(f"How data flows through {preset.title}")
st.caption(preset.description)
# The flow of shapes does not depend on the values, so any input of the right shape will do.
flow = trace(ui_state.model_of(sel.model_name), torch.zeros((1, *preset.input_shape)),
             **sel.forward_kwargs)
st.graphviz_chart(figures.flow_dot(flow, show_params=True))
