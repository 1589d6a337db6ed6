"""/forward: step through the forward pass, op by op, each step tied to its line of code."""

import streamlit as st

from explorer import figures
from ui import classroom, numbers_view, predict_view, show, step_view
from ui import state as ui_state
from ui.errors import guarded
from ui.state import Keys

sel = ui_state.current_selection()
st.title("The forward pass, step by step")
if not sel.ok:
    st.warning(sel.message, icon=":material/info:")
    st.stop()

t = ui_state.run_trace(sel)
if note := ui_state.overflow_note(sel, t):
    st.warning(note, icon=":material/warning:")
n = len(t)
step_view.take_played_step()
current = ui_state.clamp_step(n)
mode = "train" if sel.train else "eval"
predicting = predict_view.switch(
    f"{sel.preset.title} · {mode} mode · dropout seed {sel.seed} · {n} steps"
    + (f" · a sample of a {sel.label}" if sel.label is not None else "")
)
known = predict_view.revealed_steps(sel, n) if predicting else None
step_view.strip(
    t,
    current,
    set() if known is None else set(range(n)) - known,
    classify=sel.preset.task == "classify",
    pass_key=ui_state.pass_key(sel),
)
if not ui_state.get(Keys.projector):  # every step's shape, as the tutorials print them
    with st.container(key="overview"):
        step_view.overview(t, current, known)

# A row that keeps the buttons' labels whole at any width; the slider takes the rest.
led = classroom.following()  # the teacher moves the step
with st.container(horizontal=True, vertical_alignment="bottom", key="stepper"):
    st.button(
        "◀ Prev",
        on_click=guarded(ui_state.move_step),
        args=(-1, n),
        disabled=led or current == 0,
        key="prev_step",
        width="content",
    )
    if n > 1:
        st.slider(
            "Step",
            0,
            n - 1,
            key=Keys.step,
            width="stretch",
            label_visibility="collapsed",
            disabled=led,
        )
    st.button(
        "Next ▶",
        on_click=guarded(ui_state.move_step),
        args=(1, n),
        disabled=led or current == n - 1,
        key="next_step",
        width="content",
    )
    step_view.play(n, allowed=not predicting and not led)
step = t.steps[current]
ui_state.publish_link(with_step=True)  # ?step= too: a copied link reopens this step
if predict_view.hidden(sel, current):  # the line is shown, what it does is not, yet
    code_col, ask_col = st.container(key="stack_ask").columns([3, 2], gap="large")
    with code_col:
        step_view.source(step, t)
    with ask_col:
        predict_view.ask(t, sel, current)
    st.stop()
predict_view.feedback(sel, current)

# On a projector the line and its picture share the first screen; the words come below.
projector = bool(ui_state.get(Keys.projector))
code_col, side_col = st.container(key="stack_code").columns(
    [1, 1] if projector else [3, 2], gap="large"
)
picture, words = (side_col, st.container()) if projector else (st.container(), side_col)
with code_col:
    step_view.source(step, t)
    numbers_view.printed(step)
with words:
    step_view.facts(step)

key = ui_state.pass_key(sel)
with picture:
    figure_slot = st.container()  # the picture first, its channel picker under it
    channel = step_view.channel_choice(step)
    with figure_slot:
        net = numbers_view.small_network(t, step)
        numbers_view.reconstruction(t, step, sel.preset)
        if not numbers_view.last_step(t, step, sel.preset) and net is None:
            show.cached_chart(
                key and (*key, "step", current, channel),
                lambda: figures.step_figure(step, channel=channel),
                key="step_figure",
            )
if numbers_view.small_weights(step):
    numbers_view.weights(step, unit_formula=net is None)
numbers_view.batch_statistics(step)
step_view.stats_table(step, key)

# Expanders that track their state: their figures are built only while open.
units = st.expander("Click a unit: how was it computed?", key=Keys.units_open, on_change="rerun")
if units.open:
    with units:
        step_view.unit_explorer(step, channel, key)

if step.op == "linear" and not numbers_view.small_weights(step):
    weights = st.expander(
        "The weights W and b of this layer", key=Keys.weights_open, on_change="rerun"
    )
    if weights.open:
        with weights:
            numbers_view.weights(step)

downloads = st.expander(
    "Download this pass", icon=":material/download:", key=Keys.downloads_open, on_change="rerun"
)
if downloads.open:
    with downloads:
        step_view.downloads(sel, t)

compare = st.expander(
    "Train vs eval: the same input in both modes", key=Keys.compare_open, on_change="rerun"
)
if compare.open:
    with compare:
        step_view.train_vs_eval(
            ui_state.run_trace(sel, train=True),
            ui_state.run_trace(sel, train=False),
            ui_state.pass_key(sel, train=True),
        )
step_view.shown(current)  # last: Play moves on only from a step the page has drawn
