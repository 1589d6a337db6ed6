"""Pieces of /code: the student's editor, running it in the sandbox, errors as teaching moments."""

from __future__ import annotations

import streamlit as st
import torch

from explorer import ui_state
from explorer.sandbox import TEMPLATES, CodeRun, SandboxError, run_user_backward, run_user_code
from explorer.ui_state import Selection

RUNS = "code_runs"  # (source, input, mode, seed) -> CodeRun, so moving a slider re-runs nothing


def editor() -> tuple[str, str]:
    """The template picker and the code; returns (template name, source)."""
    name = st.radio("Start from", list(TEMPLATES), horizontal=True, key="code_template",
                    format_func=lambda n: TEMPLATES[n].class_name)
    source = st.text_area("Your model (edit `__init__` and `forward()`, then run)",
                          TEMPLATES[name].source, height=420, key=f"code_source_{name}")
    return name, source


def input_for(name: str, sel: Selection) -> tuple[torch.Tensor, str]:
    """The sidebar's input when it fits the template, else the template's own; and a note."""
    template = TEMPLATES[name]
    default = template.default_input()
    if sel.ok and sel.x is not None and tuple(sel.x.shape[1:]) == tuple(default.shape[1:]):
        return sel.x, f"Input: the sidebar's {sel.source.lower()} input {tuple(sel.x.shape)}."
    return default, (f"Input: {tuple(default.shape)}, the tutorial's example (the sidebar's "
                     f"input does not fit {template.class_name}).")


def run(source: str, x: torch.Tensor, sel: Selection) -> CodeRun | None:
    """Run (or recall) the student's code in the sandbox; None until they press Run."""
    key = (source, x.numpy().tobytes(), tuple(x.shape), sel.train, sel.seed)
    runs: dict = st.session_state.setdefault(RUNS, {})
    if st.button("Run forward()", type="primary", icon=":material/play_arrow:", key="code_run"):
        try:
            with st.spinner("Running your code in a separate worker..."):
                runs.clear()  # keep one result per session: they can be large
                runs[key] = run_user_code(source, x, train=sel.train, seed=sel.seed)
        except SandboxError as err:
            st.error(err.message, icon=":material/block:")
            return None
    return runs.get(key)


def show_error(result: CodeRun) -> None:
    err = result.error
    st.error(f"**{err.type}** at line {err.line}: {err.message}" if err.line else
             f"**{err.type}**: {err.message}", icon=":material/error:")
    st.code(err.describe(), language=None)
    if err.hint:
        st.info(err.hint, icon=":material/lightbulb:")


def printed(result: CodeRun) -> None:
    if result.printed:
        with st.expander("What your code printed"):
            st.code(result.printed + ("\n…(cut)" if result.printed_truncated else ""),
                    language=None)


def backward_section(source: str, x: torch.Tensor, sel: Selection, result: CodeRun) -> None:
    """loss.backward() on the student's model, in the sandbox too."""
    out = result.trace.output
    classify = isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[1] > 1
    target = int(out.argmax(1)[0]) if classify else None
    if not classify:
        st.caption("The loss compares the output with a typed target of the same shape.")
        value = float(st.number_input("Target value", value=1.0, key="code_target"))
        target = torch.full_like(out, value)
    if st.button("Run loss.backward()", key="code_backward", icon=":material/undo:"):
        try:
            back = run_user_backward(source, x, target, train=sel.train, seed=sel.seed)
        except SandboxError as err:
            st.error(err.message)
            return
        if back.error is not None:
            show_error(back)
            return
        st.session_state["code_backward_result"] = back.backward
    b = st.session_state.get("code_backward_result")
    if b is not None and len(b.trace.steps) == len(result.trace.steps):
        st.metric("Loss", f"{b.loss:.4f}", help=f"{b.loss_name}, target {target}")
        from ui import backward_view  # the same gradient view as /backward

        i = ui_state.clamp("code_grad_step", 0, len(b.trace.steps) - 1)
        st.selectbox("Step", range(len(b.trace.steps)), key="code_grad_step",
                     format_func=lambda k: backward_view.step_label(b, k))
        backward_view.step_gradients(b, b.trace.steps[i])
