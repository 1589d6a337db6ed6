"""Forward Pass Explorer: `streamlit run app.py`. This file only routes."""

import streamlit as st

from ui import sidebar

st.set_page_config(page_title="Forward Pass Explorer", page_icon=":material/neurology:",
                   layout="wide")
page = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
    st.Page("pages/forward.py", title="Forward pass", icon=":material/step:",
            url_path="forward"),
])
sidebar.render()
page.run()
