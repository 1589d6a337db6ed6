"""Pieces of the step-by-step view: source with the line highlighted, facts, units, train|eval."""

from __future__ import annotations

import html
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st
import torch

from explorer import exports, figures
from explorer.explain import explain, kind_label, op_title
from explorer.figures.patch import MAX_WRITTEN
from explorer.trace import Step, Trace, source_of
from explorer.units import unit_computation
from ui import show
from ui import state as ui_state
from ui.errors import guarded
from ui.state import Keys, Selection


def overview(t: Trace, current: int, known: set[int] | None = None) -> None:
    """All steps at a glance: op and output shape, the current one in bold. With ``known``
    (predicting), only those steps give their shapes away."""
    parts = [f"input `{tuple(t.input.shape)}`"]
    for s in t.steps:
        shown = known is None or s.index in known
        label = f"{s.index}·{s.op}" + (f" `{s.output_shape}`" if shown else " `?`")
        parts.append(f"**:blue[{label}]**" if s.index == current else label)
    st.markdown(" → ".join(parts))


def source(step: Step, trace: Trace | None = None) -> None:
    """The function that issued the step, its line highlighted; with the ``trace``, the body
    of an ``if`` that gave no step this pass (the branch not taken) greyed."""
    src = source_of(step)
    skipped = _skipped(src, trace, step) if trace is not None else set()
    rows = []
    for i, line in enumerate(src.lines):
        number = src.start + i
        if number == step.line:
            rows.append(f'<span class="hit">{number:4d}  {_marked(line, step.columns)}</span>')
        elif number in skipped:
            rows.append(
                f'<span class="skipped" title="not run in this pass">{number:4d}  '
                f"{html.escape(line) or ' '}</span>"
            )
        else:
            rows.append(f"<span>{number:4d}  {html.escape(line) or ' '}</span>")
    # Long lines wrap under their own text (a hanging indent past the line number): a
    # projector or a tablet shows all of `x = self.pool(F.relu(self.conv1(x)))`.
    st.html(
        "<style>.fpe-src{font-family:monospace;font-size:0.85rem;line-height:1.45;"
        "background:#0e1117;color:#d6d6d6;padding:0.6rem;border-radius:0.4rem}"
        ".fpe-src>span{display:block;white-space:pre-wrap;overflow-wrap:anywhere;"
        "padding-left:6ch;text-indent:-6ch}"
        ".fpe-src .hit{background:#ffd54f;color:#111;font-weight:600}"
        ".fpe-src .skipped{color:#6b6b6b;text-decoration:line-through;"
        "text-decoration-color:#555}"
        ".fpe-src .call{background:#111;color:#ffd54f;border-radius:0.2rem;"
        "outline:2px solid #111}</style>"
        f'<div class="fpe-src" data-testid="forward-source">{"".join(rows)}</div>'
    )
    st.caption(f"{step.function} · line {step.line} of {step.file.rsplit('/', 1)[-1]}")


def _skipped(src, trace: Trace, step: Step) -> set[int]:
    """Lines of ``if``/``else`` bodies in ``src`` that no step of ``trace`` came from."""
    ran = {s.line for s in trace.steps if s.file == step.file}
    lines = {src.start + k: text for k, text in enumerate(src.lines)}
    skipped: set[int] = set()
    for n, text in lines.items():
        head = text.lstrip()
        if not (head.startswith(("if ", "elif ")) or head.startswith("else:")):
            continue
        indent = len(text) - len(head)
        body = []
        for k in range(n + 1, src.start + len(src.lines)):
            t = lines[k]
            if t.strip() and len(t) - len(t.lstrip()) <= indent:
                break
            body.append(k)
        code = [k for k in body if lines[k].strip() and not lines[k].lstrip().startswith("#")]
        if code and not ran.intersection(body):
            skipped.update(code)
    return skipped


def _marked(line: str, columns: tuple[int, int] | None) -> str:
    """The line, escaped, with the running call's characters in a ``call`` span: the three
    steps of ``x = self.pool(F.relu(self.conv1(x)))`` each light their own part."""
    if columns is None or not 0 <= columns[0] < columns[1] <= len(line):
        return html.escape(line) or " "
    a, b = columns
    return (
        f'{html.escape(line[:a])}<span class="call">{html.escape(line[a:b])}</span>'
        f"{html.escape(line[b:])}"
    )


def facts(step: Step) -> None:
    """What the op is, its shapes, parameters and what ran around it."""
    st.markdown(f"#### {op_title(step)}")
    shapes = ", ".join(str(s) for s in step.input_shapes) or "—"
    st.markdown(
        f"**Kind:** {kind_label(step)}  \n"
        f"**Module:** `{step.module or '(the model itself)'}`  \n"
        f"**Shape:** {shapes} → {step.output_shape}  \n"
        f"**Parameters:** {step.param_count:,}"
    )
    st.markdown(explain(step))
    if step.call_flow is not None:
        flow = " → ".join(f"`{p}`" for p in ["model(x)", *step.call_flow.describe()])
        st.caption(f"How `{step.module}(...)` ran: {flow}")


def stats_table(step: Step, pass_key: tuple | None = None) -> None:
    """Min, max, mean and the fraction of zeros of the step's input and output; made once per
    pass and step for the class when ``pass_key`` (``ui_state.pass_key``) names the pass."""
    table = _stats_frame(step) if pass_key is None else _shared_stats((*pass_key, step.index), step)
    if table is not None:
        st.dataframe(table, width="stretch")


def _stats_frame(step: Step) -> pd.DataFrame | None:
    rows = {}
    if step.inputs:
        rows["input"] = figures.tensor_stats(step.inputs[0])
    out = step.output if isinstance(step.output, torch.Tensor) else None
    if out is not None:
        rows["output"] = figures.tensor_stats(out)
    if not rows:
        return None
    table = pd.DataFrame(rows).T[["min", "max", "mean", "frac_zero"]]
    return table.rename(columns={"frac_zero": "fraction zero"})


@st.cache_resource(max_entries=256, show_spinner=False)
def _shared_stats(key: tuple, _step: Step) -> pa.Table | None:
    # As an Arrow table (the index kept in its pandas metadata): st.dataframe sends it as it
    # is, where a DataFrame would be converted again for every session that shows it.
    frame = _stats_frame(_step)
    return None if frame is None else pa.Table.from_pandas(frame)


def channel_choice(step: Step) -> int | None:
    """All channels in one mosaic, or one channel (its pool winners marked): None or its index."""
    out = step.output
    if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[1] == 1:
        return None
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    view = c1.segmented_control("Show", ["All channels", "One channel"], key=Keys.channel_view)
    if view != "One channel":
        return None
    ui_state.clamp(Keys.channel, 0, out.shape[1] - 1)
    return int(
        c2.number_input(f"Channel (0-{out.shape[1] - 1})", 0, out.shape[1] - 1, key=Keys.channel)
    )


def unit_explorer(step: Step, channel: int | None, pass_key: tuple | None = None) -> None:
    """Pick a unit of the output (click it) and see how torch computed it.

    ``pass_key`` (``ui_state.pass_key``) names the pass when its figures may be shared."""
    out = step.output
    if not isinstance(out, torch.Tensor) or out.dim() not in (2, 4):
        return
    key = f"unit_{step.index}"
    fig_key = pass_key and (*pass_key, "units", step.index)
    if out.dim() == 4:
        channel = min(channel or 0, out.shape[1] - 1)
        st.caption(
            f"Channel {channel} of the output; pick another with **Show: One channel** above."
        )
        event = show.cached_chart(
            fig_key and (*fig_key, channel),
            lambda: figures.channel_figure(out, channel),
            key=key,
            on_select="rerun",
            selection_mode="points",
        )
        strongest = divmod(int(out[0, channel].argmax()), out.shape[3])  # a unit worth a look
        unit = (channel, *_picked(event, default=strongest))
    else:
        event = show.cached_chart(
            fig_key,
            lambda: figures.vector_figure(out, "output units"),
            key=key,
            on_select="rerun",
            selection_mode="points",
        )
        unit = _picked(event, default=(int(out[0].abs().argmax()),))
    kernel = step.extras.get("weight")
    # one input channel, a small kernel: every term in the sum (more channels: the pictures
    # below show every term of one channel at a time, the sum its largest terms)
    every = (
        int(kernel[0].numel())
        if kernel is not None
        and kernel.dim() == 4
        and kernel.shape[1] == 1
        and kernel.shape[-1] <= MAX_WRITTEN
        else 8
    )
    try:
        comp = unit_computation(step, unit, top_k=every)
    except ValueError as err:
        st.info(str(err))
        return
    st.markdown(f"**Unit {unit}**: torch computed `{comp.value:.6g}`")
    if comp.explanation:
        st.markdown(comp.explanation)
    if comp.patch is not None and comp.kernel is not None:
        _patch_and_kernel(step, comp, unit)
    st.code(comp.formula, language=None, wrap_lines=True)
    if comp.terms:
        terms = pd.DataFrame(comp.terms).rename(columns={"label": "term"})
        st.dataframe(terms, hide_index=True, width="stretch")
    if comp.window is not None:
        st.caption(f"The pooling window; the winner is at {comp.winner}.")
        st.dataframe(pd.DataFrame(comp.window), width="content")


def _patch_and_kernel(step: Step, comp, unit: tuple[int, ...]) -> None:
    """The patch under the kernel, the kernel, and their product, cell by cell: for one input
    channel at a time (the one that gives the most, first)."""
    sums = np.asarray(comp.channel_sums, dtype=np.float64)
    order = [int(i) for i in np.argsort(-np.abs(sums))]
    pick = order[0]
    if len(order) > 1:
        pick = st.selectbox(
            f"Input channel ({len(order)} of them; each has its own 3×3 kernel)",
            order,
            format_func=lambda i: f"{comp.channels[i]}: adds {sums[i]:+.4f}",
            key=f"patch_channel_{step.index}",
        )
    title = (
        f"input channel {comp.channels[pick]}, rows {comp.rows[0]}-{comp.rows[-1]}, "
        f"columns {comp.cols[0]}-{comp.cols[-1]}"
    )
    show.chart(
        figures.patch_figure(comp.patch[pick], comp.kernel[pick], title=title),
        key=f"patch_{step.index}",
    )
    bias = comp.bias if comp.bias is not None else 0.0
    st.caption(
        f"Unit {unit} = Σ over the {len(sums)} input channel(s) of Σ(x ⊙ w) + b = "
        f"{sums.sum():.4f} + {bias:.4f} = {sums.sum() + bias:.4f} (torch: "
        f"{comp.value:.4f})"
    )


def _picked(event, default: tuple[int, ...]) -> tuple[int, ...]:
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if not points:
        return default
    data = points[0].get("customdata")
    if data is None:
        return default
    return tuple(int(v) for v in (data if isinstance(data, (list, tuple)) else [data]))


def train_vs_eval(train_trace: Trace, eval_trace: Trace, pass_key: tuple | None = None) -> None:
    """The same input in both modes: dropout, BatchNorm and the final output side by side.

    ``pass_key`` is the train-mode pass's ``ui_state.pass_key`` (None: not shared)."""
    key = pass_key and (*pass_key, "train_vs_eval")
    # the steps whose own behaviour changes with the mode: the first dropout, the first BatchNorm
    for op, why in (
        ("dropout", "train mode drops and scales; eval mode hands the input on"),
        (
            "batch_norm",
            "train mode normalises with this batch's statistics; eval "
            "mode with the running ones learned in training",
        ),
    ):
        pair = next(
            (
                (a, b)
                for a, b in zip(train_trace.steps, eval_trace.steps, strict=False)
                if a.op == op and b.op == op
            ),
            None,
        )
        if pair is None:
            continue
        a, b = pair
        st.caption(f"**{a.module or a.op}**: {why}")
        show.cached_chart(
            key and (*key, op),
            lambda a=a, b=b: figures.compare_figure(
                a.output, b.output, title=f"{a.module or a.op} output"
            ),
            key=f"compare_{op}",
        )
    show.cached_chart(
        key and (*key, "output"),
        lambda: figures.compare_figure(train_trace.output, eval_trace.output, title="final output"),
        key="compare_output",
    )
    if train_trace.output.dim() == 2 and train_trace.output.shape[1] == 10:
        pa, pb = int(train_trace.output.argmax(1)[0]), int(eval_trace.output.argmax(1)[0])
        st.markdown(f"Prediction in **train** mode: **{pa}** · in **eval** mode: **{pb}**")


_BINARY = "application/octet-stream"


def downloads(sel: Selection, t: Trace) -> None:
    """The pass and the model to take home; each file is made only when its button is clicked."""
    model = ui_state.model_of(sel.model_name)
    params = ui_state.session_params(sel.model_name)
    name = sel.model_name
    files = (  # label, the bytes (made on click), file name, type
        ("Activations (.npz)", lambda: exports.trace_npz(t), f"{name}-activations.npz", _BINARY),
        ("Activations (.csv)", lambda: exports.trace_csv(t), f"{name}-activations.csv", "text/csv"),
        ("Model code (.py)", lambda: exports.model_source(model), f"{name}.py", "text/x-python"),
        ("Weights (.pt)", lambda: exports.weights_pt(model, params), f"{name}.pt", _BINARY),
    )
    for col, (label, data, file_name, mime) in zip(st.columns(len(files)), files, strict=True):
        col.download_button(
            label,
            data=data,
            file_name=file_name,
            mime=mime,
            on_click="ignore",
            icon=":material/download:",
        )
    st.caption(
        "Load them back with `numpy.load`, `pandas.read_csv` and "
        "`torch.load(path, weights_only=True)`."
    )


PACES = (0.5, 1.0, 2.0, 3.0)  # seconds per step while playing


def strip(
    t: Trace, current: int, hidden: set[int], classify: bool, pass_key: tuple | None = None
) -> None:
    """Every step as a thumbnail, the current one lit; a click on one jumps there.

    ``pass_key`` (``ui_state.pass_key``) names the pass when the strip may be shared: a class
    on one step needs it built once, not once per student."""
    with st.container(key="strip_box"):  # scrolls sideways on a phone (see ui/show.py)
        show.cached_chart(
            pass_key and (*pass_key, "strip", current, tuple(sorted(hidden)), classify),
            lambda: figures.overview_figure(t, current, hidden=hidden, classify=classify),
            key=Keys.strip,
            on_select=guarded(_jump, "jumping to a step"),
            selection_mode="points",
            config={"displayModeBar": False},
            width="content",
        )


def _jump() -> None:
    event = st.session_state.get(Keys.strip)
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        index = p.get("customdata")
        if isinstance(index, (int, float)) and index >= 0:
            st.session_state[Keys.step] = int(index)
            st.session_state[Keys.playing] = False
            return


def play(n: int, allowed: bool) -> None:
    """▶ Play / ⏸ Pause and the pace; while playing, a timer steps on and stops at the end."""
    playing = bool(st.session_state.get(Keys.playing)) and allowed
    st.button(
        "⏸ Pause" if playing else "▶ Play",
        key="play",
        width="content",
        on_click=guarded(_toggle_play, "starting or pausing Play"),
        args=(n,),
        disabled=not allowed or n < 2,
        help=None if allowed else "Play waits while you predict each step.",
    )
    st.session_state.setdefault(Keys.pace, 1.0)
    st.segmented_control(
        "Pace",
        PACES,
        key=Keys.pace,
        format_func=lambda s: f"{s:g} s",
        label_visibility="collapsed",
        width="content",
    )
    pace = float(st.session_state.get(Keys.pace) or 1.0)

    @st.fragment(run_every=pace if playing else None)
    def ticker() -> None:
        # The fragment also runs inside every full run of the page: only the timer's own
        # runs move on (else each step's rerun would start the next at once), and at most
        # once a pace.
        # And only a pace after the page has drawn the step it is on: on a slow server a step
        # would otherwise be replaced before the class ever saw it.
        now = time.monotonic()
        step = int(st.session_state.get(Keys.step, 0))
        if (
            not st.session_state.get(Keys.playing)
            or not ui_state.timer_run()
            or now - st.session_state.get(_LAST_TICK, 0.0) < 0.8 * pace
            or _NEXT_STEP in st.session_state
            or st.session_state.get(_SHOWN, (None, 0.0))[0] != step
            or now - st.session_state.get(_SHOWN, (None, 0.0))[1] < 0.8 * pace
        ):
            return
        st.session_state[_LAST_TICK] = now
        if step >= n - 1:
            st.session_state[Keys.playing] = False
        else:  # the slider owns Keys.step: the next run sets it, before drawing the slider
            st.session_state[_NEXT_STEP] = step + 1
        st.rerun(scope="app")

    if playing:
        ticker()


def _toggle_play(n: int) -> None:
    playing = not st.session_state.get(Keys.playing)
    if playing and int(st.session_state.get(Keys.step, 0)) >= n - 1:
        st.session_state[Keys.step] = 0  # Play at the end starts again
    st.session_state[Keys.playing] = playing
    st.session_state[_LAST_TICK] = time.monotonic()


_LAST_TICK = "play_last_tick"


_NEXT_STEP = "play_next_step"
_SHOWN = "play_shown_step"


def shown(step: int) -> None:
    """Call at the end of the page: ``step`` has been drawn whole; Play moves on a pace later."""
    if st.session_state.get(_SHOWN, (None, 0.0))[0] != step:
        st.session_state[_SHOWN] = (step, time.monotonic())


def take_played_step() -> None:
    """Move to the step Play chose; call before the step slider is drawn."""
    if _NEXT_STEP in st.session_state:
        st.session_state[Keys.step] = st.session_state.pop(_NEXT_STEP)
