"""One weight's gradient by the chain rule, every factor a number torch produced.

``chain_rule(b, net, column, j, i)`` walks back from the loss to weight ``W[j, i]`` of column
``column`` of a small network (``explorer.neurons``): dL/dŷ from the loss, then through each
later Linear (its weights) and each activation (its slope), down to dL/dz_j, which times the
input x_i is dL/dW[j, i]. Each line's value is recomputed here from the line before in float64,
and the last one is compared with what autograd returned (``Backward.param_grads``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.gradients import Backward
from explorer.neurons import NeuronLayer, NeuronNet


@dataclass(frozen=True)
class ChainLine:
    """One link of the chain: ``name = formula = value``."""

    name: str  # "dL/dŷ", "dL/dh₂", ...
    formula: str  # with this pass's numbers: "2 × (0.1767 − 0.0000) / 1"
    value: float  # recomputed from the previous line's value (float64)
    autograd: float | None  # torch's own value for the same quantity, where autograd kept it


@dataclass(frozen=True)
class ChainRule:
    """dL/dW[j, i] of one weight, line by line."""

    weight_name: str  # "fc1.weight[2, 0]"
    lines: tuple[ChainLine, ...]
    autograd: float  # W.grad[j, i] as autograd computed it

    @property
    def value(self) -> float:
        return self.lines[-1].value


def chain_rule(
    b: Backward, net: NeuronNet, column: int, j: int, i: int, sample: int = 0
) -> ChainRule:
    """dL/dW[j, i] for the Linear of ``column`` (1 = the first Linear), as a chain of numbers.

    Raises:
        ValueError: ``column`` is the input column, or the loss is not one example's MSE or
            cross-entropy that these formulas cover.
    """
    if column < 1 or column >= len(net.layers):
        raise ValueError("choose a weight of one of the Linear layers")
    trace = b.trace
    last = net.layers[-1]
    y_hat = last.values.astype(np.float64)
    n = trace.output.shape[0] * (trace.output.shape[1] if b.loss_name == "mse" else 1)
    lines: list[ChainLine] = []

    # dL/dŷ for each output unit, from the loss's formula
    grads_out = _autograd(b, last.steps[-1], sample)
    if b.loss_name == "mse":
        y = b.target[sample].double().numpy()
        d_out = 2 * (y_hat - y) / n
        for k in range(last.size):
            lines.append(
                ChainLine(
                    _sub("dL/dŷ", k, last.size),
                    f"2 × ({y_hat[k]:.4f} − {y[k]:.4f}) / {n}",
                    float(d_out[k]),
                    _at(grads_out, k),
                )
            )
    else:
        p = torch.softmax(torch.from_numpy(y_hat), 0).numpy()
        target = int(b.target[sample])
        d_out = (p - np.eye(last.size)[target]) / n
        for k in range(last.size):
            lines.append(
                ChainLine(
                    _sub("dL/dŷ", k, last.size),
                    f"(softmax {p[k]:.4f} − {1 if k == target else 0}) / {n}",
                    float(d_out[k]),
                    _at(grads_out, k),
                )
            )

    # back through each column down to the weight's: activations (slopes), then Linears
    d = d_out  # dL/d(this column's values, after its activations)
    for col in range(len(net.layers) - 1, column - 1, -1):
        layer = net.layers[col]
        if layer.activations:
            # the activations' slope at each neuron, as autograd applied it: dL/dz ÷ dL/dh
            slope = _slope(b, layer, sample)
            if col == column:
                z = layer.stages[0][j]
                lines.append(
                    ChainLine(
                        f"dL/dz{_low(j)}",
                        f"dL/dh{_low(j)} × {'∘'.join(layer.activations)}'"
                        f"({z:.4f}) = {d[j]:.4f} × {slope[j]:.4f}",
                        float(d[j] * slope[j]),
                        _at(_autograd(b, layer.steps[0], sample), j),
                    )
                )
            d = d * slope
        if col == column:
            break
        # into the previous column through this Linear's weights: Σ_k dL/dz_k · W[k, j]
        assert layer.weight is not None  # only the input column (col 0) has none
        w = layer.weight.astype(np.float64)
        back = d @ w
        if col - 1 == column:
            prev = net.layers[col - 1]
            terms = " + ".join(f"{d[k]:.4f} × {w[k, j]:.4f}" for k in range(len(d)))
            lines.append(
                ChainLine(
                    f"dL/d{'h' if prev.activations else 'z'}{_low(j)}",
                    f"Σₖ dL/dz'ₖ × {layer.name}.weight[k, {j}] = {terms}",
                    float(back[j]),
                    _at(_autograd(b, prev.steps[-1], sample), j),
                )
            )
        d = back

    # finally the weight itself: dL/dW[j, i] = dL/dz_j · x_i
    x = net.layers[column - 1].values.astype(np.float64)
    dz = float(d[j])
    layer = net.layers[column]
    name = f"{layer.name}.weight[{j}, {i}]"
    grad = float(b.param_grads[f"{layer.name}.weight"][j, i])
    lines.append(
        ChainLine(
            f"dL/dW[{j}, {i}]",
            f"dL/dz{_low(j)} × x{_low(i)} = {dz:.4f} × {x[i]:.4f}",
            dz * float(x[i]),
            grad,
        )
    )
    return ChainRule(name, tuple(lines), grad)


def _slope(b: Backward, layer: NeuronLayer, sample: int) -> np.ndarray:
    """d(after the activations) / d(the Linear's output), per neuron, from autograd's own
    gradients on both sides; 0 where no gradient arrives (any slope gives 0 there)."""
    before = _autograd(b, layer.steps[0], sample)
    after = next(
        (g for s in reversed(layer.steps[1:]) if (g := _autograd(b, s, sample)) is not None), None
    )
    if before is None or after is None:
        return np.ones(layer.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(after != 0, before / np.where(after != 0, after, 1), 0.0)


def _autograd(b: Backward, step: int, sample: int) -> np.ndarray | None:
    g = b.output_grads.get(step)
    return None if g is None else g[sample].double().numpy()


def _at(a: np.ndarray | None, k: int) -> float | None:
    return None if a is None else float(a[k])


def _sub(name: str, k: int, n: int) -> str:
    return f"{name}{_low(k)}" if n > 1 else name


def _low(k: int) -> str:
    return str(k).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
