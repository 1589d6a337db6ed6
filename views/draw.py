"""/draw: draw a digit, watch it become a 28x28 input, see the prediction after every stroke."""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from explorer import figures
from explorer.digits import digit_stages, to_image
from explorer.mnist import MNIST_MEAN, MNIST_STD
from explorer.verdict import UNSURE_BELOW, verdict
from ui import canvas_touch, classroom, show
from ui import state as ui_state
from ui.errors import guarded
from ui.state import Keys

sel = ui_state.current_selection()
st.title("Draw a digit")
st.caption(
    "White ink on black, like MNIST: one digit, as large as the square. The prediction "
    "updates after every stroke."
)

if sel.preset.input_kind != "image":
    st.warning(
        f"{sel.preset.title} takes typed numbers, not a drawing. Pick an MNIST model "
        "(MLP, CNN, ...) in the sidebar to draw."
    )
    st.stop()


@st.fragment
def canvas_and_prediction() -> None:
    # The canvas keeps its full 280 px (a narrow column clipped its right edge on a tablet);
    # the prediction sits beside it, or below it when the screen is too narrow for both.
    row = st.container(horizontal=True, gap="large")
    left, right = row.container(width=300), row.container(width="stretch")
    with left:
        canvas_touch.allow_touch_everywhere()
        st.space("medium")  # room for the canvas's toolbar when it slides up
        result = st_canvas(
            stroke_width=ui_state.get(Keys.stroke),
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=280,
            width=280,
            drawing_mode="freedraw",
            return_image_data=True,
            key=f"canvas_{ui_state.get(Keys.canvas)}",
            on_change=guarded(ui_state.drawing_changed),
        )
        st.slider("Stroke width", 8, 40, key=Keys.stroke)
        st.button("Clear", on_click=guarded(ui_state.clear_drawing), icon=":material/delete:")
    fresh = ui_state.remember_drawing(result.image_data, canvas=ui_state.get(Keys.canvas))
    classroom.publish("draw")  # a leading teacher's strokes reach the class (only this reruns)
    if ui_state.sidebar_is_stale():
        st.rerun(scope="app")
    image = ui_state.last_drawing()
    with right:
        if image is None:
            st.info("Draw a digit on the black square: white ink, one digit, fill the box.")
            return
        if not fresh:
            st.caption("Your last drawing (the other pages use it); draw to replace it.")
        show_prediction(image)


def show_prediction(image) -> None:
    stages = digit_stages(image)
    # The stage pictures sit above the prediction but are filled in after it, so the
    # prediction reaches the browser first and the pictures right after.
    stage_row = st.container()
    sel.x = stages.tensor
    out = ui_state.run_trace(sel).output
    mode = "train" if sel.train else "eval"
    if sel.preset.task == "classify":
        show_verdict(verdict(out), mode)
    else:
        st.image(to_image(out), caption="What the autoencoder rebuilt", width=168, clamp=True)
    x = stages.tensor[0, 0]
    lo, hi = float(x.min()), float(x.max())
    shown = [
        ("drawn", stages.drawn, "your strokes, as the canvas holds them"),
        ("cropped", stages.cropped, "cut to the ink: where you drew stops mattering"),
        (
            "20×20",
            stages.resized,
            "the longer side scaled to 20 px, shape kept, as MNIST's digits were",
        ),
        (
            "centred 28×28",
            stages.centred,
            f"in a 28×28 field, the centre of mass moved to the middle (by {stages.shift})",
        ),
        (
            "normalised",
            ((x - lo) / ((hi - lo) or 1)).numpy(),
            f"each pixel p → (p − {MNIST_MEAN}) / {MNIST_STD}: from {lo:.2f} to {hi:.2f}, "
            "the numbers the network reads",
        ),
    ]
    for col, (caption, img, why) in zip(stage_row.columns(len(shown)), shown, strict=True):
        col.image(figures.pad_square(img), caption=caption, width=84, clamp=True)
        col.caption(why)
    if sel.preset.task == "classify":
        show.chart(figures.probabilities_figure(out), key="probabilities")


def show_verdict(v, mode: str) -> None:
    """One digit when the network is clear about it; otherwise "not sure" and its top two."""
    if v.sure:
        st.metric("Prediction", str(v.best), help=f"The model in {mode} mode.")
        return
    st.metric(
        "Not sure",
        f"{v.best} or {v.runner_up}",
        help=f"The model in {mode} mode; no digit reaches {UNSURE_BELOW:.0%}.",
    )
    st.caption(
        f"The network is unsure: {v.best} at {v.probability:.0%}, "
        f"{v.runner_up} at {v.runner_up_probability:.0%}. Try drawing it larger "
        "or more clearly."
    )


canvas_and_prediction()
