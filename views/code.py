"""/code: write your own forward(), run it in a sandbox, and step through it like /forward."""

import streamlit as st

from explorer import figures
from explorer.sandbox import HOW_TO_ENABLE, TEMPLATES, code_allowed
from ui import code_backward, code_view, show, step_view
from ui import state as ui_state

st.title("Trace your own forward()")
st.caption(
    "forward() is plain Python: add a skip connection, an `if` on the data, a print — "
    "then watch every op it runs, tied to your own lines."
)
if not code_allowed():
    st.info(HOW_TO_ENABLE, icon=":material/lock:")
    st.code(TEMPLATES["simple_nn"].source, language="python")  # to read, not to run
    st.stop()

sel = ui_state.current_selection()
name, source = code_view.editor()
kwargs = code_view.arguments(name, source)
x, note = code_view.input_for(name, sel)
st.caption(note + f" {'train' if sel.train else 'eval'} mode, dropout seed {sel.seed}.")
result = code_view.run(name, source, x, sel, kwargs)
if result is None:
    st.stop()
if result.error is not None:
    code_view.show_error(result)
    code_view.printed(result)
    st.stop()

t = result.trace
code_view.weights_note(name, result)
code_view.walls_note(result)
code_view.printed(result)
step_view.overview(t, ui_state.clamp("code_step", 0, len(t.steps) - 1))
i = st.slider("Step", 0, len(t.steps) - 1, key="code_step") if len(t.steps) > 1 else 0
step = t.steps[i]
left, right = st.columns([3, 2], gap="large")
with left:
    step_view.source(step)
with right:
    step_view.facts(step)
show.chart(figures.step_figure(step), key="code_figure")
step_view.stats_table(step)
code_backward.send_button(source, x, sel, result, kwargs)
