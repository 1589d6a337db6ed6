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

PAGES = [
    ("views/draw.py", "Draw", ":material/draw:",
     "Draw a digit; watch it become a 28×28 input and the prediction change after every "
     "stroke."),
    ("views/forward.py", "Forward pass", ":material/step:",
     "Step through forward() op by op: the line that ran, its numbers, heatmaps before and "
     "after, train vs eval."),
    ("views/backward.py", "Backward pass", ":material/undo:",
     "Run loss.backward(): the gradient at every step and every weight; take an SGD step."),
    ("views/build.py", "Build", ":material/construction:",
     "Stack layers, see every shape, get the PyTorch code, train it, save it for the class."),
    ("views/code.py", "Your code", ":material/code:",
     "Write your own forward() and watch it run (when the teacher's server allows it)."),
]
row = st.container(horizontal=True, gap="small")
for path, label, icon, what in PAGES:
    with row.container(border=True, width=220):
        st.page_link(path, label=label, icon=icon)
        st.caption(what)

st.subheader(f"How data flows through {preset.title}")
st.caption(f"{preset.description} {preset.parameter_count:,} parameters.")
# The flow of shapes does not depend on the values, so any input of the right shape will do.
flow = trace(ui_state.model_of(sel.model_name), torch.zeros((1, *preset.input_shape)),
             **sel.forward_kwargs)
st.graphviz_chart(figures.flow_dot(flow, show_params=True))
