"""Failures as teaching moments: the line of *their* code, the shapes there, and a hint.

Two kinds of failure reach a page:

* ``CodeError`` -- their code has a mistake (a syntax error, an exception, a shape mismatch, a
  forward() that returns no tensor). It is a result, not an exception: it carries the line, the
  tensors' shapes at that moment, the steps recorded before it, and a hint.
* ``SandboxError`` -- the run itself was stopped: too much time or memory, a worker that
  crashed or answered nonsense, code execution switched off. Raised, with a message for the
  student (``.message``) and, for the server's log, ``.detail``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch.nn as nn

from explorer.sandbox.facts import STUDENT_FILE, Facts, Layer, facts_from_exception
from explorer.sandbox.hints import hint_for
from explorer.steps import Step

_WHAT = {
    "compile": "reading your code",
    "define": "running your code's top level",
    "build": "building your model (__init__)",
    "weights": "loading the weights",
    "forward": "running forward()",
    "backward": "computing the loss and gradients",
}


@dataclass
class CodeError:
    """A mistake in the student's code, explained."""

    kind: str  # "syntax", "exception", "shape", "output", "steps" (too many) or "class"
    phase: str  # "compile", "define", "build", "weights", "forward" or "backward"
    type: str  # the exception class, e.g. "RuntimeError", "SyntaxError"
    message: str  # Python's or torch's own message
    hint: str  # what to change, with this failure's numbers ("" if there is none)
    line: int | None = None  # in their code, 1-based
    column: int | None = None  # 0-based start of the failing expression (or syntax error)
    end_column: int | None = None
    code: str = ""  # the text of that line
    function: str = ""  # e.g. "ImageClassifier.forward"
    layer: Layer | None = None  # the torch layer that raised, with its input shapes
    shapes: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # tensors there
    steps: list[Step] = field(default_factory=list)  # what forward() did before it failed

    @property
    def title(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    def describe(self) -> str:
        """The whole explanation as plain text (a page may lay the fields out itself)."""
        where = f"Line {self.line}" if self.line else f"While {_WHAT[self.phase]}"
        if self.line and self.function and self.function != "<module>":
            where += f", in {self.function}"
        lines = [where + ":"]
        if self.code:
            lines.append("    " + self.code.strip())
            caret = _caret(self.code, self.column, self.end_column)
            if caret:
                lines.append("    " + caret)
        lines.append(self.title)
        if self.hint:
            lines.append("Hint: " + self.hint)
        if self.layer is not None and self.layer.input_shapes:
            shapes = ", ".join(_fmt(s) for s in self.layer.input_shapes)
            lines.append(f"{self.layer.path} ({self.layer.text}) was given {shapes}.")
        if self.shapes:
            lines.append(
                "Tensors at that moment: "
                + ", ".join(f"{n} {_fmt(s)}" for n, s in self.shapes)
                + "."
            )
        if self.steps:
            last = self.steps[-1]
            lines.append(
                f"The last step that ran: {last.index} {last.op} -> "
                f"{_fmt(last.output_shape)} (line {last.line})."
            )
        return "\n".join(lines)


class SandboxError(Exception):
    """The run was stopped or refused; ``message`` is written for the student."""

    def __init__(
        self, kind: str, message: str, *, line: int | None = None, code: str = "", detail: str = ""
    ) -> None:
        super().__init__(message)
        self.kind = kind  # "disabled", "busy", "own_run", "start", "timeout", "cpu", "memory",
        # "killed" (a signal that was no limit's), "crash", "too_big" or "protocol"
        self.message = message
        self.line = line  # their line that was running, when known
        self.code = code
        self.detail = detail  # for the server's log: the worker's stderr, what was invalid


class CodeExecutionDisabled(SandboxError):
    """Running students' code is switched off on this server (see ``policy``)."""


def explain_error(
    error: BaseException | Facts,
    *,
    filename: str = STUDENT_FILE,
    model: nn.Module | None = None,
    steps: Sequence[Step] = (),
    phase: str = "forward",
) -> CodeError:
    """A teaching explanation of a failure of the student's code.

    Args:
        error: the exception (raised by code compiled under ``filename``), or the ``Facts`` a
            worker gathered about it.
        filename: the name their code was compiled under, to find their lines in the traceback.
        model: their model, if it was built (names the layer that raised).
        steps: the steps recorded before the failure (for the flatten size, the last step).
        phase: what was running when ``error`` was raised (ignored for ``Facts``).

    Returns:
        A ``CodeError`` with the line, the shapes there and a hint.
    """
    facts = (
        error
        if isinstance(error, Facts)
        else facts_from_exception(error, filename, phase=phase, model=model)
    )
    hint, is_shape = hint_for(facts, steps)
    kind = "shape" if is_shape and facts.kind == "exception" else facts.kind
    return CodeError(
        kind=kind,
        phase=facts.phase,
        type=facts.type,
        message=facts.message,
        hint=hint,
        line=facts.line,
        column=facts.column,
        end_column=facts.end_column,
        code=facts.code,
        function=facts.function,
        layer=facts.layer,
        shapes=[(n, tuple(s)) for n, s, _ in facts.shapes],
        steps=list(steps),
    )


def _caret(code: str, column: int | None, end: int | None) -> str:
    if column is None or column >= len(code):
        return ""
    indent = len(code) - len(code.lstrip())
    width = max((end or column + 1) - column, 1)
    return " " * (column - indent) + "^" * min(width, len(code) - column)


def _fmt(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
