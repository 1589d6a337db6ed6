"""Predict, then reveal: ``questions(trace, index)`` asks about step ``index`` before it is shown.

Every answer is read off the traced pass -- what torch really produced -- and every feedback
names this step's numbers, so a wrong guess meets the reason it was wrong. The kinds:

* ``shape``: what shape comes out? (any step with a tensor output)
* ``zeros``: what fraction of the values will ReLU zero? (within ``ZEROS_TOLERANCE``)
* ``prediction``: which class will the network pick? (a classifier's last step)
* ``winner``: which cell of this max-pool window wins?
* ``mode``: would this step's output change in train mode? (dropout, BatchNorm, and ReLU for
  contrast)
* ``branch``: will the body of forward()'s ``if`` run?
* ``value``: what number comes out of this neuron? (small vector networks)
* ``hooks``: would ``model.forward(x)`` run the hooks? (the first module call)
* ``gradients``: did forward() compute any gradient? (the last step)

``Question.grade(response)`` reads a typed or picked answer and returns a ``Grade``; an answer
it cannot read raises ValueError with what to type instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from explorer import reading
from explorer.gradients import Backward
from explorer.neurons import neuron_net, neuron_sum
from explorer.ops.pooling import pool_settings
from explorer.ops.weighted import conv_settings
from explorer.reading import NO, YES
from explorer.steps import Step, Trace, source_of

# The short name of each kind, for a picker of questions ("Max-pool" for ``winner``).
LABELS = {
    "shape": "Shape",
    "zeros": "Zeros",
    "prediction": "Prediction",
    "winner": "Max-pool",
    "mode": "Train/eval",
    "branch": "Branch",
    "value": "Value",
    "hooks": "Hooks",
    "gradients": "Gradients",
    "gradient_sign": "Sign",
    "gradient_size": "Largest",
}
ZEROS_TOLERANCE = 0.10  # a guessed fraction within 10 percentage points counts
VALUE_TOLERANCE = 0.01  # relative; and at least 0.001 absolute, for 4-decimal hand sums


@dataclass(frozen=True)
class Grade:
    correct: bool
    feedback: str  # Markdown: the truth, the gap, this step's numbers


@dataclass(frozen=True)
class Question:
    """One thing a student can predict before a step is revealed."""

    kind: str
    prompt: str  # Markdown
    answer: Any  # the truth, as torch produced it
    options: tuple[Any, ...] = ()  # for a choice; empty for a typed answer
    why: str = ""  # the explanation shown with every grade, with this step's numbers
    context: dict[str, Any] = field(default_factory=dict)  # e.g. the pool window's values
    _check: Callable[[Any, Any], bool] | None = field(default=None, repr=False, compare=False)
    _read: Callable[[Any], Any] | None = field(default=None, repr=False, compare=False)

    def read(self, response: Any) -> Any:
        """The response as this kind's answer type; ValueError saying what to give instead."""
        if self._read is not None:
            return self._read(response)
        if self.options and response not in self.options:
            raise ValueError(f"Choose one of: {', '.join(map(str, self.options))}.")
        return response

    def grade(self, response: Any) -> Grade:
        """Right or wrong, with the feedback; ValueError if ``response`` cannot be read."""
        given = self.read(response)
        correct = self._check(given, self.answer) if self._check else given == self.answer
        head = (
            "**Right.**"
            if correct
            else f"**Not quite:** you said {_show(given)}, torch gave {_show(self.answer)}."
        )
        return Grade(correct, f"{head} {self.why}".strip())


def questions(trace: Trace, index: int, task: str | None = None) -> list[Question]:
    """The questions a student can answer before step ``index`` of ``trace`` is revealed.

    Args:
        trace: a traced pass (``explorer.trace``).
        index: the step about to be shown.
        task: the preset's task ("classify", "regress", "reconstruct"), if known; None
            guesses a classifier from a last step with one score per class.

    Returns:
        The most telling question first; ``shape`` is always among them for a tensor output.
    """
    step = trace.steps[index]
    out = step.output if isinstance(step.output, torch.Tensor) else None
    mode = _mode(step, trace.training)
    contrast = mode is not None and mode.answer == NO  # "no change" questions go last
    found: list[Question | None] = [
        _prediction(trace, step, task),
        _winner(step),
        _zeros(step),
        _branch(trace, step),
        _value(trace, step),
        None if contrast else mode,
        _shape(step) if out is not None else None,
        _hooks(trace, step),
        _gradients(trace, step),
        mode if contrast else None,
    ]
    return [q for q in found if q is not None]


# --- one maker per kind -----------------------------------------------------------------------


def _shape(step: Step) -> Question:
    answer = tuple(step.output.shape)
    return Question(
        "shape",
        f"What shape will come out of `{_code(step)}`? Type it like `1, 32, 28, 28`"
        " (or `()` for a single number).",
        answer,
        why=_shape_why(step),
        _read=reading.read_shape,
    )


def _zeros(step: Step) -> Question | None:
    if _op(step) != "relu" or not step.inputs:
        return None
    x = step.inputs[0]
    fraction = float((step.output == 0).float().mean())
    negative = int((x <= 0).sum())
    return Question(
        "zeros",
        f"ReLU is next. What fraction of its {x.numel():,} values will it set to 0? "
        f"(a fraction like `0.4` or a percentage like `40%`; within "
        f"{ZEROS_TOLERANCE:.0%} counts)",
        fraction,
        why=f"ReLU replaces every value that is not positive with 0: {negative:,} of the "
        f"{x.numel():,} inputs were ≤ 0, so {fraction:.1%} of the output is 0.",
        _check=lambda given, truth: abs(given - truth) <= ZEROS_TOLERANCE + 1e-9,
        _read=reading.read_fraction,
    )


def _prediction(trace: Trace, step: Step, task: str | None) -> Question | None:
    out = step.output
    last = step.index == len(trace) - 1
    if not last or not isinstance(out, torch.Tensor) or out.dim() != 2:
        return None
    if task is not None and task != "classify" or task is None and not 2 <= out.shape[1] <= 100:
        return None
    probs = torch.softmax(out[0].double(), 0)
    pick = int(probs.argmax())
    runner = int(probs.argsort(descending=True)[1])
    return Question(
        "prediction",
        "Which class will the network pick?",
        pick,
        options=tuple(range(out.shape[1])),
        why=f"The largest of the {out.shape[1]} scores is class {pick}'s ({float(out[0, pick]):.4f}"
        f"; probability {float(probs[pick]):.1%}); next comes {runner} "
        f"({float(probs[runner]):.1%}).",
        _read=reading.read_class(out.shape[1]),
    )


def _winner(step: Step) -> Question | None:
    if _op(step) != "max_pool2d" or "indices" not in step.extras or step.output.dim() != 4:
        return None
    settings = pool_settings(step)
    if settings is None or settings.padding != (0, 0) or settings.dilation != (1, 1):
        return None
    out, x = step.output[0], step.inputs[0][0]
    c = int(out.flatten(1).amax(1).argmax())  # the liveliest channel
    flat = int(out[c].argmax())
    i, j = divmod(flat, out.shape[2])
    (kh, kw), (sh, sw) = settings.kernel, settings.stride
    window = x[c, i * sh : i * sh + kh, j * sw : j * sw + kw]
    winner_flat = int(step.extras["indices"][0, c, i, j])
    r, q = divmod(winner_flat, x.shape[2])
    cell = (r - i * sh, q - j * sw)
    cells = tuple((a, b) for a in range(kh) for b in range(kw))
    values = ", ".join(f"{float(window[a, b]):.4f}" for a, b in cells)
    return Question(
        "winner",
        f"Max-pooling is next. In channel {c}, the {kh}×{kw} window at rows "
        f"{i * sh}-{i * sh + kh - 1}, columns {j * sw}-{j * sw + kw - 1} holds these values. Which "
        "cell wins (row, column within the window)?",
        cell,
        options=cells,
        why=f"Max-pooling keeps the largest value of each window and drops the rest (it does "
        f"not average): of {values}, the largest is {float(window[cell]):.4f} at {cell}; "
        f"output ({c}, {i}, {j}) is {float(out[c, i, j]):.4f}.",
        context={"window": window.tolist(), "channel": c, "output": (i, j)},
        _read=reading.read_cell(cells),
    )


def _mode(step: Step, training: bool) -> Question | None:
    op = _op(step)
    if op not in ("dropout", "batch_norm", "relu"):
        return None
    now = "train" if training else "eval"
    other = "eval" if training else "train"
    if op == "dropout":
        p = float(step.args.get("p", step.extras.get("p", 0.5)) or 0.0)
        answer = YES if p > 0 else NO
        why = (
            (
                f"Dropout (p = {p:g}) only acts in train mode: it zeroes each value with "
                f"probability {p:g} and scales the rest by 1/(1 − p) = {1 / (1 - p):.4g}; in "
                "eval mode it hands its input on unchanged."
            )
            if p > 0
            else "p = 0: nothing drops."
        )
        if training and "mask" in step.extras:
            mask = step.extras["mask"]
            why += f" In this pass it dropped {int((mask == 0).sum()):,} of {mask.numel():,}."
    elif op == "batch_norm":
        answer = YES
        why = (
            "BatchNorm normalises with the batch's own mean and variance in train mode and "
            "with its running statistics (learned during training) in eval mode."
        )
        if "running_mean" in step.extras and "batch_mean" in step.extras:
            why += (
                f" Channel 0 here: batch mean {float(step.extras['batch_mean'][0]):.4f}, "
                f"running mean {float(step.extras['running_mean'][0]):.4f}."
            )
    else:
        answer = NO
        why = "ReLU has no train/eval behaviour: max(0, x) is the same in both modes."
    return Question(
        "mode",
        f"This pass runs in **{now}** mode. Would this step's output change in {other} mode?",
        answer,
        options=(YES, NO),
        why=why,
        _read=reading.read_yes_no,
    )


def _branch(trace: Trace, step: Step) -> Question | None:
    """The last ``if`` of forward() between the previous step's line and this one's."""
    if step.index == 0:
        return None
    before = trace.steps[step.index - 1]
    if before.function != step.function or before.file != step.file:
        return None
    src = source_of(step)
    lines = {src.start + k: text for k, text in enumerate(src.lines)}
    ifs = [
        n for n in range(before.line + 1, step.line) if lines.get(n, "").lstrip().startswith("if ")
    ]
    if not ifs:
        return None
    n = ifs[-1]
    indent = len(lines[n]) - len(lines[n].lstrip())
    inside = all(
        len(lines[k]) - len(lines[k].lstrip()) > indent or not lines[k].strip()
        for k in range(n + 1, step.line + 1)
    )
    condition = lines[n].strip().removeprefix("if ").removesuffix(":").split("#")[0].strip()
    answer = YES if inside else NO
    return Question(
        "branch",
        f"forward() reaches `if {condition}:` (line {n}). Will the lines under it run this time?",
        answer,
        options=(YES, NO),
        why=f"The next op to run is `{_code(step)}` on line {step.line}, "
        + (
            "inside the `if`: the condition was true."
            if inside
            else "after the `if`: the condition was false, so its body was skipped."
        )
        + " forward() is plain Python: the graph is whatever ran.",
        _read=reading.read_yes_no,
    )


def _value(trace: Trace, step: Step) -> Question | None:
    net = neuron_net(trace)
    if net is None:
        return None
    col = net.column_of(step.index)
    if col is None:
        return None
    layer = net.layers[col]
    values, _ = layer.at(step.index)
    unit = int(abs(torch.from_numpy(values)).argmax())
    truth = float(values[unit])
    s = neuron_sum(net, col, unit)
    if step.index == layer.steps[0]:  # the Linear itself: a sum to do by hand
        x = ", ".join(f"{v:.4f}" for v in s.inputs)
        w = ", ".join(f"{v:.4f}" for v in s.weights)
        prompt = (
            f"What number comes out of neuron {unit} of `{layer.name}`? Its inputs are "
            f"[{x}], its weights [{w}], its bias {s.bias:.4f}."
        )
        why = f"x·w + b: {s.written_out()}."
    else:
        before = float(layer.stages[layer.steps.index(step.index) - 1][unit])
        prompt = (
            f"Neuron {unit} of `{layer.name}` holds {before:.4f}. What number will "
            f"`{_op(step)}` make of it?"
        )
        why = f"`{_op(step)}` turns {before:.4f} into {truth:.4f}."
    return Question(
        "value",
        prompt + f" (4 decimals; within {VALUE_TOLERANCE:.0%} counts)",
        truth,
        why=why,
        _check=lambda given, t: abs(given - t) <= max(1e-3, VALUE_TOLERANCE * abs(t)),
        _read=reading.read_number,
    )


def _hooks(trace: Trace, step: Step) -> Question | None:
    first = next((s for s in trace.steps if s.kind == "module" and s.call_flow), None)
    if first is None or first.index != step.index:
        return None
    assert step.call_flow is not None  # step is ``first``, which has one
    flow = " → ".join(["model(x)", *step.call_flow.describe()])
    return Question(
        "hooks",
        "Calling `model(x)` goes through `nn.Module.__call__`. If you called "
        "`model.forward(x)` directly instead, would the module's hooks run?",
        NO,
        options=(YES, NO),
        why=f"Only `__call__` runs hooks; `forward` is just the method it calls. Here: {flow}. "
        "That is why the tutorials write `model(x)`, never `model.forward(x)`.",
        _read=reading.read_yes_no,
    )


def _gradients(trace: Trace, step: Step) -> Question | None:
    if step.index != len(trace) - 1:
        return None
    return Question(
        "gradients",
        "The forward pass is about to end. Has it computed any gradients?",
        NO,
        options=(YES, NO),
        why="forward() computes outputs only. With autograd on it also records how each "
        f"output was made (this one by `{_code(step)}`), so that `loss.backward()` can "
        "compute the gradients afterwards: see the Backward pass page.",
        _read=reading.read_yes_no,
    )


# --- small helpers ----------------------------------------------------------------------------


def _shape_why(step: Step) -> str:
    out = tuple(step.output.shape)
    ins = ", ".join(str(tuple(t.shape)) for t in step.inputs) or "nothing"
    text = f"`{_code(step)}` took {ins} and gave {out}."
    op = _op(step)
    if op in ("conv2d", "max_pool2d") and step.inputs and step.inputs[0].dim() == 4:
        settings = conv_settings(step) if op == "conv2d" else pool_settings(step)
        w = step.extras.get("weight")
        kernel = (
            tuple(w.shape[-2:])
            if op == "conv2d" and w is not None
            else getattr(settings, "kernel", None)
        )
        if settings is not None and kernel is not None:
            size, k = step.inputs[0].shape[-1], kernel[-1]
            p, s = settings.padding[-1], settings.stride[-1]
            text += (
                f" Each side: (size + 2·padding − kernel) / stride + 1 = ({size} + 2·{p} − "
                f"{k}) / {s} + 1 = {(size + 2 * p - k) // s + 1}"
            )
            if op == "conv2d":
                text += f"; and one output channel per filter: {out[1]}."
            else:
                text += "; pooling keeps the channels."
    elif op == "linear":
        text += f" A Linear gives one number per output unit: {out[-1]} of them per example."
    elif op in ("view", "reshape", "flatten") and step.inputs:
        text += (
            f" Reshaping keeps every value: {step.inputs[0].numel():,} in, "
            f"{step.output.numel():,} out."
        )
    return text


def _code(step: Step) -> str:
    return (step.code or step.op).split("#")[0].strip()


def _op(step: Step) -> str:
    return step.op[:-1] if step.op.endswith("_") and not step.op.startswith("_") else step.op


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1 or value == 0 else f"{value:.4f}"
    return f"`{value}`"


# --- before the backward pass -----------------------------------------------------------------


def gradient_questions(b: Backward) -> list[Question]:
    """What a student can predict before ``loss.backward()``'s gradients are shown: the sign
    of one weight's gradient, and which parameter gets the largest."""
    weights = {n: g for n, g in b.param_grads.items() if n.endswith("weight") and g.numel()}
    if not weights:
        return []
    name, grad = max(weights.items(), key=lambda kv: float(kv[1].abs().max()))
    flat = int(grad.abs().argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), grad.shape))
    value = float(grad.reshape(-1)[flat])
    sign = "positive" if value > 0 else "negative" if value < 0 else "zero"
    label = f"{name}[{', '.join(map(str, index))}]"
    found = [
        Question(
            "gradient_sign",
            f"After `loss.backward()`, will the gradient of `{label}` be positive, "
            "negative or zero?",
            sign,
            options=("positive", "negative", "zero"),
            why=f"dL/d{label} = {value:.6g}: "
            + (
                "nudging this weight up would raise the loss, so an SGD step moves it down"
                if value > 0
                else "nudging this weight up would lower the loss, so an SGD step moves it up"
                if value < 0
                else "this weight does not affect the loss here"
            )
            + f" (by lr × {abs(value):.4g}).",
            _read=reading.read_choice(("positive", "negative", "zero")),
        )
    ]
    norms = {n: float(g.norm()) for n, g in weights.items()}
    if len(norms) > 1:
        biggest = max(norms, key=norms.__getitem__)
        listed = ", ".join(f"{n} {v:.4g}" for n, v in sorted(norms.items(), key=lambda kv: -kv[1]))
        found.append(
            Question(
                "gradient_size",
                "Which layer's weights will get the largest gradient (its norm, "
                "the square root of the sum of squares)?",
                biggest,
                options=tuple(norms),
                why=f"Gradient norms: {listed}.",
                _read=reading.read_choice(tuple(norms)),
            )
        )
    return found
