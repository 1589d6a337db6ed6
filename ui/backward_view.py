"""Pieces of /backward: the target, the code that runs, gradients of a step, saliency, SGD."""

from __future__ import annotations

from typing import Any

import streamlit as st
import torch

from explorer import figures, ops
from explorer.gradients import Backward, step_warning
from explorer.steps import INPUT, Step
from ui import session_weights, show
from ui import state as ui_state
from ui.errors import guarded
from ui.state import TARGETS, Keys, Selection


def target_picker(sel: Selection, logits: torch.Tensor) -> tuple[Any, str]:
    """Widgets for what the loss compares with; returns (target, the code that runs)."""
    if sel.preset.task == "reconstruct":
        st.caption("The autoencoder learns to rebuild its input: the target is the input itself.")
        return None, "loss = F.mse_loss(model(x), x)\nloss.backward()"
    if sel.preset.task == "classify":
        options = [t for t in TARGETS if t != "True label" or sel.label is not None]
        ui_state.keep_choice(Keys.target_kind, options)
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        kind = c1.radio("Target class", options, key=Keys.target_kind, horizontal=True)
        if kind == "Another class":
            target = int(c2.number_input("Class", 0, 9, key=Keys.target_class))
        elif kind == "True label":
            target = int(sel.label)
        else:
            target = int(logits.argmax(1)[0])
        c2.caption(f"target = {target}") if kind != "Another class" else None
        return target, (
            f"target = torch.tensor([{target}])\n"
            "loss = F.cross_entropy(model(x), target)\nloss.backward()"
        )
    value = float(st.number_input("Target value y", key=Keys.target_value, format="%.3f"))
    return torch.tensor([[value]]), (
        f"target = torch.tensor([[{value}]])\nloss = F.mse_loss(model(x), target)\nloss.backward()"
    )


def everything(
    b: Backward, code: str, prediction: int | None, train: bool, key: tuple | None
) -> None:
    """The code that ran, the loss, the graph beside the chosen step's gradients, parameter
    gradients and saliency. ``key`` (``ui_state.backward_key``) names the backward pass when
    its figures may be shared between sessions (None: not)."""
    if code:  # None: the page showed it already, above the numbers
        st.code(code, language="python")
    m1, m2, m3 = st.columns(3)
    m1.metric("Loss", f"{b.loss:.4f}", help=b.loss_name)
    if prediction is not None:
        m2.metric("Prediction", str(prediction))
    m3.metric("Mode", "train" if train else "eval")

    n = len(b.trace.steps)
    i = ui_state.clamp(Keys.grad_step, 0, n - 1)
    graph(b, i)
    i = st.selectbox("Step", range(n), key=Keys.grad_step, format_func=lambda k: step_label(b, k))
    step = b.trace.steps[i]
    step_gradients(b, step, key)

    st.subheader("Parameter gradients")
    param_gradients(b, step)
    show.cached_chart(
        key and (*key, "norms"),
        lambda: figures.norms_figure({k: v for k, v in b.grad_norms.items() if isinstance(k, str)}),
        key="norms",
    )

    st.subheader("Saliency: which inputs matter")
    saliency(b, key)


_GRAPH_CSS = """<style>
/* the graph keeps its natural size (labels stay readable) and pans sideways when wider */
.st-key-grad_graph [data-testid="stGraphVizChart"] { overflow-x: auto; }
.st-key-grad_graph [data-testid="stGraphVizChart"] svg { max-width: none; }
</style>"""


def graph(b: Backward, selected: int) -> None:
    """The forward graph across the page in rows, each step shaded by the size of its
    gradient per element (log scale, with the legend), the chosen step framed in blue."""
    rms = figures.grad_rms({k: v for k, v in b.output_grads.items() if isinstance(k, int)})
    with st.container(key="grad_graph"):
        st.html(_GRAPH_CSS)
        st.graphviz_chart(
            figures.flow_dot(b.trace, selected=selected, show_params=True, grad_rms=rms, per_row=4),
            width="content",
        )
        st.html(_legend(figures.grad_shades(rms)))


def _legend(shades: list[figures.Shade]) -> str:
    chips = "".join(
        f'<span style="background:{s.colour};color:{"white" if s.dark else "black"};'
        f'padding:2px 8px;border:1px solid #ccc">{s.low:.1e} – {s.high:.1e}</span>'
        for s in shades
    )
    return (
        '<div style="font-size:0.85rem;display:flex;flex-wrap:wrap;gap:4px;'
        'align-items:center">'
        "<span>Shade: the gradient’s RMS per element, d loss / d the step’s output "
        "(log scale):</span>"
        + chips
        + '<span style="border:4px solid #1565c0;padding:0 8px;margin-left:12px">'
        "the chosen step</span><span>· grey: no gradient reaches it</span></div>"
    )


def step_label(b: Backward, i: int) -> str:
    s = b.trace.steps[i]
    where = f" · {s.module}" if s.module else ""
    return f"{i} · {s.op}{where} → {s.output_shape}"


def step_gradients(b: Backward, step: Step, key: tuple | None = None) -> None:
    """The step's activation next to its gradient, and how the gradient went on to its input.

    ``key`` (``ui_state.backward_key``) names the backward pass when its figures may be
    shared between sessions."""
    key = key and (*key, "step", step.index)
    grad = b.output_grads.get(step.index)
    fn = b.grad_fns.get(step.index, "—")
    st.markdown(
        f"**grad_fn:** `{fn}` · ‖d loss / d output‖ = {b.grad_norms.get(step.index, 0.0):.4g}"
    )
    out = step.output if isinstance(step.output, torch.Tensor) else None
    if grad is None or out is None:
        st.info(
            "No gradient reaches this step's output: the loss does not depend on it "
            "(for example a comparison that only chose a branch)."
        )
        return
    c1, c2 = st.columns(2)
    with c1:
        show.cached_chart(
            key and (*key, "activation"),
            lambda: figures.activation_figure(out, "activation (forward)"),
            key="grad_act",
        )
    with c2:
        show.cached_chart(
            key and (*key, "gradient"),
            lambda: figures.activation_figure(grad, "gradient d loss / d output"),
            key="grad_out",
        )
    parent = next((p for p in step.parents if p != INPUT), None)
    passed = b.output_grads.get(parent) if parent is not None else None
    note = ops.routing(step)
    if note and passed is not None and passed.shape == step.inputs[0].shape:
        st.markdown(f"**How the gradient is routed:** {note}")
        show.cached_chart(
            key and (*key, "routing"),
            lambda: figures.compare_figure(
                grad,
                passed,
                labels=("arrives at the output", "passed back to the input"),
                title=f"{step.op}: gradient in and out",
            ),
            key="grad_routing",
        )


def param_gradients(b: Backward, step: Step) -> None:
    if not step.params:
        st.caption("This step has no parameters of its own.")
        return
    for name in step.params:
        grad = b.param_grads.get(name)
        if grad is None:
            continue
        fig, caption = figures.param_grad_figure(name, grad)
        show.chart(fig, key=f"param_{name}")
        st.caption(caption)


def saliency(b: Backward, key: tuple | None = None) -> None:
    """d loss / d input: which input numbers would change the loss most (``key``: as for
    ``step_gradients``)."""
    if b.input_grad is None:
        return
    c1, c2 = st.columns(2)
    with c1:
        show.cached_chart(
            key and (*key, "input"),
            lambda: figures.activation_figure(b.trace.input, "the input x"),
            key="sal_input",
        )
    with c2:
        show.cached_chart(
            key and (*key, "saliency"),
            lambda: figures.activation_figure(b.input_grad, "saliency: d loss / d x"),
            key="sal_grad",
        )


def sgd_controls(sel: Selection, b: Backward, prediction: Any, target: Any) -> None:
    """One SGD step on this session's copy of the weights, with undo."""
    name = sel.model_name
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
    lr = c1.number_input(
        "Learning rate", min_value=0.0, max_value=10.0, step=0.01, key=Keys.lr, format="%.3f"
    )
    c2.button(
        "Apply one SGD step",
        type="primary",
        on_click=guarded(session_weights.apply_sgd),
        args=(name, b, float(lr), prediction, target),
        key="sgd_apply",
    )
    history = ui_state.sgd_history(name)
    c3.button(
        "Undo",
        on_click=guarded(session_weights.undo_sgd),
        args=(name,),
        disabled=not history,
        key="sgd_undo",
    )
    c4.button(
        "Reset",
        on_click=guarded(session_weights.reset_weights),
        args=(name,),
        disabled=not history,
        key="sgd_reset",
    )
    st.caption(
        "w ← w − lr · ∂loss/∂w, on this session's copy of the weights only: every "
        "other student keeps the trained model."
    )
    if history:
        last = history[-1]
        st.markdown(
            f"After {len(history)} step(s): loss **{last.loss:.4f} → {b.loss:.4f}**"
            + (
                f", prediction **{last.prediction} → {prediction}**"
                if prediction is not None
                else ""
            )
        )
        if warning := step_warning(last.loss, b.loss, last.lr):
            st.warning(warning, icon=":material/warning:")
