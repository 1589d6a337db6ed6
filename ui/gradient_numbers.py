"""/backward for a small network, in numbers: ŷ, target and loss; every weight beside its
gradient; one gradient worked out by the chain rule and checked against autograd."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.chain_rule import chain_rule
from explorer.gradients import Backward
from explorer.neurons import NeuronNet, neuron_net

PICK = "chain_weight"


def small_backward(b: Backward) -> bool:
    """Everything in numbers for a small network; False (nothing shown) for a larger one."""
    net = neuron_net(b.trace)
    if net is None:
        return False
    st.subheader("In numbers")
    y_hat, target = b.trace.output[0], b.target[0]
    c1, c2, c3 = st.columns(3)
    if b.loss_name == "mse":
        c1.metric("Output ŷ", _vector(y_hat))
        c2.metric("Target y", _vector(target))
        c3.metric("Loss (ŷ − y)²" + (" averaged" if y_hat.numel() > 1 else ""), f"{b.loss:.4f}")
    else:
        c1.metric("Scores ŷ", _vector(y_hat))
        c2.metric("Target class", str(int(target)))
        c3.metric("Loss: cross-entropy", f"{b.loss:.4f}")
    weights, names = _weights_table(b, net)
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.markdown("**Every weight and its gradient** dL/dw")
        st.dataframe(weights, height=min(38 + 35 * len(weights), 420))
    with right:
        st.markdown("**One gradient by the chain rule**")
        if st.session_state.get(PICK) not in names:
            st.session_state[PICK] = _strongest(b, net, names)
        pick = st.selectbox("Weight", list(names), key=PICK)
        column, j, i = names[pick]
        chain = chain_rule(b, net, column, j, i)
        st.code(
            "\n".join(
                f"{line.name} = {line.formula}\n      = {line.value:.6f}" for line in chain.lines
            ),
            language=None,
            wrap_lines=True,
        )
        same = abs(chain.value - chain.autograd) <= 1e-5 * max(1.0, abs(chain.autograd))
        (st.success if same else st.error)(
            f"autograd's `{chain.weight_name}` gradient: **{chain.autograd:.6f}**; the chain "
            f"above: **{chain.value:.6f}**" + (" — the same." if same else " — they differ!")
        )
    return True


def _weights_table(b: Backward, net: NeuronNet) -> tuple[pd.DataFrame, dict]:
    """One row per weight and bias: its value and dL/d it; the weights' (column, j, i)."""
    rows, index, names = [], [], {}
    for col, layer in enumerate(net.layers[1:], start=1):
        w, g = layer.weight, b.param_grads[f"{layer.name}.weight"]
        for j in range(w.shape[0]):
            for i in range(w.shape[1]):
                name = f"{layer.name}.weight[{j}, {i}]"
                names[name] = (col, j, i)
                index.append(name)
                rows.append([f"{w[j, i]:.4f}", f"{float(g[j, i]):.4f}"])
        if layer.bias is not None:
            gb = b.param_grads[f"{layer.name}.bias"]
            for j in range(len(layer.bias)):
                index.append(f"{layer.name}.bias[{j}]")
                rows.append([f"{layer.bias[j]:.4f}", f"{float(gb[j]):.4f}"])
    return pd.DataFrame(rows, index=index, columns=["value", "gradient"]), names


def _strongest(b: Backward, net: NeuronNet, names: dict) -> str:
    """The first layer's weight with the largest gradient: a chain with every link alive."""
    first = {n: v for n, v in names.items() if v[0] == 1}
    grad = b.param_grads[f"{net.layers[1].name}.weight"]
    return max(first, key=lambda n: abs(float(grad[first[n][1], first[n][2]])))


def _vector(t) -> str:
    values = [f"{float(v):.4f}" for v in t.reshape(-1)]
    return values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"
