"""/teach: the teacher leads the class; students see how to follow, and no teacher controls."""

import streamlit as st

from ui import classroom, teach_view

st.title("Teach: lead the class")
if not classroom.is_teacher():
    teach_view.key_form()
    st.stop()

st.caption(
    "Start a class: your students' pages follow yours (model, input, drawing, mode, "
    "dropout seed, step) within a second. Put a step's question to them and watch the "
    "answers come in."
)
mine = teach_view.class_panel()
if mine is None:
    st.stop()

ask_col, answers_col = st.columns([1, 1], gap="large")
with ask_col:
    st.subheader("Ask the class")
    teach_view.ask_panel(mine)
with answers_col:
    st.subheader("The class's answers")
    teach_view.answers_panel(mine.code)
