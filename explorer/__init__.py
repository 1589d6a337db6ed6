"""Forward Pass Explorer: see what PyTorch's forward() does, op by op.

Data flow: ``zoo.load_model -> trace.trace -> figures.* -> pages/*``.

    >>> import explorer
    >>> model = explorer.load_model("cnn")
    >>> t = explorer.trace(model, explorer.preprocess_digit(canvas_rgba))
    >>> [(s.op, s.output_shape) for s in t.steps]
    >>> explorer.explain(t.steps[0], t)  # what the step did, with its numbers (Markdown)
    >>> explorer.unit_computation(t.steps[0], (0, 5, 5))  # one output value, recomputed

What the explorer knows about each op (names, records, words, unit maths, figure, gradient
note) is in its op catalogue, ``explorer.ops``.
"""

from __future__ import annotations

from explorer.chain_rule import ChainRule, chain_rule
from explorer.digits import DigitStages, digit_stages, has_ink, preprocess_digit, to_image
from explorer.explain import explain
from explorer.gradients import Backward, backward, sgd_step
from explorer.neurons import NeuronNet, neuron_net, neuron_sum
from explorer.printing import Printout, printout
from explorer.questions import Grade, Question, questions
from explorer.sharing import session_view
from explorer.trace import INPUT, CallFlow, Source, Step, Trace, source_of, trace
from explorer.units import UnitComputation, unit_computation
from explorer.zoo import PRESETS, Preset, example_input, load_model

__all__ = [
    "INPUT",
    "PRESETS",
    "Backward",
    "CallFlow",
    "ChainRule",
    "DigitStages",
    "Grade",
    "NeuronNet",
    "Preset",
    "Printout",
    "Question",
    "Source",
    "Step",
    "Trace",
    "UnitComputation",
    "backward",
    "chain_rule",
    "digit_stages",
    "example_input",
    "explain",
    "has_ink",
    "load_model",
    "neuron_net",
    "neuron_sum",
    "preprocess_digit",
    "printout",
    "questions",
    "session_view",
    "sgd_step",
    "source_of",
    "to_image",
    "trace",
    "unit_computation",
]
