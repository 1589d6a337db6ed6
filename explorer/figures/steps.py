"""``step_figure(step)``: the main picture of one traced op, chosen by what the op does.

Which picture an op gets is its ``figure`` layout in the op catalogue (``explorer.ops``); the
layouts are drawn here, each where the step's tensors fit it.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from explorer import ops
from explorer.figures.panels import example, panels_figure, view
from explorer.steps import Step

MAX_MARKS = 4000  # max-pool winners marked at once; more would be a cloud and a large payload
# Bytes of plotly JSON a step figure aims at; the /forward page's budget is 300 KB a rerun.
# A figure of several maps that would pass it shows a window of channels; a single mosaic always
# shows every channel (conv1 of the cnn, 32 x 28 x 28 float32 values, is ~216 KB on its own).
STEP_BUDGET = 240_000
# Measured costs in the JSON: a float32 cell is 4 bytes in base64 (5.3 chars) plus the "/" that
# plotly escapes as \u002f, ~6.5 chars; the uint8 channel number for hover, ~1.35 chars.
_VALUE_CELL = 8.2
_MASK_CELL = 2.8
_OVERHEAD = 12_000  # layout, template, axis labels


def step_title(step: Step) -> str:
    """e.g. "conv2d · conv1 → (1, 32, 28, 28)" or "relu (in block) → (1, 16, 14, 14)"."""
    if step.kind == "module":
        name = f"{step.op} · {step.module}" if step.module else step.op
    else:
        name = f"{step.op} (in {step.module})" if step.module else step.op
    return f"{name} → {step.output_shape}"


def step_figure(
    step: Step, *, sample: int = 0, channel: int | None = None, first_channel: int = 0
) -> go.Figure:
    """The main picture of one step, drawn from the tensors the step recorded.

    Args:
        step: a step of ``explorer.trace``.
        sample: which example of the batch to show.
        channel: show only this channel of the step's maps (e.g. one channel's max-pool
            winners). ``None`` shows every channel in a mosaic, or as many as ``STEP_BUDGET``
            allows when a figure would hold several large maps; the title then says which.
        first_channel: where such a window of channels starts (to page through them).

    Returns:
        A figure titled with the op, the module and the output shape.
    """
    out = _first_tensor(step.output)
    if out is None:
        return panels_figure([], f"{step_title(step)} · no tensor output")
    try:
        return _pick(step, out)(
            step, out, sample, _Channels(channel, first_channel, window=bool(first_channel))
        )
    except _TooManyChannels:
        return _every_channel(step, out, sample)


# --- one function per kind of op -------------------------------------------------------------


def _relu(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    before, after = example(step.inputs[0], sample), example(out, sample)
    zeroed = (after == 0) & (before != 0)  # what the ReLU itself set to 0
    frac = float(zeroed.float().mean()) if zeroed.numel() else 0.0
    first, count, note = _window(after, want, value_maps=2, mask_maps=1)
    panels = [
        view(_take(before, first, count), f"before {tuple(step.inputs[0].shape)}", first=first),
        view(_take(after, first, count), f"after {tuple(out.shape)}", first=first),
        view(
            _take(zeroed, first, count),
            f"zeroed: {frac:.0%} (purple)",
            mask=True,
            mask_meaning="zeroed",
            first=first,
        ),
    ]
    return panels_figure(panels, _title(step, note))


def _elementwise(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    before, after = example(step.inputs[0], sample), example(out, sample)
    first, count, note = _window(after, want, value_maps=2)
    return panels_figure(
        [
            view(_take(before, first, count), f"before {tuple(step.inputs[0].shape)}", first=first),
            view(_take(after, first, count), f"after {tuple(out.shape)}", first=first),
        ],
        _title(step, note),
    )


def _pool(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    x, y = example(step.inputs[0], sample), example(out, sample)
    winners = step.extras.get("indices")
    first, count, note = _window(x, want, value_maps=1, extra=y)
    inp = view(_take(x, first, count), f"input {tuple(step.inputs[0].shape)}", first=first)
    if winners is not None and x.dim() == 3:
        idx = winners[sample] if winners.dim() == 4 else winners
        idx = idx[first : first + count].reshape(count, -1).numpy()
        if idx.size <= MAX_MARKS:
            chans = np.repeat(np.arange(first, first + count), idx.shape[1])
            rs, cs = np.divmod(idx.reshape(-1), x.shape[-1])
            inp.marks.append((chans, rs, cs))
            inp.title += " · dots: each window's max"
        else:
            note = _join(
                note,
                f"{idx.size} winners: too many to mark (> {MAX_MARKS}), pick a channel to see them",
            )
    out_panel = view(_take(y, first, count), f"output {tuple(out.shape)}", first=first)
    return panels_figure([inp, out_panel], _title(step, note))


def _dropout(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    x, y = example(step.inputs[0], sample), example(out, sample)
    mask = step.extras.get("mask")
    kept = example(mask, sample) if mask is not None else torch.ones_like(x)
    p, scale = step.extras.get("p", 0.0), step.extras.get("scale", 1.0)
    if not step.extras.get("training", False):
        how = "eval mode: identity"
    elif p == 0:
        how = "p = 0: identity"
    else:
        how = f"p = {p:g}: kept units × {scale:.4g} = 1/(1-p), dropped ones → 0"
    first, count, note = _window(y, want, value_maps=2, mask_maps=1)
    n_kept = int(kept.sum())
    panels = [
        view(_take(x, first, count), f"before {tuple(step.inputs[0].shape)}", first=first),
        view(
            _take(kept, first, count),
            f"mask: {n_kept} kept, {kept.numel() - n_kept} dropped (purple = kept)",
            mask=True,
            mask_meaning="kept",
            first=first,
        ),
        view(_take(y, first, count), f"after {tuple(out.shape)}", first=first),
    ]
    return panels_figure(panels, _title(step, _join(how, note)))


def _add(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    a, b = (example(t, sample) for t in step.inputs[:2])
    y = example(out, sample)
    first, count, note = _window(y, want, value_maps=3)
    names = _operands(step) or ("a", "b", "a + b")
    panels = [
        view(_take(t, first, count), f"{name} {tuple(src.shape)}", first=first)
        for t, src, name in zip((a, b, y), (*step.inputs[:2], out), names, strict=True)
    ]
    return panels_figure(panels, _title(step, note))


def _output_maps(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    y = example(out, sample)
    # One mosaic: every channel, whatever the budget, unless the caller asked for one.
    first, count, note = (0, len(y) if y.dim() else 1, "")
    if want.only is not None:
        first, count, note = _window(y, want, value_maps=1)
    if "statistics" in step.extras:  # batch norm: batch or running statistics
        note = _join(f"{step.extras['statistics']} statistics", note)
    return panels_figure(
        [view(_take(y, first, count), f"output {tuple(out.shape)}", first=first)],
        _title(step, note),
    )


def _linear(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    x, y = example(step.inputs[0], sample), example(out, sample)
    return panels_figure(
        [view(x, f"input {tuple(step.inputs[0].shape)}"), view(y, f"output {tuple(out.shape)}")],
        step_title(step),
    )


def _reshape(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    src = step.inputs[0]
    x, y = example(src, sample), example(out, sample)
    note = f"the same {out.numel()} values in the same order: only the shape changed"
    return panels_figure(
        [view(x, f"before {tuple(src.shape)}"), view(y, f"after {tuple(out.shape)}")],
        _title(step, note),
    )


def _before_after(step: Step, out: torch.Tensor, sample: int, want: _Channels) -> go.Figure:
    y = example(out, sample)
    if not step.inputs:
        return panels_figure([view(y, f"output {tuple(out.shape)}")], step_title(step))
    src = step.inputs[0]
    x = example(src, sample)
    return panels_figure(
        [view(x, f"input {tuple(src.shape)}"), view(y, f"output {tuple(out.shape)}")],
        step_title(step),
    )


def _operands(step: Step) -> tuple[str, str, str] | None:
    """The two sides of ``x + out`` as the source writes them, when the step knows its call."""
    if step.columns is None:
        return None
    call = linecache.getline(step.file, step.line)[slice(*step.columns)].strip()
    depth, cut = 0, None
    for k, ch in enumerate(call):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "+" and depth == 0:
            cut = k
    if cut is None:
        return None
    left, right = call[:cut].strip(), call[cut + 1 :].strip()
    return (left, right, call) if left and right else None


# --- choosing and sizing ---------------------------------------------------------------------


def _same_shape(step: Step, out: torch.Tensor) -> bool:
    return bool(step.inputs) and step.inputs[0].shape == out.shape


# layout name (the catalogue's OpInfo.figure) -> (does this step fit it, how to draw it)
_LAYOUTS: dict[str, tuple[Callable[[Step, torch.Tensor], bool], Callable[..., go.Figure]]] = {
    "zeroing": (_same_shape, _relu),
    "elementwise": (_same_shape, _elementwise),
    "pool": (lambda step, out: bool(step.inputs) and step.inputs[0].dim() >= 3, _pool),
    "dropout": (_same_shape, _dropout),
    "add": (lambda step, out: len(step.inputs) >= 2 and out.dim() == 4, _add),
    "reshape": (lambda step, out: bool(step.inputs), _reshape),
    "linear": (lambda step, out: bool(step.inputs), _linear),
    "maps": (lambda step, out: out.dim() == 4, _output_maps),
}


def _pick(step: Step, out: torch.Tensor) -> Callable[..., go.Figure]:
    info = ops.lookup(step.op)
    layout = _LAYOUTS.get(info.figure if info is not None else "auto")
    if layout is not None and layout[0](step, out):
        return layout[1]
    # "auto", and a step its layout does not fit: every channel, or input | output
    return _output_maps if out.dim() == 4 else _before_after


@dataclass(frozen=True)
class _Channels:
    """What the caller asked for: one channel, or a window starting at ``first``."""

    only: int | None
    first: int = 0
    # a window of channels when every one does not fit; False: every channel, one mosaic
    window: bool = False


def _window(
    x: torch.Tensor,
    want: _Channels,
    *,
    value_maps: int,
    mask_maps: int = 0,
    extra: torch.Tensor | None = None,
) -> tuple[int, int, str]:
    """Which channels (first, count) of an example's (C, H, W) maps a figure shows, and a note.

    All of them when the figure fits ``STEP_BUDGET``, else a window of as many as fit.
    ``extra`` is one more (C, h, w) map shown alongside (a pool's output).
    """
    if x.dim() != 3:
        return 0, len(x) if x.dim() else 1, ""
    c, h, w = x.shape
    if want.only is not None:
        if not 0 <= want.only < c:
            raise IndexError(f"channel {want.only} is out of range for {c} channels")
        return want.only, 1, f"channel {want.only} of {c}"
    per_channel = (h + 1) * (w + 1) * (value_maps * _VALUE_CELL + mask_maps * _MASK_CELL)
    if extra is not None and extra.dim() == 3:
        per_channel += (extra.shape[1] + 1) * (extra.shape[2] + 1) * _VALUE_CELL
    count = max(1, min(c, int((STEP_BUDGET - _OVERHEAD) // per_channel)))
    if count == c:
        return 0, c, ""
    if not want.window:
        raise _TooManyChannels  # every channel, in one mosaic: see step_figure
    first = min(max(want.first, 0), c - count)
    return first, count, f"channels {first}–{first + count - 1} of {c} (pick one to see any)"


class _TooManyChannels(Exception):
    """A layout's panels would not fit every channel: show them all in one mosaic instead."""


def _every_channel(step: Step, out: torch.Tensor, sample: int) -> go.Figure:
    """Every output channel in one mosaic, numbered: the whole layer at a glance. Side by side
    panels (before | after, input | output) are for one channel at a time."""
    y = example(out, sample)
    return panels_figure(
        [view(y, f"output {tuple(out.shape)}, all {len(y)} channels")],
        _title(step, "one channel: before | after"),
    )


def _take(x: torch.Tensor, first: int, count: int) -> torch.Tensor:
    return x[first : first + count] if x.dim() == 3 else x


def _title(step: Step, note: str) -> str:
    return _join(step_title(step), note)


def _join(a: str, b: str) -> str:
    return f"{a} · {b}" if a and b else a or b


def _first_tensor(obj) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for o in obj:
            found = _first_tensor(o)
            if found is not None:
                return found
    return None
