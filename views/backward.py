"""/backward: run loss.backward() and see every gradient next to the forward graph."""

import streamlit as st

from explorer.explain import overflow_note
from ui import backward_view, code_backward, gradient_numbers, predict_view
from ui import state as ui_state

st.title("The backward pass")
st.caption(
    "The tutorials stop at “autograd handles the backward pass”. Here it is: the "
    "gradient of the loss with respect to every step and every weight."
)
if code_backward.sent_code() is not None:  # a student's own model, sent from /code
    code_backward.backward_page()
    st.stop()

sel = ui_state.current_selection()
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
if note := overflow_note(b.trace):
    st.warning(note, icon=":material/warning:")
slot = predict_view.backward_slot(target)
predicting = predict_view.switch()
st.code(code, language="python")
if predicting and predict_view.hidden(sel, slot) and predict_view.ask_backward(b, sel, slot):
    st.stop()
predict_view.feedback(sel, slot)
prediction = int(b.trace.output.argmax(1)[0]) if sel.preset.task == "classify" else None
gradient_numbers.small_backward(b)
backward_view.everything(b, None, prediction, sel.train, ui_state.backward_key(sel, target))

st.subheader("Take a step downhill")
backward_view.sgd_controls(sel, b, prediction, target)
