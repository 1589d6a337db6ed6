"""Pieces of /code: the student's editor, running it in the sandbox, errors as teaching moments."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import streamlit as st
import torch

from explorer import ui_state
from explorer.sandbox import (
    TEMPLATES,
    CodeRun,
    SandboxError,
    apply_sgd,
    code_allowed,
    run_user_backward,
    run_user_code,
)
from explorer.ui_state import Selection
from ui import backward_view

RUNS = "code_runs"  # (source, input, mode, seed) -> CodeRun, so moving a slider re-runs nothing
OWNER = "code_owner"  # this session's name in the workers' line: one run of its own at a time


@contextmanager
def _in_line(doing: str) -> Iterator[dict[str, Any]]:
    """A spinner for the run, and its place in line while it waits for a free worker; yields
    the sandbox's ``owner``/``on_queue`` arguments."""
    note = st.empty()

    def on_queue(place: int) -> None:
        note.info(f"Waiting for a free worker: {_ordinal(place)} in line.",
                  icon=":material/hourglass_top:")

    try:
        with st.spinner(doing):
            yield {"owner": st.session_state.setdefault(OWNER, uuid.uuid4().hex),
                   "on_queue": on_queue}
    finally:
        note.empty()


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


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


def run(name: str, source: str, x: torch.Tensor, sel: Selection) -> CodeRun | None:
    """Run (or recall) the student's code in the sandbox; None until they press Run.

    The model starts from the trained weights of the template's preset wherever the student's
    layers still fit them (same name and shape), so the tutorial's ImageClassifier reads the
    digit as the MNIST CNN does; a layer they changed starts from its seeded initialisation."""
    key = (name, source, x.numpy().tobytes(), tuple(x.shape), sel.train, sel.seed)
    runs: dict = st.session_state.setdefault(RUNS, {})
    if st.button("Run forward()", type="primary", icon=":material/play_arrow:", key="code_run"):
        weights = ui_state.shared_model(TEMPLATES[name].preset).state_dict()
        try:
            with _in_line("Running your code in a separate worker...") as share:
                runs.clear()  # keep one result per session: they can be large
                runs[key] = run_user_code(source, x, train=sel.train, seed=sel.seed,
                                          weights=weights, **share)
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


def weights_note(name: str, result: CodeRun) -> None:
    """Which weights the run used: the preset's trained ones, and the layers that kept their
    random start because the student changed them."""
    preset = ui_state.preset_of(TEMPLATES[name].preset).title
    if not result.notes:
        st.caption(f"Weights: the trained {preset}'s.")
        return
    st.caption(f"Weights: the trained {preset}'s where your layers fit them; "
               + "; ".join(result.notes) + ".")


def walls_note(result: CodeRun) -> None:
    """Which of the kernel's walls held around the run (they depend on how the server runs)."""
    st.caption("Walls around this run, besides its time and memory limits: "
               + (", ".join(result.isolation) or "none") + ".")


def printed(result: CodeRun) -> None:
    if result.printed:
        with st.expander("What your code printed"):
            st.code(result.printed + ("\n…(cut)" if result.printed_truncated else ""),
                    language=None)


def send_button(source: str, x: torch.Tensor, sel: Selection, result: CodeRun) -> None:
    """Send the model that just ran, with its weights and input, to /backward."""
    if st.button("Run loss.backward() on it: open the backward pass", key="code_send",
                 icon=":material/undo:"):
        st.session_state[SENT] = SentCode(source, result.class_name, x.clone(), sel.train,
                                          sel.seed, dict(result.state_dict),
                                          result.trace.output)
        st.session_state.pop(BACKWARDS, None)
        st.switch_page("views/backward.py")


@dataclass
class SentCode:
    """A student's model sent from /code to /backward: the code, input, mode and weights."""

    source: str
    class_name: str
    x: torch.Tensor
    train: bool
    seed: int
    weights: dict[str, torch.Tensor]  # as the /code run built them; SGD steps replace them
    output: torch.Tensor  # model(x) with these weights: the target picker's choices
    steps: int = 0  # SGD steps taken on /backward


SENT = "code_sent"  # the SentCode /backward shows instead of the sidebar's model
BACKWARDS = "code_backwards"  # (target, steps) -> CodeRun, so moving a selectbox re-runs nothing


def sent_code() -> SentCode | None:
    return st.session_state.get(SENT) if code_allowed() else None


def backward_page() -> None:
    """/backward for a model sent from /code: the backward pass runs in the sandbox too."""
    sent = sent_code()
    assert sent is not None
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.info(f"Your `{sent.class_name}` from **Your code**, on input {tuple(sent.x.shape)}, "
            f"{'train' if sent.train else 'eval'} mode"
            + (f", after {sent.steps} SGD step(s)." if sent.steps else "."),
            icon=":material/code:")
    if c2.button("Use the sidebar's model", key="code_unsend", width="stretch"):
        st.session_state.pop(SENT, None)
        st.rerun()
    target, code = _code_target(sent)
    exact = (tuple(target.shape), tuple(target.flatten().tolist())) \
        if isinstance(target, torch.Tensor) else target
    key = (exact, sent.steps)
    runs: dict = st.session_state.setdefault(BACKWARDS, {})
    if key not in runs:
        try:
            with _in_line("Running loss.backward() on your model in a separate worker...") \
                    as share:
                runs.clear()
                runs[key] = run_user_backward(sent.source, sent.x, target,
                                              class_name=sent.class_name, train=sent.train,
                                              seed=sent.seed, weights=sent.weights, **share)
        except SandboxError as err:
            st.error(err.message, icon=":material/block:")
            return
    back = runs[key]
    if back.error is not None:
        show_error(back)
        return
    b = back.backward
    out = b.trace.output
    prediction = int(out.argmax(1)[0]) if _classifies(out) else None
    backward_view.everything(b, code, prediction, sent.train, None)
    st.subheader("Take a step downhill")
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    lr = c1.number_input("Learning rate", 0.0, 10.0, 0.01, step=0.01, format="%.3f",
                         key="code_lr")
    if c2.button("Apply one SGD step", type="primary", key="code_sgd"):
        weights = apply_sgd(back.state_dict, b.param_grads, float(lr))
        try:  # the new weights' output, for the target picker
            with _in_line("Running your model with the new weights...") as share:
                run = run_user_code(sent.source, sent.x, class_name=sent.class_name,
                                    train=sent.train, seed=sent.seed, weights=weights, **share)
        except SandboxError as err:
            st.error(err.message, icon=":material/block:")
            return
        if run.error is not None:
            show_error(run)
            return
        sent.weights, sent.output, sent.steps = weights, run.trace.output, sent.steps + 1
        st.rerun()
    c3.caption(f"{sent.steps} step(s)")
    st.caption("w ← w − lr · ∂loss/∂w on this session's copy of your model's weights; "
               "Your code's page keeps the weights it built.")


def _classifies(out: torch.Tensor) -> bool:
    return isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[1] > 1


def _code_target(sent: SentCode) -> tuple[object, str]:
    """What the loss compares with, chosen from the model's output."""
    out = sent.output
    if _classifies(out):
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        kind = c1.radio("Target class", ["Predicted class", "Another class"], horizontal=True,
                        key="code_target_kind")
        if kind == "Another class":
            target = int(c2.number_input("Class", 0, out.shape[1] - 1, key="code_target_class"))
        else:
            target = int(out.argmax(1)[0])
            c2.caption(f"target = {target}")
        return target, (f"target = torch.tensor([{target}])\n"
                        "loss = F.cross_entropy(model(x), target)\nloss.backward()")
    value = float(st.number_input("Target value y", value=1.0, format="%.3f",
                                  key="code_target"))
    shape = tuple(out.shape)
    return (torch.full(shape, value), f"target = torch.full({shape}, {value})\n"
            "loss = F.mse_loss(model(x), target)\nloss.backward()")
