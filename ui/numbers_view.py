"""The numbers of a step, as the tutorials show them: print() output, neurons and weights, W and
b, and the class probabilities at a classifier's end. Every number is the traced tensor's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from explorer import figures
from explorer.digits import to_image
from explorer.figures.neurons import neuron_figure
from explorer.neurons import NeuronNet, neuron_net, neuron_sum
from explorer.printing import printout, value_table
from explorer.steps import Step, Trace
from explorer.units import unit_computation
from explorer.zoo import Preset
from ui import show

MATRIX_CELLS = 16  # W is a table of numbers up to 16 x 16; a heatmap beyond
MAX_DRAWN = 110_000  # weights in one heatmap (MLP's 128 x 784); larger: statistics only


def printed(step: Step) -> None:
    """What ``print(x.shape)`` and ``print(x)`` would show after this step's line."""
    p = printout(step)
    if p is None:
        return
    st.markdown(f"**What `print()` would show** after `{step.code.split('#')[0].strip()}`")
    st.code(p.text(), language=None, wrap_lines=True)
    if p.values is None:
        out = step.output if isinstance(step.output, torch.Tensor) else step.inputs[0]
        st.caption(
            f"{p.count:,} values: too many to print here (torch would abbreviate them "
            "with …). The statistics below sum them up."
        )
        if st.toggle("Show every value in a table", key=f"all_values_{step.index}"):
            rows, columns, values = value_table(out)
            st.dataframe(
                pd.DataFrame(values, index=rows, columns=columns),
                height=300,
                column_config={c: st.column_config.NumberColumn(format="%.4f") for c in columns},
            )


def small_network(trace: Trace, step: Step) -> NeuronNet | None:
    """The neuron diagram of a small vector network, the current step's column lit; click a
    neuron to see its sum. None (nothing drawn) when the network is not small enough."""
    net = neuron_net(trace)
    if net is None:
        return None
    column = net.column_of(step.index)
    key = "neuron_pick"
    picked = _picked_neuron(st.session_state.get(key), net)
    if picked is None or (column is not None and picked[0] != column):
        picked = _default_neuron(net, column if column is not None else len(net.layers) - 1)
    left, right = st.container(key="stack_neurons").columns([3, 2], gap="large")
    with left:
        event = show.chart(
            neuron_figure(net, step=step.index, chosen=picked),
            key=key,
            on_select="rerun",
            selection_mode="points",
        )
        st.caption(
            "Each circle is a neuron with its value for this input; a line is a weight, "
            "red if positive, blue if negative, thicker when larger. A hollow grey neuron "
            "was switched off (set to 0) by ReLU. Click a neuron to see its sum."
        )
    with right:
        _neuron_sum(net, *(_picked_neuron(event, net) or picked))
    return net


def _neuron_sum(net: NeuronNet, column: int, unit: int) -> None:
    layer = net.layers[column]
    if column == 0:
        st.markdown(
            f"**Input {unit}** = `{layer.values[unit]:.4f}`: a number you gave the "
            "network, not computed."
        )
        return
    s = neuron_sum(net, column, unit)
    st.markdown(f"**{layer.name}, neuron {unit}**: each input times its weight, plus the bias")
    st.code(s.written_out(), language=None, wrap_lines=True)
    rows = [[_f(x), _f(w), _f(p)] for x, w, p in zip(s.inputs, s.weights, s.products, strict=True)]
    rows += [["", "", _f(s.bias)], ["", "", _f(s.total)]]
    names = [f"from {net.layers[column - 1].name} {i}" for i in range(len(s.inputs))]
    st.dataframe(
        pd.DataFrame(
            rows, index=[*names, "+ bias b", "= sum"], columns=["input x", "weight w", "x × w"]
        )
    )
    if s.activations:
        st.markdown(
            f"Then {' and '.join(f'`{a}`' for a in s.activations)}: "
            f"`{s.pre:.4f}` → `{s.value:.4f}`"
            + (" (negative, so ReLU sets it to 0)" if s.value == 0 and s.pre < 0 else "")
        )


def _picked_neuron(event, net: NeuronNet) -> tuple[int, int] | None:
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        data = p.get("customdata")
        if isinstance(data, (list, tuple)) and len(data) == 2:
            col, unit = int(data[0]), int(data[1])
            if 0 <= col < len(net.layers) and 0 <= unit < net.layers[col].size:
                return col, unit
    return None


def _default_neuron(net: NeuronNet, column: int) -> tuple[int, int]:
    """The strongest neuron of the column: the first one worth a look."""
    return column, int(np.abs(net.layers[column].values).argmax())


def small_weights(step: Step) -> bool:
    """A Linear whose W fits as a table of numbers."""
    w = step.extras.get("weight")
    return step.op == "linear" and w is not None and max(w.shape) <= MATRIX_CELLS


def weights(step: Step, unit_formula: bool = True) -> None:
    """A Linear step's W and b: numbers while they fit, a heatmap beyond; y = xWᵀ + b written
    out for the chosen output unit (``unit_formula``; the neuron diagram does that itself)."""
    w, b = step.extras.get("weight"), step.extras.get("bias")
    if step.op != "linear" or w is None:
        return
    out_f, in_f = w.shape
    st.markdown(
        f"**The weights:** W is {out_f}×{in_f} (one row per output unit), "
        f"b has {out_f} values. The layer computes **y = x Wᵀ + b**."
    )
    if out_f <= MATRIX_CELLS and in_f <= MATRIX_CELLS:
        table = pd.DataFrame(
            w.numpy(),
            index=[f"unit {j}" for j in range(out_f)],
            columns=[f"× x{i}" for i in range(in_f)],
        )
        if b is not None:
            table["b"] = b.numpy()
        st.dataframe(
            table,
            column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns},
        )
    elif w.numel() <= MAX_DRAWN:
        show.chart(
            figures.activation_figure(w[None], "W, one row per output unit"),
            key=f"weights_{step.index}",
        )
    else:
        stats = figures.tensor_stats(w)
        st.caption(
            f"W has {w.numel():,} values, too many to draw here: min {stats['min']:.4f}, "
            f"max {stats['max']:.4f}, mean {stats['mean']:.4f}."
        )
    if not unit_formula:
        return
    out = step.output[0]
    unit = int(
        st.number_input(
            f"Output unit (0-{out_f - 1})",
            0,
            out_f - 1,
            value=int(out.abs().argmax()),
            key=f"linear_unit_{step.index}",
        )
    )
    comp = unit_computation(step, (unit,))
    st.code(comp.formula, language=None, wrap_lines=True)


def last_step(trace: Trace, step: Step, preset: Preset) -> bool:
    """A classifier's last step as logits → softmax → probabilities, the pick named; a single
    regression output as a number. False when ``step`` is not the pass's last."""
    if step.index != len(trace) - 1 or not isinstance(step.output, torch.Tensor):
        return False
    out = step.output
    if preset.task == "classify" and out.dim() == 2:
        _probabilities(out[0])
        return True
    if out.dim() == 2 and out.shape[1] == 1:
        st.metric(
            "The network's output ŷ",
            f"{float(out[0, 0]):.4f}",
            help="One number: SimpleNN and ForwardPassDemo predict a value, not a class.",
        )
        return True
    return False


def _probabilities(logits: torch.Tensor) -> None:
    probs = torch.softmax(logits.double(), dim=0)
    best = int(probs.argmax())
    st.markdown(f"#### The network picks **{best}** (probability {float(probs[best]):.1%})")
    st.markdown(
        f"These {len(logits)} numbers are **logits**, one score per digit. Softmax turns them into "
        "probabilities: each score becomes e<sup>score</sup>, then each is divided by "
        "the sum of them all, so they are positive and add up to 1. The largest logit "
        "gets the largest probability.",
        unsafe_allow_html=True,
    )
    exp = torch.exp(logits.double())
    table = pd.DataFrame(
        {"logit": logits.double().numpy(), "e^logit": exp.numpy(), "probability": probs.numpy()},
        index=[str(k) for k in range(len(logits))],
    )
    table.index.name = "digit"
    left, right = st.columns(2, gap="large")
    with right:
        show.chart(figures.probabilities_figure(logits[None]), key="last_probabilities")
    left.caption(f"Sum of e^logit = {float(exp.sum()):.4f}; probability = e^logit ÷ that sum.")
    left.dataframe(
        table,
        column_config={
            "logit": st.column_config.NumberColumn(format="%.4f"),
            "e^logit": st.column_config.NumberColumn(format="%.4f"),
            "probability": st.column_config.ProgressColumn(
                format="%.4f", min_value=0.0, max_value=1.0
            ),
        },
    )


def _f(v: float) -> str:
    return f"{v:.4f}"


def batch_statistics(step: Step) -> None:
    """A BatchNorm step's batch statistics beside its running ones, channel by channel, and
    which of the two this pass used."""
    if "batch_mean" not in step.extras or "running_mean" not in step.extras:
        return
    used = step.extras.get("statistics", "running")
    e = step.extras
    table = pd.DataFrame(
        {
            "batch mean": e["batch_mean"].numpy(),
            "running mean": e["running_mean"].numpy(),
            "batch var": e["batch_var"].numpy(),
            "running var": e["running_var"].numpy(),
        }
    )
    table.index.name = "channel"
    st.markdown(
        f"**Batch vs running statistics** — this pass used the **{used}** ones "
        f"({'train' if used == 'batch' else 'eval'} mode): y = (x − mean) / √(var + "
        f"{e.get('eps', 1e-5):g}) · γ + β, channel by channel."
    )
    st.dataframe(
        table,
        height=min(38 + 35 * len(table), 300),
        column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns},
    )


def reconstruction(trace: Trace, step: Step, preset: Preset) -> bool:
    """An autoencoder's last step as pictures: the digit it was given, the one it rebuilt."""
    out = step.output
    if (
        preset.task != "reconstruct"
        or step.index != len(trace) - 1
        or not isinstance(out, torch.Tensor)
        or out[0].numel() != 784
    ):
        return False
    error = float(((out[0].reshape(-1) - trace.input[0].reshape(-1)) ** 2).mean())
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="center")
    c1.image(to_image(trace.input[0].reshape(28, 28)), caption="its input", width=140)
    c2.image(to_image(out[0].reshape(28, 28)), caption="what it rebuilt", width=140)
    c3.markdown(
        f"The autoencoder squeezed 784 pixels into 32 numbers and rebuilt the digit "
        f"from them. Mean squared difference from the input: **{error:.4f}**."
    )
    return True
