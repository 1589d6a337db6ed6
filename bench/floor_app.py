"""The floor for bench.stroke_latency: /draw's canvas with no model behind it.

    streamlit run bench/floor_app.py

The same canvas as views/draw.py (key, size, return_image_data=True, inside an st.fragment,
a Clear button that remounts it) and one st.metric that changes on every stroke. Whatever a
stroke costs here -- the canvas's debounce, PNG encoding, the websocket, a fragment rerun,
decoding the PNG -- the real page cannot beat.
"""

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

st.set_page_config(page_title="Canvas floor", layout="wide")
st.session_state.setdefault("canvas_version", 0)


def clear() -> None:
    st.session_state["canvas_version"] += 1


@st.fragment
def canvas_and_count() -> None:
    result = st_canvas(
        stroke_width=20,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=280,
        width=280,
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"canvas_{st.session_state['canvas_version']}",
    )
    st.button("Clear", on_click=clear)
    image = result.image_data  # decoded like the real page decodes it
    strokes = len((result.json_data or {}).get("objects", []))
    if image is None or strokes == 0:
        st.info("Draw on the black square.")
        return
    ink = int(np.count_nonzero(np.asarray(image)[..., 0] > 0))
    st.metric("Strokes", str(strokes), delta=f"{ink} ink pixels", delta_color="off")


canvas_and_count()
