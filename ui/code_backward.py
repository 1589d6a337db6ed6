"""A student's model sent from /code to /backward: the backward pass and SGD run in the sandbox.

The controls are the presets' (``ui.backward_view``): the same target picker rules, the same
learning rate (``Keys.lr``), Apply / Undo / Reset, and the same warning when a step collapses
or explodes the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st
import torch

from explorer.gradients import step_warning
from explorer.sandbox import (
    CodeRun,
    SandboxError,
    apply_sgd,
    code_allowed,
    run_user_backward,
    run_user_code,
)
from ui import backward_view
from ui.code_view import in_line, show_error
from ui.errors import guarded
from ui.state import Keys, Selection

SENT = "code_sent"  # the SentCode /backward shows instead of the sidebar's model
BACKWARDS = "code_backwards"  # (target, steps) -> CodeRun, so moving a selectbox re-runs nothing


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
    forward_kwargs: dict[str, Any] = field(default_factory=dict)
    # the SGD steps taken on /backward, newest last: (weights, output, loss) before each
    history: list[tuple[dict[str, torch.Tensor], torch.Tensor, float, float]] = field(
        default_factory=list
    )

    @property
    def steps(self) -> int:
        return len(self.history)


def send_button(
    source: str, x: torch.Tensor, sel: Selection, result: CodeRun, kwargs: dict[str, Any]
) -> None:
    """Send the model that just ran, with its weights and input, to /backward."""
    if st.button(
        "Run loss.backward() on it: open the backward pass", key="code_send", icon=":material/undo:"
    ):
        st.session_state[SENT] = SentCode(
            source,
            result.class_name,
            x.clone(),
            sel.train,
            sel.seed,
            dict(result.state_dict),
            result.trace.output,
            dict(kwargs),
        )
        st.session_state.pop(BACKWARDS, None)
        st.switch_page("views/backward.py")


def sent_code() -> SentCode | None:
    return st.session_state.get(SENT) if code_allowed() else None


def unsend() -> None:
    """Button callback: back to the sidebar's model on /backward."""
    st.session_state.pop(SENT, None)


def backward_page() -> None:
    """/backward for a model sent from /code: the backward pass runs in the sandbox too."""
    sent = sent_code()
    assert sent is not None
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.info(
        f"Your `{sent.class_name}` from **Your code**, on input {tuple(sent.x.shape)}, "
        f"{'train' if sent.train else 'eval'} mode"
        + (f", after {sent.steps} SGD step(s)." if sent.steps else "."),
        icon=":material/code:",
    )
    c2.button(
        "Use the sidebar's model", key="code_unsend", width="stretch", on_click=guarded(unsend)
    )
    target, code = _code_target(sent)
    exact = (
        (tuple(target.shape), tuple(target.flatten().tolist()))
        if isinstance(target, torch.Tensor)
        else target
    )
    key = (exact, sent.steps, id(sent.weights))
    runs: dict = st.session_state.setdefault(BACKWARDS, {})
    if key not in runs:
        try:
            with in_line("Running loss.backward() on your model in a separate worker...") as share:
                runs.clear()
                runs[key] = run_user_backward(
                    sent.source,
                    sent.x,
                    target,
                    class_name=sent.class_name,
                    train=sent.train,
                    seed=sent.seed,
                    weights=sent.weights,
                    forward_kwargs=sent.forward_kwargs,
                    **share,
                )
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
    _sgd_controls(sent, back, b.loss)


def _sgd_controls(sent: SentCode, back: CodeRun, loss: float) -> None:
    """The presets' controls: learning rate, Apply one SGD step, Undo, Reset."""
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
    lr = c1.number_input(
        "Learning rate", min_value=0.0, max_value=10.0, step=0.01, key=Keys.lr, format="%.3f"
    )
    if c2.button("Apply one SGD step", type="primary", key="code_sgd"):
        weights = apply_sgd(back.state_dict, back.backward.param_grads, float(lr))
        try:  # the new weights' output, for the target picker
            with in_line("Running your model with the new weights...") as share:
                run = run_user_code(
                    sent.source,
                    sent.x,
                    class_name=sent.class_name,
                    train=sent.train,
                    seed=sent.seed,
                    weights=weights,
                    forward_kwargs=sent.forward_kwargs,
                    **share,
                )
        except SandboxError as err:
            st.error(err.message, icon=":material/block:")
            return
        if run.error is not None:
            show_error(run)
            return
        sent.history.append((sent.weights, sent.output, loss, float(lr)))
        sent.weights, sent.output = weights, run.trace.output
        st.rerun()
    c3.button(
        "Undo", key="code_undo", disabled=not sent.history, on_click=guarded(_undo), args=(sent, 1)
    )
    c4.button(
        "Reset",
        key="code_reset",
        disabled=not sent.history,
        on_click=guarded(_undo),
        args=(sent, len(sent.history)),
    )
    st.caption(
        "w ← w − lr · ∂loss/∂w on this session's copy of your model's weights; "
        "Your code's page keeps the weights it built."
    )
    if sent.history:
        _, _, before, step_lr = sent.history[-1]
        st.markdown(f"After {sent.steps} step(s): loss **{before:.4f} → {loss:.4f}**")
        if warning := step_warning(before, loss, step_lr):
            st.warning(warning, icon=":material/warning:")


def _undo(sent: SentCode, steps: int) -> None:
    """Button callback: take back the last ``steps`` SGD steps."""
    for _ in range(min(steps, len(sent.history))):
        sent.weights, sent.output, _, _ = sent.history.pop()


def _classifies(out: torch.Tensor) -> bool:
    return isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[1] > 1


def _code_target(sent: SentCode) -> tuple[object, str]:
    """What the loss compares with, chosen from the model's output."""
    out = sent.output
    if _classifies(out):
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        kind = c1.radio(
            "Target class",
            ["Predicted class", "Another class"],
            horizontal=True,
            key="code_target_kind",
        )
        if kind == "Another class":
            target = int(c2.number_input("Class", 0, out.shape[1] - 1, key="code_target_class"))
        else:
            target = int(out.argmax(1)[0])
            c2.caption(f"target = {target}")
        return target, (
            f"target = torch.tensor([{target}])\n"
            "loss = F.cross_entropy(model(x), target)\nloss.backward()"
        )
    value = float(st.number_input("Target value y", value=1.0, format="%.3f", key="code_target"))
    shape = tuple(out.shape)
    return (
        torch.full(shape, value),
        f"target = torch.full({shape}, {value})\n"
        "loss = F.mse_loss(model(x), target)\nloss.backward()",
    )
