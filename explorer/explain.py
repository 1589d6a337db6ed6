"""Plain-language words for a step: ``explain(step)``, ``op_title(step)``, ``kind_label(step)``.

Each explanation is 1-4 sentences of Markdown for a secondary-school or first-year student,
with this step's own numbers filled in (sizes, settings, how many values ReLU zeroed...).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from explorer.trace import INPUT, Step, Trace
from explorer.units import conv_settings, fmt, pool_settings

_KINDS = {"module": "module call", "function": "functional call", "method": "tensor method"}
_RESHAPES = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as",
             "reshape_as", "ravel"}
_COMPARE = {"gt": ">", "lt": "<", "ge": "≥", "le": "≤", "eq": "==", "ne": "!="}


def kind_label(step: Step) -> str:
    """"module call", "functional call" or "tensor method"."""
    return _KINDS.get(step.kind, step.kind)


def op_title(step: Step) -> str:
    """A heading such as ``conv2d · conv1 (Conv2d)`` or ``relu · F.relu() in block``."""
    if step.kind == "module":
        return f"{step.op} · {step.module or 'model'} ({step.module_type})"
    where = f"{_function_prefix(step)}{step.op}()" if step.kind == "function" else (
        f"Tensor.{step.op}()")
    return f"{step.op} · {where}" + (f" in {step.module}" if step.module else "")


def overflow_note(trace: Trace) -> str | None:
    """A warning if some step's output holds infinity or NaN, naming the first such step.

    A typed input may be up to float32's largest number (about 3.4e38) and still grow past it
    inside the network; the figures and statistics would then show inf or NaN with no reason.
    """
    for step in trace.steps:
        out = _out(step)
        if out is not None and out.is_floating_point() and not bool(torch.isfinite(out).all()):
            return (f"From step {step.index} ({step.op}) on, some values are infinite or NaN: "
                    "they grew past about 3.4e38, the largest number float32 holds. Smaller "
                    "inputs keep the numbers in range.")
    return None


def explain(step: Step, trace: Trace | None = None) -> str:
    """What this step did, in 1-4 plain sentences of Markdown with its real numbers.

    Args:
        step: a step from ``explorer.trace``.
        trace: the trace it came from, if at hand; lets ``add`` name the steps it joins and
            check that one was computed from the other before calling it a skip connection.

    Returns:
        Markdown text.
    """
    op = step.op[:-1] if step.op.endswith("_") and not step.op.startswith("_") else step.op
    writer = _WRITERS.get(op)
    if writer is None and op in _RESHAPES:
        writer = _reshape
    if writer is None and op in _COMPARE:
        writer = _compare
    text = writer(step, trace) if writer else None
    return text or _generic(step)


# --- one writer per op -----------------------------------------------------------------------


def _linear(step: Step, trace: Trace | None) -> str | None:
    w, b = step.extras.get("weight"), step.extras.get("bias")
    if w is None or w.dim() != 2:
        return None
    n_out, n_in = w.shape
    plus_b = " plus a bias" if b is not None else ""
    return (f"{_who(step)} computes **y = xWᵀ{' + b' if b is not None else ''}**: each of the "
            f"{n_out} outputs is a weighted sum of the {n_in} inputs{plus_b}. "
            f"W is {n_out}×{n_in}, so this layer holds {n_out * n_in:,} weights"
            + (f" and {n_out:,} biases." if b is not None else "."))


def _conv2d(step: Step, trace: Trace | None) -> str | None:
    w, b, s = step.extras.get("weight"), step.extras.get("bias"), conv_settings(step)
    if w is None or s is None or not step.inputs or step.inputs[0].dim() != 4:
        return None
    c_out, c_in_group, kh, kw = w.shape
    c_in = c_in_group * s.groups
    h, wd = step.inputs[0].shape[2:]
    oh, ow = step.output_shape[2:]
    over = (f"the {c_in} input channel{'s' if c_in != 1 else ''}" if s.groups == 1 else
            f"its group's {c_in_group} input channels (groups = {s.groups})")
    size = f"{kh}×{kw}"
    first = (f"{_who(step)} is a convolution: each of the {c_out} output channels is the sum "
             f"over {over} of a {size} kernel slid across the image"
             + (", plus a bias." if b is not None else "."))
    pad = (f"'same' padding ({_pair_text(s.padding)} before, {_pair_text(s.padding_end)} after)"
           if s.padding != s.padding_end else f"padding {_pair_text(s.padding)}")
    setting = f"{pad} and stride {_pair_text(s.stride)}"
    if s.dilation != (1, 1):
        setting += f", dilation {_pair_text(s.dilation)}"
    change = "keep" if (h, wd) == (oh, ow) else "turn"
    second = (f"With {setting}, the kernel's positions {change} {h}×{wd} "
              f"{'as' if change == 'keep' else 'into'} {oh}×{ow}, so the output is "
              f"{c_out}×{oh}×{ow} per example.")
    return f"{first} {second}"


def _relu(step: Step, trace: Trace | None) -> str | None:
    out = _out(step)
    if out is None or out.numel() == 0:
        return None
    zeroed = int((out == 0).sum())
    return (f"{_who(step)} keeps positive numbers and replaces every negative one with 0. "
            f"In this step it zeroed {_pct(zeroed / out.numel())} of the values "
            f"({zeroed:,} of {out.numel():,}).")


def _max_pool2d(step: Step, trace: Trace | None) -> str | None:
    s = pool_settings(step)
    if s is None or not step.inputs:
        return None
    k = f"{s.kernel[0]}×{s.kernel[1]}"
    return (f"{_who(step)} slides a {k} window with stride {_pair_text(s.stride)} and keeps only "
            f"each window's maximum: {_per_example(step.input_shapes[0])} → "
            f"{_per_example(step.output_shape)} per example. The strongest response in each "
            "neighbourhood survives; the rest are dropped.")


def _dropout(step: Step, trace: Trace | None) -> str | None:
    p, mask = step.extras.get("p"), step.extras.get("mask")
    if p is None or mask is None:
        return None
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    if not step.extras.get("training", False):
        return (f"{_who(step)} does nothing in evaluation mode: the output is exactly the input. "
                f"In training it would zero each value with probability p = {fmt(p)} and scale "
                f"the survivors by 1/(1 - {fmt(p)}) = {scale:.3f}.")
    dropped = int((~mask).sum())
    return (f"{_who(step)} is in training mode: it zeroes each value with probability "
            f"p = {fmt(p)}; this time it dropped {_pct(dropped / mask.numel())} "
            f"({dropped:,} of {mask.numel():,}). The survivors are multiplied by "
            f"1/(1 - {fmt(p)}) = {scale:.3f}, so the average size of the numbers stays the same.")


def _reshape(step: Step, trace: Trace | None) -> str | None:
    if not step.inputs:
        return None
    before, after = step.input_shapes[0], step.output_shape
    text = (f"{_who(step)} only changes the shape: {before} → {after}. "
            "The numbers and their order stay exactly the same")
    if before and after and before[0] == after[0] and len(before) > len(after) == 2:
        text += f"; each example's {'*'.join(map(str, before[1:]))} = {after[1]} values now sit in one row"
    elif before and after and before[0] == after[0] and len(after) > len(before) == 2:
        text += f"; each example's {before[1]} values are laid out as {'×'.join(map(str, after[1:]))}"
    return text + "."


def _batch_norm(step: Step, trace: Trace | None) -> str | None:
    stats = step.extras.get("statistics")
    if stats is None or not step.inputs:
        return None
    x = step.inputs[0]
    channels = x.shape[1] if x.dim() > 1 else 1
    mean, var = step.extras.get(f"{stats}_mean"), step.extras.get(f"{stats}_var")
    if stats == "batch":
        per = x.numel() // channels
        text = (f"{_who(step)} uses **batch statistics** (training mode): each of the {channels} "
                f"channels is shifted by its mean and divided by its standard deviation, both "
                f"measured on this batch ({per:,} values per channel), then scaled by γ and "
                "shifted by β.")
    else:
        text = (f"{_who(step)} uses its **running statistics** (evaluation mode): each of the "
                f"{channels} channels is normalised with the mean and variance saved during "
                "training, not this batch's, so every example is treated the same whatever "
                "else is in the batch; then scaled by γ and shifted by β.")
    if mean is not None and var is not None:
        text += f" Channel 0 used mean {fmt(float(mean[0]))} and variance {fmt(float(var[0]))}."
    return text


def _add(step: Step, trace: Trace | None) -> str | None:
    if len(step.inputs) == 2 and len(step.parents) == 2 and (
            step.input_shapes[0] == step.input_shapes[1]):
        x_i, fx_i = sorted(step.parents)
        if trace is None or _descends(trace, fx_i, x_i):
            names = (f" Here x is {_step_name(trace, x_i)} and f(x) is {_step_name(trace, fx_i)}."
                     if trace is not None else "")
            return (f"A **skip connection**: two earlier results are added element by element, "
                    f"**x + f(x)**, where f(x) was computed from x.{names} Both are "
                    f"{_per_example(step.input_shapes[0])} per example, so the layers in "
                    "between only have to learn a change to x.")
        return (f"Adds two tensors element by element: {step.input_shapes[0]} + "
                f"{step.input_shapes[1]} → {step.output_shape}.")
    return None  # a bias, a constant or broadcasting: the generic words fit


def _cat(step: Step, trace: Trace | None) -> str | None:
    dim = step.args.get("dim", step.args.get("arg1", 0))
    shapes = " and ".join(str(s) for s in step.input_shapes)
    return (f"`torch.cat` joins {len(step.inputs)} tensors along dim {dim}: {shapes} → "
            f"{step.output_shape}. Nothing is computed: the values are placed side by side.")


def _squash(low: str, high: str, rule: str) -> Callable[[Step, Trace | None], str | None]:
    def write(step: Step, trace: Trace | None) -> str | None:
        out = _out(step)
        if out is None or out.numel() == 0:
            return None
        return (f"{_who(step)} squashes every value into the range {low} to {high} with {rule}; "
                f"here the outputs run from {fmt(float(out.min()))} to {fmt(float(out.max()))}.")
    return write


def _softmax(step: Step, trace: Trace | None) -> str | None:
    out = _out(step)
    dim = step.args.get("dim", step.args.get("arg1"))
    if out is None or out.dim() == 0:
        return None
    along = f" along dim {dim}" if dim is not None else ""
    log = step.op.startswith("log_")
    text = (f"{_who(step)} turns each group of scores{along} into "
            + ("log-probabilities: the logarithms of positive numbers that add up to 1, so all "
               "are ≤ 0." if log else "probabilities: all positive, adding up to 1."))
    if out.dim() == 2 and (dim is None or int(dim) % 2 == 1):
        best = int(out[0].argmax())
        prob = float(out[0, best].exp()) if log else float(out[0, best])
        text += f" For example 0 the largest is at position {best} (probability {prob:.3f})."
    return text


def _reduce(step: Step, trace: Trace | None) -> str | None:
    out = _out(step)
    if out is None or not step.inputs:
        return None
    verb = "averages" if step.op == "mean" else "adds up"
    n_in = step.inputs[0].numel()
    dim = step.args.get("dim", step.args.get("arg1"))
    if out.dim() == 0:
        return f"{_who(step)} {verb} all {n_in:,} values of its input into one number: {fmt(float(out))}."
    return (f"{_who(step)} {verb} its input along dim {dim}: {step.input_shapes[0]} → "
            f"{step.output_shape}, {n_in // max(out.numel(), 1):,} values into each result.")


def _compare(step: Step, trace: Trace | None) -> str | None:
    out = _out(step)
    if out is None:
        return None
    symbol = _COMPARE[step.op.rstrip("_")]
    if out.dim() == 0:
        left = fmt(float(step.inputs[0])) if step.inputs and step.inputs[0].dim() == 0 else "a"
        rights = [float(p) for p in step.params.values() if p.dim() == 0]
        rights += [float(v) for k, v in step.args.items() if k.startswith("arg")
                   and isinstance(v, (int, float))]
        if len(step.inputs) == 2 and step.inputs[1].dim() == 0:
            rights.insert(0, float(step.inputs[1]))
        right = fmt(rights[0]) if rights else "b"
        return (f"Compares: is {left} {symbol} {right}? The answer is **{bool(out)}**. A yes/no "
                "value like this is what an `if` in forward() reads to choose which code runs "
                "next, so the steps after it depend on this answer.")
    true = int(out.bool().sum())
    return (f"Compares element by element ({symbol}): {_pct(true / max(out.numel(), 1))} of the "
            f"{out.numel():,} results are True.")


def _generic(step: Step) -> str:
    ins = ", ".join(str(s) for s in step.input_shapes) or "no tensor inputs"
    return (f"`{step.op}` is {_kind_phrase(step)}. It took {ins} and returned "
            f"{step.output_shape}.")


_WRITERS: dict[str, Callable[[Step, Trace | None], str | None]] = {
    "linear": _linear, "conv2d": _conv2d, "relu": _relu, "max_pool2d": _max_pool2d,
    "max_pool2d_with_indices": _max_pool2d, "dropout": _dropout, "batch_norm": _batch_norm,
    "add": _add, "cat": _cat, "concat": _cat,
    "sigmoid": _squash("0", "1", "σ(x) = 1 / (1 + e^(-x))"),
    "tanh": _squash("-1", "1", "tanh(x)"),
    "softmax": _softmax, "log_softmax": _softmax, "mean": _reduce, "sum": _reduce,
}


# --- helpers ---------------------------------------------------------------------------------


def _who(step: Step) -> str:
    """How a sentence names the step: the module, or the call."""
    if step.kind == "module":
        return f"`{step.module or 'model'}` ({step.module_type})"
    if step.kind == "function":
        return f"`{_function_prefix(step)}{step.op}`"
    return f"`x.{step.op}()`"


def _kind_phrase(step: Step) -> str:
    if step.kind == "module":
        return f"the module {step.module or 'model'} ({step.module_type})"
    if step.kind == "function":
        prefix = _function_prefix(step)
        return ("a function from torch.nn.functional" if prefix == "F." else
                f"a torch function (`{prefix}{step.op}`)")
    return f"a tensor method (`x.{step.op}(...)`)"


def _function_prefix(step: Step) -> str:
    """``F.`` or ``torch.``, as the source line wrote it when it says."""
    if f"torch.{step.op}(" in step.code:
        return "torch."
    return "F." if hasattr(F, step.op) else "torch."


def _step_name(trace: Trace, index: int) -> str:
    if index == INPUT:
        return "the model's input"
    return f"step {index} ({op_title(trace[index])})"


def _descends(trace: Trace, later: int, earlier: int) -> bool:
    """Whether step ``later`` was computed (through any path) from step ``earlier``."""
    seen, todo = set(), [later]
    while todo:
        i = todo.pop()
        if i == earlier:
            return True
        if i == INPUT or i in seen or i >= len(trace):
            continue
        seen.add(i)
        todo.extend(trace[i].parents)
    return False


def _out(step: Step) -> torch.Tensor | None:
    out = step.output
    if isinstance(out, (tuple, list)):
        out = next((o for o in out if isinstance(o, torch.Tensor)), None)
    return out if isinstance(out, torch.Tensor) else None


def _per_example(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape[1:]) if len(shape) > 1 else str(shape)


def _pair_text(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]}×{v[1]}"


def _pct(frac: float) -> str:
    return f"{100 * frac:.1f}%"
