"""/backward: run loss.backward() and see every gradient next to the forward graph."""

import streamlit as st

from explorer import figures, ui_state
from explorer.ui_state import Keys
from ui import backward_view, show

sel = ui_state.current_selection()
st.title("The backward pass")
st.caption("The tutorials stop at “autograd handles the backward pass”. Here it is: the "
           "gradient of the loss with respect to every step and every weight.")
if not sel.ok:
    st.warning(sel.message, icon=":material/info:")
    st.stop()

logits = ui_state.run_trace(sel).output
target, code = backward_view.target_picker(sel, logits)
try:
    b = ui_state.run_backward(sel, target)
except ValueError as err:
    st.warning(str(err), icon=":material/info:")
    st.stop()
prediction = int(b.trace.output.argmax(1)[0]) if sel.preset.task == "classify" else None

st.code(code, language="python")
m1, m2, m3 = st.columns(3)
m1.metric("Loss", f"{b.loss:.4f}", help=b.loss_name)
if prediction is not None:
    m2.metric("Prediction", str(prediction))
m3.metric("Mode", "train" if sel.train else "eval")

n = len(b.trace.steps)
ui_state.clamp(Keys.grad_step, 0, n - 1)
graph_col, detail_col = st.columns([2, 3], gap="large")
with detail_col:
    i = st.selectbox("Step", range(n), key=Keys.grad_step,
                     format_func=lambda k: backward_view.step_label(b, k))
    step = b.trace.steps[i]
    key = ui_state.backward_key(sel, target)  # figures shared by every session (None: not)
    backward_view.step_gradients(b, step, key)
with graph_col:
    norms = {k: v for k, v in b.grad_norms.items() if isinstance(k, int)}
    st.graphviz_chart(figures.flow_dot(b.trace, selected=i, show_params=True, grad_norms=norms))
    st.caption("Darker nodes receive larger gradients.")

st.subheader("Parameter gradients")
backward_view.param_gradients(b, step)
show.cached_chart(key and (*key, "norms"),
                  lambda: figures.norms_figure({k: v for k, v in b.grad_norms.items()
                                                if isinstance(k, str)}), key="norms")

st.subheader("Saliency: which inputs matter")
backward_view.saliency(b, key)

st.subheader("Take a step downhill")
backward_view.sgd_controls(sel, b, prediction)
