"""Predict, then reveal, on /forward: with "Predict first" on, a step stays hidden until the
student answers its question (or skips); then the answer is marked and explained."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

from explorer.gradients import Backward
from explorer.questions import LABELS, NO, YES, Question, gradient_questions, questions
from explorer.steps import Trace
from ui.errors import guarded
from ui.state import Keys, Selection

RESULTS = "predict_results"  # (pass id, step) -> Result, for this session


@dataclass(frozen=True)
class Result:
    kind: str
    correct: bool | None  # None: skipped
    feedback: str


def switch(caption: str = "") -> bool:
    """One row: ``caption``, the "Predict first" toggle and the session's running score."""
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        if caption:
            st.caption(caption, width="content")
        on = st.toggle(
            "Predict first",
            key=Keys.predict,
            width="content",
            help="Each step stays hidden until you say what you expect it to do.",
        )
        answered = [r for r in st.session_state.get(RESULTS, {}).values() if r.correct is not None]
        if answered:
            right = sum(r.correct for r in answered)
            st.markdown(f"**Score: {right} of {len(answered)}** predictions right", width="content")
    return bool(on)


def pass_id(sel: Selection) -> str:
    """Which pass the answers belong to: a new input, mode or network starts afresh."""
    x = sel.x.detach().contiguous().numpy().tobytes() if sel.x is not None else b""
    h = hashlib.blake2b(x, digest_size=8)
    h.update(
        repr((sel.model_name, sel.train, sel.seed, sorted(sel.forward_kwargs.items()))).encode()
    )
    return h.hexdigest()


def hidden(sel: Selection, index: int | str) -> bool:
    """Is step ``index`` still to be predicted?"""
    return bool(st.session_state.get(Keys.predict)) and (
        pass_id(sel),
        index,
    ) not in st.session_state.get(RESULTS, {})


def revealed_steps(sel: Selection, n: int) -> set[int]:
    results = st.session_state.get(RESULTS, {})
    pid = pass_id(sel)
    return {i for i in range(n) if (pid, i) in results}


def ask(t: Trace, sel: Selection, index: int) -> None:
    """The step's questions: pick one, answer it (or skip); answering reveals the step."""
    st.markdown("#### Predict first")
    st.caption("What will this line do? Answer, then the step is revealed.")
    _ask(questions(t, index, task=sel.preset.task), sel, index)


def backward_slot(target) -> str:
    """The answers about one backward pass: one per target."""
    return f"backward {target.tolist() if hasattr(target, 'tolist') else target}"


def ask_backward(b: Backward, sel: Selection, slot: str) -> bool:
    """Before the gradients: their sign and size. False when there is nothing to ask."""
    qs = gradient_questions(b)
    if not qs:
        return False
    st.markdown("#### Predict first")
    st.caption(
        "`loss.backward()` has run. What will the gradients look like? Answer, then "
        "they are revealed."
    )
    _ask(qs, sel, slot)
    return True


def _ask(qs: list[Question], sel: Selection, index: int | str) -> None:
    kinds = [q.kind for q in qs]
    kind_key = f"predict_kind_{index}"
    if st.session_state.get(kind_key) not in kinds:
        st.session_state[kind_key] = kinds[0]
    if len(qs) > 1:
        st.segmented_control(
            "Question", kinds, key=kind_key, format_func=LABELS.get, label_visibility="collapsed"
        )
    q = next(q for q in qs if q.kind == (st.session_state.get(kind_key) or kinds[0]))
    st.markdown(q.prompt)
    _answer_widget(q, sel, index)
    st.button(
        "Skip: just show me",
        key=f"predict_skip_{index}",
        on_click=guarded(_record),
        args=(sel, index, Result(q.kind, None, f"Skipped. {q.why}")),
    )


def feedback(sel: Selection, index: int | str) -> None:
    """The graded answer above a revealed step."""
    result = st.session_state.get(RESULTS, {}).get((pass_id(sel), index))
    if result is None:
        return
    show = {True: st.success, False: st.warning, None: st.info}[result.correct]
    show(result.feedback, icon=":material/lightbulb:")


def _answer_widget(q: Question, sel: Selection, index: int | str) -> None:
    key = f"predict_{q.kind}_{index}"
    if q.kind == "winner":
        window = q.context["window"]
        for r, row in enumerate(window):
            cols = st.columns(len(row))
            for c, value in enumerate(row):
                cols[c].button(
                    f"{value:.4f}",
                    key=f"{key}_{r}_{c}",
                    width="stretch",
                    on_click=guarded(_submit),
                    args=(q, (r, c), sel, index),
                )
        return
    if q.options and set(q.options) <= {YES, NO}:
        c1, c2, _ = st.columns([1, 1, 2])
        c1.button(
            "Yes",
            key=f"{key}_yes",
            width="stretch",
            on_click=guarded(_submit),
            args=(q, YES, sel, index),
        )
        c2.button(
            "No",
            key=f"{key}_no",
            width="stretch",
            on_click=guarded(_submit),
            args=(q, NO, sel, index),
        )
        return
    if q.options:
        st.pills("Your pick", [str(o) for o in q.options], key=key)
    else:
        st.text_input(
            "Your answer",
            key=key,
            placeholder={"shape": "1, 32, 28, 28", "zeros": "40%", "value": "0.1234"}.get(
                q.kind, ""
            ),
        )
    error = st.session_state.get(f"{key}_error")
    if error:
        st.error(error, icon=":material/edit:")
    st.button(
        "Check",
        key=f"{key}_check",
        type="primary",
        on_click=guarded(_submit_typed),
        args=(q, key, sel, index),
    )


def _submit_typed(q: Question, key: str, sel: Selection, index: int | str) -> None:
    response = st.session_state.get(key)
    if response in (None, ""):
        st.session_state[f"{key}_error"] = "Give an answer first (or Skip)."
        return
    _submit(q, response, sel, index, error_key=f"{key}_error")


def _submit(
    q: Question, response, sel: Selection, index: int | str, error_key: str | None = None
) -> None:
    try:
        grade = q.grade(response)
    except ValueError as err:  # unreadable: say what to type; nothing is lost
        if error_key:
            st.session_state[error_key] = str(err)
        return
    if error_key:
        st.session_state.pop(error_key, None)
    _record(sel, index, Result(q.kind, grade.correct, grade.feedback))


def _record(sel: Selection, index: int | str, result: Result) -> None:
    st.session_state.setdefault(RESULTS, {})[(pass_id(sel), index)] = result
