"""Forward Pass Explorer: `streamlit run app.py`. This file only routes.

The pages live in views/, not pages/: Streamlit treats a pages/ folder beside the entry file as
its older multipage mode until st.navigation has run once in the process, so the first visitor
of a shared link such as /forward would get the page without this file's sidebar.
"""

import os
import sys

import streamlit as st
import torch

from explorer.selection import Keys
from ui import classroom, errors, session_weights, show, sidebar, wake
from ui.icon import app_icon
from ui.pages import PAGES

# One intra-op thread per pass: many students' small passes run side by side, and two threads
# per conv on a 2-core server only fight each other (a single cnn trace is faster with one, too).
# FPE_TORCH_THREADS raises it, e.g. for a teacher training networks alone on a big machine.
try:
    THREADS = max(1, int(os.environ.get("FPE_TORCH_THREADS") or 1))
except ValueError:
    THREADS = 1
if torch.get_num_threads() != THREADS:
    torch.set_num_threads(THREADS)
# The server's event loop sends every element a page draws, and it shares the interpreter with
# every student's script thread: at Python's default 5 ms switch interval it waits behind them,
# and a class following the teacher saw each step late (bench/follow_load: p50 0.72 -> 0.52 s).
# FPE_SWITCH_INTERVAL (seconds) sets another.
try:
    SWITCH_S = float(os.environ.get("FPE_SWITCH_INTERVAL") or 0.0002)
except ValueError:
    SWITCH_S = 0.0002
if sys.getswitchinterval() != SWITCH_S and SWITCH_S > 0:
    sys.setswitchinterval(SWITCH_S)

# Projector mode folds the sidebar away (the page gets the whole width); switching it off
# brings the sidebar back. Streamlit applies a changed initial state on the next run.
PROJECTOR = bool(st.session_state.get(Keys.projector))
st.set_page_config(
    page_title="Forward Pass Explorer",
    page_icon=app_icon(),
    layout="wide",
    initial_sidebar_state="collapsed" if PROJECTOR else "auto",
)
page = st.navigation(
    [
        st.Page(
            p.path,
            title=p.title,
            icon=p.icon,
            default=p.url_path is None,
            **({"url_path": p.url_path} if p.url_path else {}),
        )
        for p in PAGES
    ]
)
applying = False  # the teacher's new view, in a follower's session: a turn of its own
with errors.page_guard("joining the class"):
    applying = classroom.start_of_run(page.url_path)
with wake.turn(applying):
    with errors.page_guard("drawing the sidebar"):
        sidebar.render()
    show.page_style()
    with errors.page_guard("showing the class"):
        classroom.class_bar()
    with errors.page_guard("checking this session's weights"):
        session_weights.banner()
    with errors.page_guard(), classroom.drawing_view():
        page.run()
