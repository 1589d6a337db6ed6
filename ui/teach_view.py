"""/teach: the teacher's key, the class (code, followers, start/end/take over), a step's
question put to the class, the answers coming in, the reveal, the CSV."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import plotly.graph_objects as go
import streamlit as st

from explorer.classroom import answers as class_answers
from explorer.classroom.classes import ClassInfo
from explorer.classroom.teacher import KEY_ENV
from explorer.questions import LABELS, questions
from ui import classroom
from ui import state as ui_state
from ui.errors import guarded
from ui.predict_view import pass_id
from ui.state import Keys

_CSS = """<style>
.fpe-class-code { font-size: clamp(3rem, 6.5vw, 6rem); font-weight: 700; letter-spacing: 0.15em;
  line-height: 1.1; white-space: nowrap; font-family: ui-monospace, monospace; }
.fpe-headline { font-size: 2rem; font-weight: 600; margin: 0.3em 0; }
</style>"""


def key_form() -> None:
    """Who is not (yet) the teacher: how to get the key; no teacher controls."""
    st.info(
        "This page is for the teacher. The key is in the console of the server that runs "
        f"the app (printed when it starts, with the teacher's link), or is whatever "
        f"{KEY_ENV} was set to. Students: open the class link your teacher gives you, or "
        "switch on **Follow the teacher** in the sidebar.",
        icon=":material/key:",
    )
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.text_input(
        "Teacher key", key=Keys.teacher_key, type="password", placeholder="the teacher key"
    )
    c2.button(
        "Open",
        key="teacher_open",
        type="primary",
        on_click=guarded(classroom.give_key),
        width="stretch",
    )
    if error := st.session_state.get(Keys.key_error):
        st.error(error, icon=":material/lock:")


def class_panel() -> ClassInfo | None:
    """The class this teacher leads, or the buttons to start one (or take one over)."""
    mine = classroom.my_class()
    if mine is None:
        others = [c for c in ui_state.classes().running() if c.leader != classroom.leader_id()]
        st.button(
            "Start a class",
            key="class_start",
            type="primary",
            icon=":material/school:",
            on_click=guarded(_start),
        )
        for c in others:
            c1, c2 = st.columns([3, 1], vertical_alignment="center")
            c1.caption(f"Class **{c.code}** is led by another teacher's browser.")
            c2.button(
                f"Take over {c.code}",
                key=f"take_{c.code}",
                on_click=guarded(_take_over),
                args=(c.code,),
            )
        return None
    st.html(_CSS)
    code_col, info_col = st.columns([2, 3], vertical_alignment="center")
    code_col.markdown(
        f'<div class="fpe-class-code" data-testid="class-code">{html.escape(mine.code)}</div>',
        unsafe_allow_html=True,
    )
    with info_col:
        _followers(mine.code)
        url = urlsplit(st.context.url or "http://localhost:8501/")
        st.markdown("Students open (or switch on **Follow the teacher** and type the code):")
        st.code(f"{url.scheme}://{url.netloc}/forward?follow=1&class={mine.code}", language=None)
        st.button(
            "End the class",
            key="class_end",
            icon=":material/stop_circle:",
            on_click=guarded(_end),
            args=(mine.code,),
        )
    return mine


@st.fragment(run_every=1.0)
def _followers(code: str) -> None:
    n = ui_state.classes().follower_count(code)
    st.metric("Following", n, help="Students whose page mirrors yours right now.")


def _start() -> None:
    classroom.lead(ui_state.classes().start(classroom.leader_id()).code)


def _take_over(code: str) -> None:
    ui_state.classes().take_over(code, classroom.leader_id())
    classroom.lead(code)


def _end(code: str) -> None:
    ui_state.classes().end(code, classroom.leader_id())
    st.session_state[Keys.leading] = None


def ask_panel(mine: ClassInfo) -> None:
    """Put the current step's question to the class."""
    sel = ui_state.current_selection()
    if not sel.ok:
        st.warning(sel.message, icon=":material/info:")
        return
    t = ui_state.run_trace(sel)
    step = ui_state.clamp_step(len(t))
    qs = questions(t, step, task=sel.preset.task)
    st.markdown(
        f"**Step {step}** of {sel.preset.title} (move it on the Forward pass page): "
        f"`{t.steps[step].code}`"
    )
    kinds = [q.kind for q in qs]
    ui_state.keep_choice(Keys.ask_kind, kinds)
    st.segmented_control(
        "Question", kinds, key=Keys.ask_kind, format_func=LABELS.get, label_visibility="collapsed"
    )
    q = next(q for q in qs if q.kind == st.session_state.get(Keys.ask_kind, kinds[0]))
    st.markdown(q.prompt)
    st.button(
        "Ask the class",
        key="class_ask",
        type="primary",
        icon=":material/quiz:",
        on_click=guarded(_ask),
        args=(mine.code, step, q, pass_id(sel)),
    )


def _ask(code: str, step: int, q, pid: str) -> None:
    answer = class_answers.label(q, q.answer)
    ui_state.classes().ask(
        code,
        classroom.leader_id(),
        step=step,
        kind=q.kind,
        prompt=q.prompt,
        options=class_answers.options(q),
        pass_id=pid,
        answer=answer,
    )


@st.fragment(run_every=1.0)
def answers_panel(code: str) -> None:
    """The answers to the open question, as they come in; the reveal; the CSV."""
    store = ui_state.classes()
    info = store.get(code)
    q = info.question if info else None
    if q is None:
        st.caption("No question asked yet.")
        return
    got = store.answers(q.id)
    shares = class_answers.distribution(got)
    st.markdown(f"**Asked** (step {q.step}): {q.prompt}")
    st.markdown(
        f'<div class="fpe-headline" data-testid="class-headline">'
        f"{html.escape(class_answers.headline(shares, revealed=q.revealed))}</div>",
        unsafe_allow_html=True,
    )
    st.caption(f"{len(got)} answers")
    if shares:
        colors = ["#2a9d8f" if q.revealed and s.correct else "#8d99ae" for s in shares]
        fig = go.Figure(
            go.Bar(
                x=[s.fraction * 100 for s in shares],
                y=[s.label for s in shares],
                orientation="h",
                marker_color=colors,
                text=[f"{s.fraction:.0%} ({s.count})" for s in shares],
            ),
            layout={
                "height": 60 + 34 * len(shares),
                "margin": dict(l=10, r=10, t=10, b=30),
                "xaxis": {"title": "% of the class", "range": [0, 100]},
                "yaxis": {"autorange": "reversed"},
            },
        )
        st.plotly_chart(fig, key="class_answers_chart")
    if q.revealed:
        st.success(f"Revealed: **{q.answer}**", icon=":material/lightbulb:")
    else:
        st.button(
            "Reveal the answer",
            key="class_reveal",
            icon=":material/visibility:",
            on_click=guarded(_reveal),
            args=(code, q.id),
        )
    every = {x.id: store.answers(x.id) for x in store.questions(code)}
    st.download_button(
        "This class's answers (.csv)",
        class_answers.answers_csv(store.questions(code), every),
        file_name=f"class-{code}-answers.csv",
        mime="text/csv",
        on_click="ignore",
        key="class_csv",
    )


def _reveal(code: str, question_id: int) -> None:
    ui_state.classes().reveal(code, classroom.leader_id(), question_id)
