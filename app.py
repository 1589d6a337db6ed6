"""Forward Pass Explorer: `streamlit run app.py`. This file only routes.

The pages live in views/, not pages/: Streamlit treats a pages/ folder beside the entry file as
its older multipage mode until st.navigation has run once in the process, so the first visitor
of a shared link such as /forward would get the page without this file's sidebar.
"""

import os

import streamlit as st
import torch

from ui import classroom, errors, show, sidebar
from ui.icon import app_icon

# One intra-op thread per pass: many students' small passes run side by side, and two threads
# per conv on a 2-core server only fight each other (a single cnn trace is faster with one, too).
# FPE_TORCH_THREADS raises it, e.g. for a teacher training networks alone on a big machine.
try:
    THREADS = max(1, int(os.environ.get("FPE_TORCH_THREADS") or 1))
except ValueError:
    THREADS = 1
if torch.get_num_threads() != THREADS:
    torch.set_num_threads(THREADS)

st.set_page_config(page_title="Forward Pass Explorer", page_icon=app_icon(), layout="wide")
page = st.navigation([
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
    st.Page("views/forward.py", title="Forward pass", icon=":material/step:",
            url_path="forward"),
    st.Page("views/backward.py", title="Backward pass", icon=":material/undo:",
            url_path="backward"),
    st.Page("views/build.py", title="Build", icon=":material/construction:", url_path="build"),
    st.Page("views/code.py", title="Your code", icon=":material/code:", url_path="code"),
    st.Page("views/teach.py", title="Teach", icon=":material/school:", url_path="teach"),
])
with errors.page_guard("joining the class"):
    classroom.start_of_run(page.url_path)
with errors.page_guard("drawing the sidebar"):
    sidebar.render()
show.page_style()
with errors.page_guard("showing the class"):
    classroom.class_bar()
with errors.page_guard():
    page.run()
