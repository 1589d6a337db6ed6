"""The sidebar every page shares: model, input and mode."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import links
from explorer.sources import Source
from ui import classroom, code_backward
from ui import state as ui_state
from ui.errors import guarded
from ui.state import PATHS, Keys, samples


def render() -> None:
    """Draw the sidebar; its widgets keep their values across pages (keys in ``Keys``)."""
    ignored = ui_state.adopt_link()
    ui_state.defaults()
    ui_state.keep_sticky_widgets()
    ui_state.keep_choice(Keys.model, ui_state.model_names())
    ui_state.fit_source_to_model()
    with st.sidebar:
        if ignored:
            st.warning(
                "Part of the link could not be used and was ignored:  \n"
                + "  \n".join(f"**{i.name}**: {i.reason}" for i in ignored)
            )
        if not classroom.leading():
            classroom.follow_switch()
        following = classroom.following()
        if following:  # the teacher's view decides; Step away to explore
            _followed()
        else:
            _model()
            _input()
            _mode()
        st.toggle(
            "Projector mode",
            key=Keys.projector,
            help="Large type and figures, readable from the back of a classroom.",
        )
        if not following:  # a follower's view is the teacher's: the class link shares it
            _share()
    ui_state.publish_link()


def _share() -> None:
    with st.expander("Share this view", icon=":material/link:"):
        st.caption(
            "Students who open this link see the same model, input, mode and step; on "
            "Backward pass also the target, learning rate and SGD steps."
        )
        st.code(ui_state.share_url(), language=None, wrap_lines=True)
        mine = ui_state.get(Keys.model, "")
        if mine.startswith(links.SAVED_PREFIX):
            st.caption(
                "The link opens your network for others only once it is saved for "
                "the class under that name (Build → Save & share), as saved."
            )


def _followed() -> None:
    """While following: the teacher's network, input and mode in a few lines, not the controls.

    Greyed-out controls would only repeat the teacher's choice; without them each teacher step
    reruns a lighter page for every follower (a quarter fewer elements to send)."""
    ui_state.keep_widgets(Keys.followed)  # not drawn this run: Streamlit would drop them
    name = ui_state.get(Keys.model)
    preset = ui_state.preset_of(name)
    source = ui_state.chosen_source()
    st.header("The teacher's view")
    lines = [f"**{preset.title}**"]
    if preset.branch_argument:
        lines.append(f"Path: {ui_state.get(Keys.path)}")
    if source == Source.SAMPLE:
        index = int(ui_state.get(Keys.sample))
        lines.append(f"Input: sample digit #{index}, a {samples()[1][index]}")
    elif source == Source.RANDOM:
        lines.append(f"Input: random, seed {ui_state.get(Keys.random_seed)}")
    elif source == Source.TYPED:
        rows = ui_state.get(Keys.typed(name))
        shown = "" if rows is None else f" `{np.round(np.asarray(rows), 4).tolist()}`"
        lines.append(f"Input: typed numbers{shown}")
    elif source == Source.DRAW:
        lines.append("Input: the teacher's drawing")
    else:
        lines.append(f"Input: {source.label.lower()}")
    train = bool(ui_state.get(Keys.train))
    lines.append(
        f"Train mode · dropout seed {ui_state.get(Keys.dropout_seed)}" if train else "Eval mode"
    )
    st.markdown("  \n".join(lines))
    if source == Source.SAMPLE:
        st.image(_sample_png(int(ui_state.get(Keys.sample))), width=84)


def _model() -> None:
    st.header("Model")
    sent = code_backward.sent_code()
    if sent is not None:
        st.info(
            f"**Backward pass** shows your `{sent.class_name}` from Your code"
            + (f" ({sent.steps} SGD step{'s' if sent.steps != 1 else ''})" if sent.steps else "")
            + "; this network is for the other pages.",
            icon=":material/code:",
        )
        st.button(
            "Back to this network on Backward pass",
            key="code_unsend_sidebar",
            on_click=guarded(code_backward.unsend),
            width="stretch",
        )
    ui_state.keep_choice(Keys.model, ui_state.model_names())
    name = st.selectbox(
        "Network",
        ui_state.model_names(),
        key=Keys.model,
        format_func=lambda n: ui_state.preset_of(n).title,
    )
    preset = ui_state.preset_of(name)
    kind = "a 28x28 digit" if preset.input_kind == "image" else f"{preset.input_shape[0]} numbers"
    st.caption(f"{preset.description}  \nInput: {kind} · {preset.parameter_count:,} parameters")
    if preset.branch_argument:
        st.radio(
            "Which path?",
            list(PATHS),
            key=Keys.path,
            help="forward() has an `if`: force a branch or let the data choose it.",
        )


@st.cache_resource(max_entries=512, show_spinner=False)
def _sample_png(index: int) -> bytes:
    """A gallery digit as PNG, encoded once for everyone (st.image would encode it every run)."""
    buf = io.BytesIO()
    Image.fromarray(samples()[0][index]).save(buf, format="PNG")
    return buf.getvalue()


def _input() -> None:
    st.header("Input")
    source = st.radio(
        "Input",
        list(Source),
        key=Keys.source,
        format_func=lambda s: Source(s).label,
        horizontal=True,
        label_visibility="collapsed",
    )
    name = ui_state.get(Keys.model)
    preset = ui_state.preset_of(name)
    if source == Source.SAMPLE:
        images, labels = samples()
        st.selectbox(
            "Sample digit",
            range(len(images)),
            key=Keys.sample,
            format_func=lambda i: f"#{i}: a {labels[i]}",
        )
        st.image(_sample_png(int(ui_state.get(Keys.sample))), width=84)
    elif source == Source.UPLOAD:
        st.file_uploader("A PNG or JPEG of one digit", type=["png", "jpg", "jpeg"], key=Keys.upload)
    elif source == Source.TYPED and preset.default_input is not None:
        n = preset.input_shape[0]
        rows = ui_state.get(Keys.typed_start(name)) or preset.default_input
        if len(rows[0]) != n:  # adopt_link checked the count, but this session may have
            rows = preset.default_input  # rebuilt a network of that name since
        start = pd.DataFrame(list(rows), columns=[f"x{i + 1}" for i in range(n)])
        edited = st.data_editor(start, key=f"editor_{name}", num_rows="dynamic", hide_index=True)
        ui_state.remember_typed(name, edited.to_numpy(dtype=float, na_value=float("nan")))
    elif source == Source.RANDOM:
        st.number_input(
            "Random seed",
            min_value=0,
            max_value=2**31 - 1,
            step=1,
            key=Keys.random_seed,
        )
    elif source == Source.DRAW:
        st.caption("Draw on the **Draw** page; the other pages use your last drawing.")


def _mode() -> None:
    st.header("Mode")
    st.toggle(
        "Train mode",
        key=Keys.train,
        help="model.train(): dropout drops units and BatchNorm uses batch statistics. "
        "Eval mode (off) is what predictions use.",
    )
    col1, col2 = st.columns([3, 2], vertical_alignment="bottom")
    col1.number_input(
        "Dropout seed",
        min_value=0,
        max_value=2**31 - 1,
        step=1,
        key=Keys.dropout_seed,
    )
    col2.button(
        "Resample",
        on_click=guarded(ui_state.resample_dropout),
        help="A new dropout mask: the next seed.",
    )
