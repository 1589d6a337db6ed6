"""This session's own copy of a model's weights: SGD steps taken on /backward (or replayed from
a link), undo and reset, and the note every page shows while they are not the preset's. The
shared model is never touched."""

from __future__ import annotations

from typing import Any

import streamlit as st
import torch

from explorer.gradients import Backward, sgd_step
from explorer.selection import Selection, SgdStep
from explorer.zoo import Preset
from ui import state as ui_state
from ui.errors import guarded
from ui.state import Keys


def banner() -> None:
    """Replay the SGD steps a link brought, then say how many steps this session's copy of the
    chosen model has taken, with Reset (every page: /forward and /draw use these weights)."""
    if ui_state.get(Keys.sgd_replay):
        try:
            replay_sgd(ui_state.current_selection())
        except ValueError as err:
            st.warning(f"The link's SGD steps could not be replayed: {err}", icon=":material/link:")
    name = ui_state.get(Keys.model)
    steps = len(ui_state.sgd_history(name))
    if not steps:
        return
    c1, c2 = st.columns([6, 1], vertical_alignment="center")
    c1.info(
        f"**{steps} SGD step{'s' if steps != 1 else ''} applied** to this session's copy "
        f"of {ui_state.preset_of(name).title}: every page shows these weights, not the "
        "trained ones (the rest of the class still has those).",
        icon=":material/model_training:",
    )
    c2.button(
        "Reset",
        key="sgd_banner_reset",
        on_click=guarded(reset_weights),
        args=(name,),
        help="Back to the trained weights",
        width="stretch",
        icon=":material/restart_alt:",
    )


def apply_sgd(model: str, result: Backward, lr: float, prediction: Any, target: Any) -> None:
    """Button callback: one SGD step on this session's copy of the weights (the shared model
    is never touched); the step before is kept for undo, and with its target for links."""
    current = ui_state.session_params(model)
    new = sgd_step(ui_state.model_of(model), result.param_grads, lr, params=current)
    st.session_state[Keys.history(model)] = [
        *ui_state.sgd_history(model),
        SgdStep(current, result.loss, prediction, lr, _plain(target)),
    ]
    st.session_state[Keys.params(model)] = new


def _plain(target: Any) -> float | None:
    """A target as a link writes it: the class, the one value aimed for, or None (the input)."""
    if isinstance(target, torch.Tensor):
        return float(target.flatten()[0])
    return None if target is None else float(target)


def target_of(preset: Preset, value: float | None) -> Any:
    """The target ``run_backward`` takes for a link's plain one (``_plain`` reversed)."""
    if preset.task == "classify":
        return int(value) if value is not None else None
    if preset.task == "reconstruct":
        return None
    return torch.tensor([[float(value if value is not None else 1.0)]])


def replay_sgd(sel: Selection) -> int:
    """Take the SGD steps a link asked for (once, now that the input is known); how many."""
    steps = st.session_state.pop(Keys.sgd_replay, None)
    if not steps or not sel.ok:
        return 0
    reset_weights(sel.model_name)
    for lr, value in steps:
        target = target_of(sel.preset, value)
        logits = ui_state.run_trace(sel).output
        prediction = int(logits.argmax(1)[0]) if sel.preset.task == "classify" else None
        apply_sgd(sel.model_name, ui_state.run_backward(sel, target), lr, prediction, target)
    return len(steps)


def undo_sgd(model: str) -> None:
    history = ui_state.sgd_history(model)
    if history:
        previous = history[-1].before
        st.session_state[Keys.history(model)] = history[:-1]
        if previous is None:
            st.session_state.pop(Keys.params(model), None)
        else:
            st.session_state[Keys.params(model)] = previous


def reset_weights(model: str) -> None:
    st.session_state.pop(Keys.params(model), None)
    st.session_state.pop(Keys.history(model), None)
