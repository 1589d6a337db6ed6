"""What is known about a failure in a student's code, gathered where it happened.

The worker turns a live exception into ``Facts``: the line of *their* code it came from, the
layer that was running, and the shapes of the tensors in that function at that moment. Facts
are plain values, so they cross to the app as data, where ``errors.explain_error`` turns them
into a teaching message.
"""

from __future__ import annotations

import hashlib
import linecache
import types
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn

from explorer.sandbox.wire import Fields, WireError, is_int

STUDENT_FILE = "<student code>"
KINDS = ("syntax", "exception", "output", "steps", "class", "memory", "cpu", "wall")
PHASES = ("compile", "define", "build", "weights", "forward", "backward")
_MAX_MESSAGE = 2000
_MAX_SHAPES = 12


def student_filename(source: str) -> str:
    """The name a source is registered under in ``linecache``: ``<student code 1a2b3c4d5e6f>``.

    Named by content, so that in the app -- one process, many sessions -- two students' code
    never share a name, and the same code always gets the same one.
    """
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{STUDENT_FILE[:-1]} {digest}>"


class CpuTimeExceeded(BaseException):
    """Raised in the worker when the CPU-time limit's warning signal arrives.

    A BaseException, so that a student's ``except Exception`` does not swallow it.
    """


class WallTimeExceeded(BaseException):
    """Raised in the worker when its wall-clock alarm goes off."""


@dataclass
class Layer:
    """The torch layer that was running when the error happened."""

    path: str  # e.g. "fc1"; the class name if the layer is not part of the model
    type: str  # e.g. "Linear"
    text: str  # its repr, e.g. "Linear(in_features=784, out_features=128, bias=True)"
    input_shapes: list[list[int]] = field(default_factory=list)


@dataclass
class Facts:
    """A failure of the student's code, as plain data."""

    kind: str  # one of KINDS
    phase: str  # one of PHASES: what the worker was doing
    type: str = ""  # the exception's class name, e.g. "RuntimeError"
    message: str = ""
    line: int | None = None  # in their code
    column: int | None = None  # 0-based start of the failing expression on that line
    end_column: int | None = None
    code: str = ""  # the text of that line
    function: str = ""  # e.g. "ImageClassifier.forward"
    layer: Layer | None = None
    # (name, shape, dtype) of every tensor in their function at that moment
    shapes: list[tuple[str, list[int], str]] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_plain(cls, plain: Any) -> Facts:
        """Facts from the wire, every field checked (WireError otherwise)."""
        f = Fields(plain, "the error", {fl for fl in cls.__dataclass_fields__})
        kind, phase = f.text("kind", 20), f.text("phase", 20)
        if kind not in KINDS or phase not in PHASES:
            raise WireError(f"unknown error kind {kind!r} or phase {phase!r}")
        opt_int = (lambda v: v is None or is_int(v), "an integer or null")
        layer = None
        if plain.get("layer") is not None:
            lf = Fields(plain["layer"], "the layer", ("path", "type", "text", "input_shapes"))
            layer = Layer(
                lf.text("path"),
                lf.text("type", 200),
                lf.text("text", 2000),
                [_shape(s) for s in lf.items("input_shapes", 20)],
            )
        shapes = []
        for item in f.items("shapes", _MAX_SHAPES, []):
            if not (
                isinstance(item, list)
                and len(item) == 3
                and isinstance(item[0], str)
                and isinstance(item[2], str)
                and len(item[0]) + len(item[2]) < 400
            ):
                raise WireError("a shape entry must be [name, shape, dtype]")
            shapes.append((item[0], _shape(item[1]), item[2]))
        return cls(
            kind,
            phase,
            f.text("type", 200, ""),
            f.text("message", _MAX_MESSAGE, ""),
            f.get("line", *opt_int, None),
            f.get("column", *opt_int, None),
            f.get("end_column", *opt_int, None),
            f.text("code", 10_000, ""),
            f.text("function", 1000, ""),
            layer,
            shapes,
        )


def _shape(v: Any) -> list[int]:
    if not (isinstance(v, list) and len(v) <= 16 and all(is_int(d) and d >= 0 for d in v)):
        raise WireError("a shape must be a short list of sizes")
    return v


def is_memory_error(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    )


def facts_from_exception(
    exc: BaseException, filename: str, *, phase: str, model: nn.Module | None = None
) -> Facts:
    """Facts about ``exc``, raised while running code registered under ``filename``.

    Args:
        exc: the exception, with its traceback.
        filename: the name the student's code was compiled under.
        phase: what was running, one of ``PHASES``.
        model: the student's model if it was built (names the layer that failed).
    """
    kind = (
        "cpu"
        if isinstance(exc, CpuTimeExceeded)
        else "wall"
        if isinstance(exc, WallTimeExceeded)
        else "memory"
        if is_memory_error(exc)
        else "exception"
    )
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return _syntax_facts(exc, phase)
    facts = Facts(kind, phase, type(exc).__name__, _message(exc))
    ours, below = _their_deepest_frame(exc.__traceback__, filename)
    if ours is not None:
        frame = ours.tb_frame
        facts.line = ours.tb_lineno
        facts.code = linecache.getline(filename, ours.tb_lineno).rstrip()
        facts.function = frame.f_code.co_qualname
        facts.column, facts.end_column = _columns(ours)
        facts.shapes = _tensor_shapes(frame.f_locals)
    facts.layer = _running_layer(below, model)
    return facts


def _syntax_facts(exc: SyntaxError, phase: str) -> Facts:
    end = exc.end_offset if exc.end_lineno in (None, exc.lineno) else None
    return Facts(
        "syntax",
        phase,
        type(exc).__name__,
        exc.msg or "",
        exc.lineno,
        None if exc.offset is None else max(exc.offset - 1, 0),
        None if not end else end - 1,
        (exc.text or "").rstrip("\n"),
    )


def _message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and exc.args:
        text = repr(exc.args[0])  # str(KeyError) is already a repr; keep it readable
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _their_deepest_frame(
    tb: types.TracebackType | None, filename: str
) -> tuple[types.TracebackType | None, list[types.TracebackType]]:
    """The deepest traceback entry in their code, and the entries below it (torch's)."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    for i in range(len(entries) - 1, -1, -1):
        if entries[i].tb_frame.f_code.co_filename == filename:
            return entries[i], entries[i + 1 :]
    return None, entries


def _columns(tb: types.TracebackType) -> tuple[int | None, int | None]:
    """Where on the line the failing expression is (Python 3.11 keeps these positions)."""
    try:
        positions = list(tb.tb_frame.f_code.co_positions())[tb.tb_lasti // 2]
    except (IndexError, ValueError):
        return None, None
    line, end_line, col, end_col = positions
    if line != tb.tb_lineno or col is None:
        return None, None
    return col, end_col if end_line == line else None


def _running_layer(entries: list[types.TracebackType], model: nn.Module | None) -> Layer | None:
    """The innermost torch layer whose call was on the stack when the error was raised."""
    paths = {id(m): n for n, m in model.named_modules()} if model is not None else {}
    for tb in reversed(entries):
        frame = tb.tb_frame
        if frame.f_code.co_name not in ("_call_impl", "_wrapped_call_impl"):
            continue
        module = frame.f_locals.get("self")
        if not isinstance(module, nn.Module):
            continue
        args = frame.f_locals.get("args", ())
        shapes = (
            [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
            if isinstance(args, tuple)
            else []
        )
        text = repr(module)
        return Layer(
            paths.get(id(module), type(module).__name__) or type(module).__name__,
            type(module).__name__,
            text if len(text) <= 2000 else text[:1997] + "...",
            shapes,
        )
    return None


def _tensor_shapes(local_vars: dict[str, Any]) -> list[tuple[str, list[int], str]]:
    out: list[tuple[str, list[int], str]] = []
    for name, value in local_vars.items():
        if isinstance(value, torch.Tensor) and len(out) < _MAX_SHAPES:
            out.append((name[:200], list(value.shape), str(value.dtype).removeprefix("torch.")))
    return out
