"""/build's Train tab: training runs on a thread of its own (``TrainingJob``), the page polls it.

Only Stop ends a run: any other click reruns the script but leaves the thread alone. Every
epoch lands on one curve that later runs continue; the weights trained so far are kept when
the run stops.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from explorer.builder import build, default_config, training_data, training_problem
from explorer.builder.job import TrainingJob
from explorer.training import EpochStats
from ui.errors import guarded

JOB, HISTORY, RESULT = "build_job", "build_history", "build_result"


def forget_history() -> None:
    """New weights (another network, a preset's, an import): their curve starts afresh."""
    st.session_state.pop(HISTORY, None)
    st.session_state.pop(RESULT, None)


def train_tab(spec_now, state_key: str) -> None:
    """The Train tab for the spec on the canvas; trained weights go to ``state_key``."""
    spec = spec_now()
    problem = training_problem(spec)
    if problem:
        st.info(problem)
        return
    _collect(spec, state_key)
    job: TrainingJob | None = st.session_state.get(JOB)
    st.caption(training_data(spec).description)
    if job is not None:
        _live()
        return
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    epochs = int(c1.number_input("Epochs", 1, 20, 2, key="build_epochs"))
    more = " more" if st.session_state.get(HISTORY) else ""
    c2.button(
        f"Train{more}",
        type="primary",
        key="build_train",
        icon=":material/play_arrow:",
        on_click=guarded(_start),
        args=(spec_now, state_key, epochs),
    )
    _summary()


def _start(spec_now, state_key: str, epochs: int) -> None:
    spec = spec_now()
    model = build(spec)
    state = st.session_state.get(state_key)
    if state:
        model.load_state_dict(state)
    config = default_config(spec)
    config.epochs = epochs
    st.session_state.pop(RESULT, None)
    st.session_state[JOB] = TrainingJob.start(
        spec, model, config, first_epoch=len(st.session_state.get(HISTORY, [])) + 1
    )


@st.fragment(run_every=0.7)
def _live() -> None:
    """Progress, the curve so far and Stop, redrawn while the run goes on."""
    job: TrainingJob | None = st.session_state.get(JOB)
    if job is None:
        return
    if not job.running:
        st.rerun()  # the whole page: the summary, the "Use" button, the Train button again
    p = job.progress()
    left = f" · about {_duration(p.seconds_left)} left" if p.seconds_left is not None else ""
    loss = f" · loss {p.loss:.3f}" if p.loss is not None else ""
    text = (
        "Stopping after this batch…"
        if job.stopped
        else f"epoch {p.epoch + 1} of {p.epochs} · batch {p.batch} of {p.batches}{loss}{left}"
    )
    st.progress(p.fraction, text=text)
    rows = [*st.session_state.get(HISTORY, []), *_rows(job)]
    if rows:
        st.plotly_chart(curve(rows), key="curve_live")
    st.button(
        "Stop",
        key="build_stop",
        icon=":material/stop:",
        on_click=guarded(job.stop),
        disabled=job.stopped,
        help="Ends training after the current batch; the weights trained so far are kept.",
    )


def _rows(job: TrainingJob) -> list[dict]:
    return [_row(job.first_epoch + e.epoch, e) for e in list(job.history)]


def _row(epoch: int, e: EpochStats) -> dict:
    return {
        "epoch": epoch,
        "train loss": e.train_loss,
        "held-out loss": e.test_loss,
        "held-out accuracy": e.test_accuracy,
    }


def _collect(spec, state_key: str) -> None:
    """A run that has ended: its weights and epochs join the network's, and a word on how."""
    job: TrainingJob | None = st.session_state.get(JOB)
    if job is None or job.running:
        return
    del st.session_state[JOB]
    if job.error is not None:
        st.session_state[RESULT] = (None, f"Training failed: {job.error}")
        return
    if job.spec != spec:
        st.session_state[RESULT] = (
            None,
            "The network changed while it trained: those "
            "weights do not fit it any more and were not kept.",
        )
        return
    st.session_state[state_key] = job.state
    st.session_state[HISTORY] = [*st.session_state.get(HISTORY, []), *_rows(job)]
    result = job.result
    done = len(job.history)
    accuracy = result.test_accuracy if result is not None else None
    if result is not None and result.stopped_early:
        note = f"Stopped in epoch {done} of {job.epochs} — the weights trained so far are kept."
    else:
        note = f"Trained {done} epoch{'s' if done != 1 else ''}."
    st.session_state[RESULT] = (accuracy, note)


def _summary() -> None:
    result = st.session_state.get(RESULT)
    if result is not None:
        accuracy, note = result
        (st.success if accuracy is not None else st.warning)(note)
        if accuracy is not None:
            st.metric("Held-out accuracy", f"{accuracy:.1%}")
    history = st.session_state.get(HISTORY)
    if history:
        st.plotly_chart(curve(history), key="curve_done")


def curve(rows: list[dict]) -> go.Figure:
    """Loss (left axis) and held-out accuracy (right axis, 0-100%) per epoch, all runs."""
    x = [r["epoch"] for r in rows]
    data = [
        go.Scatter(x=x, y=[r[c] for r in rows], mode="lines+markers", name=c)
        for c in ("train loss", "held-out loss")
    ]
    if any(r["held-out accuracy"] is not None for r in rows):
        data.append(
            go.Scatter(
                x=x,
                y=[r["held-out accuracy"] for r in rows],
                yaxis="y2",
                mode="lines+markers",
                name="held-out accuracy",
                line={"dash": "dot"},
            )
        )
    return go.Figure(
        data,
        layout=dict(
            height=320,
            margin={"l": 10, "r": 10, "t": 30, "b": 10},
            xaxis={"title": "epoch", "dtick": 1},
            yaxis={"title": "loss", "rangemode": "tozero"},
            yaxis2={
                "title": "accuracy",
                "overlaying": "y",
                "side": "right",
                "range": [0, 1.02],
                "tickvals": [0, 0.25, 0.5, 0.75, 1],
                "tickformat": ".0%",
                "showgrid": False,
            },
            legend={"orientation": "h", "y": -0.25},
        ),
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
