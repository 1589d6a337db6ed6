"""Forward Pass Explorer: `streamlit run app.py`. This file only routes.

The pages live in views/, not pages/: Streamlit treats a pages/ folder beside the entry file as
its older multipage mode until st.navigation has run once in the process, so the first visitor
of a shared link such as /forward would get the page without this file's sidebar.
"""

import streamlit as st

from explorer.selection import Keys
from ui import classroom, errors, process, session_weights, show, sidebar, wake
from ui.icon import app_icon
from ui.pages import PAGES

process.tune()  # once per server process: threads, switch interval, garbage collection

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
        classroom.class_bar(page.url_path)
    with errors.page_guard("checking this session's weights"):
        session_weights.banner()
    with errors.page_guard(), classroom.drawing_view():
        page.run()
