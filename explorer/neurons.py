"""A small vector network as neurons and weights: ``neuron_net(trace) -> NeuronNet | None``.

SimpleNN (3-4-1), ForwardPassDemo (2-3-1) and the MLPs built on /build for iris or moons are
small enough to draw every neuron and every weight, as the tutorials' diagrams do. A column is
the input, or one ``Linear`` with the elementwise steps right after it (ReLU, dropout, ...):
its neurons show the value the next layer reads. Every number is the traced tensor's.

The data is collected here; ``explorer.figures.neurons`` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer import ops
from explorer.steps import INPUT, Step, Trace

MAX_UNITS = 64  # a column of more neurons is no longer readable


@dataclass(frozen=True)
class NeuronLayer:
    """One column of neurons."""

    name: str  # "input", or the Linear's module name ("layer1")
    steps: tuple[int, ...]  # the trace steps this column shows; () for the input
    stages: tuple[np.ndarray, ...]  # (n,) float32 after each of ``steps`` (the input: one)
    weight: np.ndarray | None = None  # (n, n_previous): row j feeds neuron j
    bias: np.ndarray | None = None  # (n,)
    activations: tuple[str, ...] = ()  # the elementwise ops after the Linear ("relu",)

    @property
    def values(self) -> np.ndarray:
        """What the next layer reads: after the activations."""
        return self.stages[-1]

    @property
    def pre(self) -> np.ndarray | None:
        """The Linear's own output, before the activations (None for the input)."""
        return self.stages[0] if self.steps else None

    def at(self, step_index: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(values, switched off) as they stood right after step ``step_index`` ran, when it
        is one of this column's steps; else the column's final values."""
        k = self.steps.index(step_index) if step_index in self.steps else len(self.stages) - 1
        values = self.stages[k]
        off = (values == 0) & (self.stages[0] != 0) if k > 0 else np.zeros(self.size, bool)
        return values, off

    @property
    def title(self) -> str:
        return " → ".join((self.name, *self.activations))

    @property
    def size(self) -> int:
        return int(self.values.shape[0])

    @property
    def off(self) -> np.ndarray:
        """Neurons an activation switched off: non-zero before it, exactly 0 after."""
        return self.at(None)[1]


@dataclass(frozen=True)
class NeuronNet:
    """The columns of a small network for one example of the batch."""

    layers: tuple[NeuronLayer, ...]
    sample: int

    def column_of(self, step_index: int) -> int | None:
        """The column that shows trace step ``step_index`` (None: a step outside every column)."""
        for i, layer in enumerate(self.layers):
            if step_index in layer.steps:
                return i
        return None


def neuron_net(trace: Trace, sample: int = 0, max_units: int = MAX_UNITS) -> NeuronNet | None:
    """The network as columns of neurons, or None when it is not a small chain of Linears.

    Args:
        trace: a traced pass whose input is a (batch, features) tensor.
        sample: which example of the batch.
        max_units: the most neurons a column may have.

    Returns:
        A ``NeuronNet`` when every step is a ``Linear`` or an elementwise step on the previous
        step's output and no column is wider than ``max_units``; otherwise None.
    """
    x = trace.input
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] > max_units:
        return None
    layers = [NeuronLayer("input", (), (_row(x, sample),))]
    last = INPUT  # the step whose output the current column shows
    current: dict | None = None
    for step in trace.steps:
        out = step.output
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or step.parents != (last,):
            return None
        op = _base(step.op)
        if ops.lookup(op) is ops.weighted.LINEAR:
            if current:
                layers.append(NeuronLayer(**current))
            if out.shape[1] > max_units or "weight" not in step.extras:
                return None
            bias = step.extras.get("bias")
            current = {
                "name": step.module or "linear",
                "steps": (step.index,),
                "stages": (_row(out, sample),),
                "weight": step.extras["weight"].detach().float().numpy(),
                "bias": None if bias is None else bias.detach().float().numpy(),
            }
        elif (
            current
            and (ops.acts_alone(op) or ops.is_reshape(op))
            and tuple(out.shape) == tuple(step.inputs[0].shape)
        ):
            if ops.acts_alone(op):
                current["activations"] = (*current.get("activations", ()), op)
            current["steps"] += (step.index,)
            current["stages"] += (_row(out, sample),)
        else:
            return None
        last = step.index
    if current is None:
        return None
    layers.append(NeuronLayer(**current))
    return NeuronNet(tuple(layers), sample)


def _row(t: torch.Tensor, sample: int) -> np.ndarray:
    return t[sample].detach().float().numpy().copy()


def _base(op: str) -> str:
    return op[:-1] if op.endswith("_") and not op.startswith("_") else op


def neuron_step(trace: Trace, net: NeuronNet, column: int) -> Step | None:
    """The Linear step that computes column ``column`` (None for the input)."""
    steps = net.layers[column].steps
    return trace.steps[steps[0]] if steps else None


@dataclass(frozen=True)
class NeuronSum:
    """How one neuron's value was made: every input times its weight, plus the bias."""

    inputs: np.ndarray  # (n_previous,) the previous column's values
    weights: np.ndarray  # (n_previous,) row ``unit`` of W
    bias: float
    total: float  # Σ inputs·weights + bias, recomputed here in float64
    pre: float  # the Linear's output as torch computed it
    value: float  # after the column's activations, as torch computed it
    activations: tuple[str, ...]  # the ops between ``pre`` and ``value`` ("relu",)

    @property
    def products(self) -> np.ndarray:
        return self.inputs.astype(np.float64) * self.weights.astype(np.float64)

    def written_out(self, decimals: int = 4) -> str:
        """``0.7393 = 1.0000 × -0.0053 + 2.0000 × 0.3793 + (-0.0140)`` with this neuron's numbers."""
        f = f"{{:.{decimals}f}}"
        terms = " + ".join(
            f"{f.format(x)} × {_signed(f.format(w))}"
            for x, w in zip(self.inputs, self.weights, strict=True)
        )
        return f"{f.format(self.total)} = {terms} + {_signed(f.format(self.bias))}"


def neuron_sum(net: NeuronNet, column: int, unit: int) -> NeuronSum:
    """The sum behind neuron ``unit`` of column ``column`` (not the input column)."""
    layer, previous = net.layers[column], net.layers[column - 1]
    if layer.weight is None or layer.pre is None:
        raise ValueError("the input column is typed in, not computed")
    weights = layer.weight[unit]
    bias = 0.0 if layer.bias is None else float(layer.bias[unit])
    total = float(previous.values.astype(np.float64) @ weights.astype(np.float64) + bias)
    return NeuronSum(
        previous.values,
        weights,
        bias,
        total,
        float(layer.pre[unit]),
        float(layer.values[unit]),
        layer.activations,
    )


def _signed(text: str) -> str:
    return f"({text})" if text.startswith("-") else text
