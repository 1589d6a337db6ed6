"""A hint for a failure: torch's and Python's error messages read for the numbers in them.

Each rule matches one message (``mat1 and mat2 shapes cannot be multiplied (1x3136 and
784x128)``) and says what to change, with the numbers of *this* failure and the layer that
raised it. ``hint_for(facts, steps) -> (hint, is_shape_error)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from explorer import ops
from explorer.sandbox.facts import Facts
from explorer.steps import Step


def hint_for(facts: Facts, steps: Sequence[Step] = ()) -> tuple[str, bool]:
    """The hint for ``facts`` ("" if none) and whether it is a shape mismatch."""
    if facts.kind == "syntax":
        return _syntax_hint(facts.message), False
    for pattern, rule, is_shape in _RULES:
        m = re.search(pattern, facts.message)
        if m:
            return rule(m, facts, steps), is_shape
    return _by_type(facts), False


# --- shapes ------------------------------------------------------------------------------------


def _matmul(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    rows, got, want, out = (int(g) for g in m.groups())
    layer = f.layer
    if layer is not None and layer.type == "Linear":
        where = _flatten_origin(steps, got)
        return (
            f"{layer.path} gets {got} features per example, but it was built for {want}: "
            f"{layer.path} = nn.Linear({want}, {out}) in __init__. Either write "
            f"nn.Linear({got}, {out}), or make its input {want} features wide.{where}"
        )
    return (
        f"a matrix product needs the inner sizes to agree: the left side is {rows}x{got}, "
        f"the right side {want}x{out}, and {got} != {want}."
    )


def _flatten_origin(steps: Sequence[Step], features: int) -> str:
    """Where the ``features`` came from: the last flatten/view that made them, if one did."""
    for s in reversed(steps):
        if ops.is_reshape(s.op) and s.inputs and s.output_shape[-1:] == (features,):
            per_example = s.inputs[0].shape[1:]
            if len(per_example) > 1 and math.prod(per_example) == features:
                dims = " x ".join(str(d) for d in per_example)
                return (
                    f" The {s.op} on line {s.line} turned {_shape(s.inputs[0].shape)} into "
                    f"{_shape(s.output_shape)}: {dims} = {features} values per example."
                )
    return ""


def _conv_channels(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    weight = [int(d) for d in m.group(2).split(",")]
    x = [int(d) for d in m.group(3).split(",")]
    want, got = int(m.group(4)), int(m.group(5))
    name = f.layer.path if f.layer is not None else "this convolution"
    cls = f.layer.type if f.layer is not None else "Conv2d"
    return (
        f"{name} = nn.{cls}({want}, {weight[0]}, ...) takes {want} input channels, but its "
        f"input {_shape(x)} has {got}. Write nn.{cls}({got}, {weight[0]}, ...), or make the "
        f"layer before it output {want} channels."
    )


def _conv_dims(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    shape = m.group(2)
    return (
        f"convolutions take images shaped (N, C, H, W), but this input is ({shape}). If it "
        "was flattened, flatten after the convolutions instead, or turn it back into an "
        "image with x.view(-1, 1, 28, 28)."
    )


def _view_size(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    target = [int(d) for d in m.group(1).split(",") if d.strip()]
    total = int(m.group(2))
    known = math.prod(d for d in target if d != -1)
    source = next((s for s in f.shapes if math.prod(s[1]) == total), None)
    per = ""
    if source is not None and len(source[1]) > 1:
        name, shape, _ = source
        rest = shape[1:]
        per = (
            f" {name} is {_shape(shape)}: {' x '.join(map(str, rest))} = {math.prod(rest)} "
            f"values per example, so x.view(-1, {math.prod(rest)}) (or torch.flatten(x, 1)) "
            "keeps the batch apart."
        )
    if -1 in target:
        return (
            f"the tensor has {total} values, and {total} is not a multiple of {known}, so "
            f"they cannot be laid out as {_shape(target)}.{per}"
        )
    return f"the tensor has {total} values, but {_shape(target)} holds {known}.{per}"


def _add_sizes(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    a, b, dim = m.groups()
    shapes = ", ".join(f"{n} {_shape(s)}" for n, s, _ in f.shapes)
    known = f" The tensors here: {shapes}." if shapes else ""
    return (
        f"the two tensors differ in dimension {dim}: {a} against {b}. An elementwise op "
        "like a skip connection (x + out) needs equal shapes (or a size of 1 to "
        "broadcast); make both branches end with the same number of channels and the same "
        f"height and width, or pass one through a layer that matches them.{known}"
    )


def _cat_sizes(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    dim, want, got, number = m.groups()
    return (
        f"torch.cat glues tensors along dimension {dim}, so every other dimension must "
        f"agree; tensor number {number} in the list has size {got} where the first has "
        f"{want}."
    )


def _too_small(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    name = f.layer.path if f.layer is not None else "this layer"
    return (
        f"the feature map reaching {name} is smaller than its window. Each pooling (and each "
        "convolution without padding) shrinks the image; pool fewer times, or pad."
    )


def _batch_norm(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    want, got = m.groups()
    name = f.layer.path if f.layer is not None else "the BatchNorm layer"
    return (
        f"{name} was built for {want} channels but gets {got}: its number must equal the "
        "channels of the layer before it."
    )


def _batch_of_one(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    return (
        "in train mode BatchNorm computes the statistics of the batch, which needs more than "
        "one example per channel: run in eval mode, or give a batch."
    )


def _dim_range(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    low, high, got = (int(g) for g in m.groups())
    return (
        f"this tensor has {high + 1} dimensions, numbered 0 to {high} (or {low} to -1 from "
        f"the end), and the code asked for dimension {got}."
    )


def _dtype(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    return (
        "the input and the weights have different number types (layers hold float32). "
        "Convert the input with x.float(), or build it with dtype=torch.float32."
    )


# --- plain Python ------------------------------------------------------------------------------


def _no_attribute(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    owner, attr = m.groups()
    if owner == "NoneType":
        return _none_hint()
    if f.function.startswith(f"{owner}."):
        return (
            f"self.{attr} is used, but {owner}.__init__ never created it: add "
            f"self.{attr} = ... to __init__ (the spelling must match)."
        )
    return f"a {owner} has no attribute {attr!r}: check the spelling."


def _none_used(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    return _none_hint()


def _none_hint() -> str:
    return (
        "a value here is None. A function that ends without `return` gives None: does "
        "every function this line calls (a forward() of yours too) return its result?"
    )


def _before_init(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    return "call super().__init__() at the start of __init__, before creating any layer."


def _name(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    name = m.group(1)
    return (
        f"{name} is not defined here: a typo, a missing import, or a layer used without "
        f"self. (self.{name})?"
    )


def _unexpected_kwarg(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    arg = m.group(1)
    return (
        f"the run passes {arg}= to forward(), which has no such parameter: write "
        f"def forward(self, x, {arg}=...)."
    )


def _missing_forward_arg(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    return (
        "forward() takes more inputs than the run gives it: give the extra parameters "
        "default values, e.g. def forward(self, x, flag=False)."
    )


def _missing_init_arg(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    return (
        "the model is built with no arguments, as MyModel(): give every parameter of "
        "__init__ a default value."
    )


def _recursion(m: re.Match, f: Facts, steps: Sequence[Step]) -> str:
    return (
        "a function keeps calling itself. Inside forward(), call the layers "
        "(self.fc1(x)), not the model itself (self(x) or self.forward(x))."
    )


_Rule = Callable[[re.Match, Facts, Sequence[Step]], str]
_RULES: list[tuple[str, _Rule, bool]] = [
    (r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)", _matmul, True),
    (
        r"Given groups=(\d+), weight of size \[([\d, ]+)\], expected input\[([\d, ]+)\] to have "
        r"(\d+) channels, but got (\d+) channels",
        _conv_channels,
        True,
    ),
    (r"Expected (.*) input to conv\dd, but got input of size: \[([\d, ]*)\]", _conv_dims, True),
    (r"shape '\[([-\d, ]*)\]' is invalid for input of size (\d+)", _view_size, True),
    (
        r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at "
        r"non-singleton dimension (\d+)",
        _add_sizes,
        True,
    ),
    (
        r"Sizes of tensors must match except in dimension (\d+)\. Expected size (\d+) but got "
        r"size (\d+) for tensor number (\d+)",
        _cat_sizes,
        True,
    ),
    (
        r"Output size is too small|Kernel size can't be greater than actual input size",
        _too_small,
        True,
    ),
    (r"running_mean should contain (\d+) elements not (\d+)", _batch_norm, True),
    (r"Expected more than 1 value per channel when training", _batch_of_one, True),
    (
        r"Dimension out of range \(expected to be in range of \[(-?\d+), (-?\d+)\], but got "
        r"(-?\d+)\)",
        _dim_range,
        True,
    ),
    (
        r"must have the same dtype|expected scalar type|Input type \(.*\) and (weight|bias) type|"
        r"should be the same",
        _dtype,
        False,
    ),
    (r"^'(\w+)' object has no attribute '(\w+)'", _no_attribute, False),
    (r"'NoneType'|NoneType", _none_used, False),
    (r"cannot assign module before Module.__init__\(\) call", _before_init, False),
    (r"^name '(\w+)' is not defined", _name, False),
    (r"forward\(\) got an unexpected keyword argument '(\w+)'", _unexpected_kwarg, False),
    (r"forward\(\) missing \d+ required positional argument", _missing_forward_arg, False),
    (r"__init__\(\) missing \d+ required positional argument", _missing_init_arg, False),
    (r"maximum recursion depth exceeded", _recursion, False),
]


def _by_type(f: Facts) -> str:
    if f.kind == "output":
        return "forward() must return one tensor, the model's output: end it with `return x`."
    if f.kind == "steps":
        return (
            "a Python loop over a tensor's elements makes one op per element; work on "
            "whole tensors (x * 2, x.sum(dim=1)) instead."
        )
    if f.kind == "class":
        return (
            "define your model as a class of nn.Module, e.g. `class MyNet(nn.Module):`, "
            "with __init__ and forward."
        )
    if f.type == "SystemExit":
        return "exit() ends the whole program; forward() should `return` its result instead."
    if f.type == "ZeroDivisionError":
        return "something on this line is divided by zero."
    if f.type in ("IndexError", "KeyError"):
        return "an index or key here does not exist: print the tensor's shape (or the dict) first."
    return ""


def _syntax_hint(message: str) -> str:
    rules = [
        (
            "expected ':'",
            "a line starting with def, class, if, elif, else, for or while ends with a colon.",
        ),
        ("was never closed", "a bracket opened on this line is never closed."),
        ("unmatched", "this closing bracket has no opening one."),
        ("does not match", "this closing bracket is not the kind that was opened."),
        ("unterminated string", "a string starts here but its closing quote is missing."),
        (
            "unindent does not match",
            "this line's indent matches no block above it: line it up with the lines of its block.",
        ),
        (
            "expected an indented block",
            "the line after a line ending with ':' must be indented further (4 spaces).",
        ),
        (
            "unexpected indent",
            "this line is indented further than the line above, but starts no new block.",
        ),
        ("inconsistent use of tabs", "mixing tabs and spaces: indent with spaces only."),
        (
            "Perhaps you forgot a comma",
            "between two items (arguments, list entries) there must be a comma.",
        ),
        ("cannot assign to", "the left side of = must be a name (like x) or self.something."),
    ]
    for needle, hint in rules:
        if needle in message:
            return hint
    return "Python could not read this line; the mistake is here or at the end of the line above."


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
