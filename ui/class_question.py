"""A follower's card for the question the teacher put to the class: the student answers it on
their own copy of the step (graded by ``explorer.classroom.answers``, the same grading as the
predict-first questions), then sees the reveal."""

from __future__ import annotations

import streamlit as st

from explorer.classroom import answers as class_answers
from explorer.classroom.classes import ClassInfo, token_hash
from explorer.questions import questions
from ui import state as ui_state
from ui.errors import guarded
from ui.predict_view import pass_id
from ui.state import Keys


def card(info: ClassInfo | None) -> None:
    """The question the teacher put to the class (in ``info``, the followed class): answer it,
    then see the reveal."""
    s = st.session_state
    q = info.question if info else None
    if q is None:
        return
    mine = s.setdefault(Keys.class_answers, {}).get(q.id)
    with st.container(border=True):
        st.markdown(f"**The teacher asks** (step {q.step}): {q.prompt}")
        if q.revealed:
            if mine is not None:
                (st.success if mine.correct else st.warning)(
                    mine.feedback, icon=":material/lightbulb:"
                )
            else:
                st.info(f"The answer: **{q.answer}**", icon=":material/lightbulb:")
            return
        if mine is not None:
            st.caption(
                f"Your answer: **{mine.label}**. Wait for the teacher to reveal it "
                "(you may change it)."
            )
        question = _local_question(q)
        if question is None:
            st.caption(
                "This question is about a view you are not on: follow the teacher to answer it."
            )
            return
        st.text_input(
            "Your name (optional: answers are anonymous without one)",
            key=Keys.nickname,
            max_chars=30,
        )
        labels = class_answers.options(question)
        if labels:
            cols = st.columns(min(len(labels), 6))
            for i, text in enumerate(labels):
                cols[i % len(cols)].button(
                    text,
                    key=f"class_pick_{q.id}_{i}",
                    width="stretch",
                    on_click=guarded(_answer),
                    args=(q.id, text),
                )
        else:
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            c1.text_input("Your answer", key=f"class_typed_{q.id}")
            c2.button(
                "Send",
                key=f"class_send_{q.id}",
                type="primary",
                on_click=guarded(_answer_typed),
                args=(q.id,),
            )


def _local_question(q):
    """This session's own copy of the teacher's question (same pass, same step), to grade."""
    sel = ui_state.current_selection()
    if not sel.ok or pass_id(sel) != q.pass_id:
        return None
    t = ui_state.run_trace(sel)
    if q.step >= len(t):
        return None
    return next((x for x in questions(t, q.step, task=sel.preset.task) if x.kind == q.kind), None)


def _answer_typed(question_id: int) -> None:
    _answer(question_id, st.session_state.get(f"class_typed_{question_id}", ""))


def _answer(question_id: int, response) -> None:
    s = st.session_state
    info: ClassInfo = s["follow_info"]
    q = info.question
    local = _local_question(q) if q and q.id == question_id else None
    if local is None:
        raise ValueError("The teacher has moved on: this question is closed.")
    graded = class_answers.grade(local, response)  # ValueError: what to type instead
    ui_state.classes().answer(
        question_id,
        token_hash(s[Keys.browser]),
        graded.label,
        graded.correct,
        s.get(Keys.nickname, ""),
    )
    s.setdefault(Keys.class_answers, {})[question_id] = graded
