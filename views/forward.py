"""/forward: step through the forward pass, op by op, each step tied to its line of code."""

import streamlit as st

from explorer import figures, ui_state
from explorer.explain import overflow_note
from explorer.ui_state import Keys
from ui import classroom, numbers_view, predict_view, show, step_view
from ui.errors import guarded

sel = ui_state.current_selection()
st.title("The forward pass, step by step")
if not sel.ok:
    st.warning(sel.message, icon=":material/info:")
    st.stop()

t = ui_state.run_trace(sel)
if note := overflow_note(t):
    st.warning(note, icon=":material/warning:")
n = len(t)
current = ui_state.clamp_step(n)
mode = "train" if sel.train else "eval"
st.caption(f"{sel.preset.title} · {mode} mode · dropout seed {sel.seed} · {n} steps"
           + (f" · a sample of a {sel.label}" if sel.label is not None else ""))
predicting = predict_view.switch()
step_view.overview(t, current, predict_view.revealed_steps(sel, n) if predicting else None)

led = classroom.following()  # the teacher moves the step
prev, slider, nxt = st.columns([1, 8, 1], vertical_alignment="bottom")
prev.button("◀ Prev", on_click=guarded(ui_state.move_step), args=(-1, n), disabled=led or current == 0,
            key="prev_step", width="stretch")
slider.slider("Step", 0, n - 1, key=Keys.step, disabled=led) if n > 1 else None
nxt.button("Next ▶", on_click=guarded(ui_state.move_step), args=(1, n), disabled=led or current == n - 1,
           key="next_step", width="stretch")
step = t.steps[current]
ui_state.publish_link(with_step=True)  # ?step= too: a copied link reopens this step
if predict_view.hidden(sel, current):  # the line is shown, what it does is not, yet
    code_col, ask_col = st.columns([3, 2], gap="large")
    with code_col:
        step_view.source(step)
    with ask_col:
        predict_view.ask(t, sel, current)
    st.stop()
predict_view.feedback(sel, current)

code_col, facts_col = st.columns([3, 2], gap="large")
with code_col:
    step_view.source(step)
    numbers_view.printed(step)
with facts_col:
    step_view.facts(step)

channel = step_view.channel_choice(step)
key = ui_state.pass_key(sel)
net = numbers_view.small_network(t, step)
if not numbers_view.last_step(t, step, sel.preset) and net is None:
    show.cached_chart(key and (*key, "step", current, channel),
                      lambda: figures.step_figure(step, channel=channel), key="step_figure")
if numbers_view.small_weights(step):
    numbers_view.weights(step, unit_formula=net is None)
step_view.stats_table(step)

# Expanders that track their state: their figures are built only while open.
units = st.expander("Click a unit: how was it computed?", key=Keys.units_open, on_change="rerun")
if units.open:
    with units:
        step_view.unit_explorer(step, channel, key)

if step.op == "linear" and not numbers_view.small_weights(step):
    weights = st.expander("The weights W and b of this layer", key=Keys.weights_open,
                          on_change="rerun")
    if weights.open:
        with weights:
            numbers_view.weights(step)

with st.expander("Download this pass", icon=":material/download:"):
    step_view.downloads(sel, t)

compare = st.expander("Train vs eval: the same input in both modes", key=Keys.compare_open,
                      on_change="rerun")
if compare.open:
    with compare:
        step_view.train_vs_eval(ui_state.run_trace(sel, train=True),
                                ui_state.run_trace(sel, train=False),
                                ui_state.pass_key(sel, train=True))
