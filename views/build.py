"""/build: build a network layer by layer, see every shape, get the code, train it, share it."""

import streamlit as st

from ui import build_view, classroom
from ui import state as ui_state

st.title("Build your own network")
st.caption(
    "Add layers, watch the shapes flow, fix what does not fit, then train it on MNIST "
    "(or a toy data set for number inputs) and use it on every page."
)
build_view.start_from()

layers_col, more_col = st.columns([3, 2], gap="large")
with layers_col:
    build_view.layer_list()
with more_col:
    code, train, share = st.tabs(["Code", "Train", "Save & share"])
    with code:
        build_view.code_tab()
    with train:
        build_view.train_tab()
    with share:
        build_view.share_tab(ui_state.class_store(), classroom.owner())
