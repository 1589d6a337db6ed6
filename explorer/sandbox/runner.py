"""The app's side: run a student's code in a worker process and read back only checked data.

``run_user_code(source, x) -> CodeRun`` and ``run_user_backward(source, x, target) -> CodeRun``.
The opt-in is checked first; then ``process.exchange`` runs the request in a fresh worker, and
its answer is read here. The app never unpickles, imports or executes anything the worker
sends: it reads a JSON document and raw tensor bytes, checks both, and rebuilds the same
``Trace``/``Backward`` records ``explorer.trace`` makes -- or says why there are none.
"""

from __future__ import annotations

import contextlib
import linecache
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import torch

from explorer.gradients import Backward
from explorer.sandbox.errors import CodeError, CodeExecutionDisabled, SandboxError, explain_error
from explorer.sandbox.facts import Facts
from explorer.sandbox.limits import Limits, describe_bytes, describe_seconds
from explorer.sandbox.policy import HOW_TO_ENABLE, code_allowed
from explorer.sandbox.process import Outcome, exchange
from explorer.sandbox.records import unpack_backward, unpack_steps, unpack_trace
from explorer.sandbox.request import Request
from explorer.sandbox.slots import OnQueue
from explorer.sandbox.wire import Fields, Unpacker, WireError
from explorer.sandbox.worker import READY, WALLS
from explorer.steps import Trace

_SOURCES_KEPT = 256  # student sources registered in linecache at once


@dataclass
class CodeRun:
    """What one run of a student's code gave back."""

    source: str
    filename: str  # their code's name in linecache and in every step's ``file``
    class_name: str  # the model class that was built ("" if none was)
    trace: Trace | None = None  # forward runs that worked
    backward: Backward | None = None  # backward runs that worked
    error: CodeError | None = None  # a mistake in their code, explained
    printed: str = ""  # what their code printed (capped)
    printed_truncated: bool = False
    # The model's parameters and buffers as the run used them (after __init__ and weights):
    # hand them back as ``weights=`` to see the same model again, e.g. on /backward.
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # weights that did not fit
    isolation: tuple[str, ...] = ()  # the walls the kernel granted (worker.WALLS)
    seconds: float = 0.0  # wall-clock time of the whole run, as the student waits for it

    @property
    def ok(self) -> bool:
        return self.error is None


def run_user_code(
    source: str,
    x: torch.Tensor,
    *,
    class_name: str | None = None,
    train: bool = False,
    seed: int | None = 0,
    init_seed: int = 0,
    weights: dict[str, torch.Tensor] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    limits: Limits | None = None,
    owner: Hashable | None = None,
    on_queue: OnQueue | None = None,
) -> CodeRun:
    """Build the model ``source`` defines and trace its forward pass on ``x``, in a worker.

    Refuses (``CodeExecutionDisabled``) unless the server was started with code allowed
    (see ``policy.code_allowed``) -- before looking at ``source`` at all.

    Args:
        source: the student's Python code, defining one or more ``nn.Module`` classes.
        x: the input tensor.
        class_name: the class to build (with no arguments); ``None`` builds the last
            ``nn.Module`` class the code defines.
        train: run in train mode (dropout on, batch statistics).
        seed: seeds the pass, as ``explorer.trace``'s ``seed``.
        init_seed: seeds the construction, so the same code gets the same weights each run
            (0 gives a template the same weights as its untrained preset).
        weights: parameters/buffers by name to load where name and shape fit (a preset's
            trained ``state_dict()``, or a session's updated weights).
        forward_kwargs: extra keyword arguments for ``forward`` (plain values).
        limits: the run's budget; ``Limits()`` by default.
        owner: who runs it (a browser session's id): an owner with a run waiting or going is
            refused (``SandboxError("own_run")``). ``None``: no such check.
        on_queue: called with the run's place in line (1: next) whenever it has to wait for
            a free worker and that place changes, in the calling thread.

    Returns:
        A ``CodeRun`` with ``trace`` set, or ``error`` explaining their mistake.

    Raises:
        SandboxError: the run was stopped (time, memory, crash, bad answer) or refused; its
            ``message`` is written for the student.
    """
    _refuse_unless_allowed()
    return _run(
        Request(
            source,
            x,
            "forward",
            class_name,
            train,
            seed,
            init_seed,
            dict(forward_kwargs or {}),
            None,
            None,
            weights,
            limits or Limits(),
        ),
        owner,
        on_queue,
    )


def run_user_backward(
    source: str,
    x: torch.Tensor,
    target: Any,
    *,
    loss: str | None = None,
    class_name: str | None = None,
    train: bool = False,
    seed: int | None = 0,
    init_seed: int = 0,
    weights: dict[str, torch.Tensor] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    limits: Limits | None = None,
    owner: Hashable | None = None,
    on_queue: OnQueue | None = None,
) -> CodeRun:
    """Like ``run_user_code``, but runs ``explorer.backward(model, x, target)`` in the worker.

    ``target`` and ``loss`` are as for ``explorer.backward``. The result's ``backward`` holds
    the trace, the loss and every gradient; ``apply_sgd(run.state_dict, run.backward.
    param_grads, lr)`` then gives the weights for the next run.
    """
    _refuse_unless_allowed()
    return _run(
        Request(
            source,
            x,
            "backward",
            class_name,
            train,
            seed,
            init_seed,
            dict(forward_kwargs or {}),
            target,
            loss,
            weights,
            limits or Limits(),
        ),
        owner,
        on_queue,
    )


def apply_sgd(
    weights: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], lr: float
) -> dict[str, torch.Tensor]:
    """One plain SGD step on a state dict, ``w - lr * grad`` (tensors without a grad kept)."""
    with torch.no_grad():
        return {n: w - lr * grads[n] if n in grads else w.clone() for n, w in weights.items()}


def _refuse_unless_allowed() -> None:
    if not code_allowed():
        raise CodeExecutionDisabled("disabled", HOW_TO_ENABLE)


# --- one run -----------------------------------------------------------------------------------


def _run(req: Request, owner: Hashable | None, on_queue: OnQueue | None) -> CodeRun:
    started = time.monotonic()
    run = _read(exchange(req.to_frame(), req.limits, owner, on_queue), req)
    run.seconds = time.monotonic() - started
    return run


# --- reading the answer ------------------------------------------------------------------------


def _read(o: Outcome, req: Request) -> CodeRun:
    """The run's result, or the SandboxError that says why there is none."""
    limits = req.limits
    detail = o.stderr.decode("utf-8", "replace")
    if o.stopped == "start":
        raise SandboxError(
            "start",
            "The worker process did not start in time: the server is busy. Try again in a moment.",
            detail=detail,
        )
    if o.stopped == "timeout":
        raise SandboxError("timeout", _too_long(limits.wall_seconds), detail=detail)
    if o.stopped == "too_big":
        raise SandboxError(
            "too_big",
            f"Your model's results are larger than "
            f"{describe_bytes(limits.max_result_bytes)}: try a smaller "
            "model or a smaller batch.",
            detail=detail,
        )
    if len(o.stdout) <= len(READY) or not o.stdout.startswith(READY):
        raise _died(o, limits, detail)
    try:
        return _decode(memoryview(o.stdout)[len(READY) :], req)
    except WireError as e:
        if o.returncode:  # cut short by a limit or a crash while answering
            raise _died(o, limits, detail) from None
        raise SandboxError(
            "protocol",
            "The worker process sent back something that is not a "
            "valid result, so it was thrown away.",
            detail=f"{e}\n{detail}",
        ) from None


def _died(o: Outcome, limits: Limits, detail: str) -> SandboxError:
    """Why a worker ended without an answer, from how it ended."""
    code = o.returncode
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and o.stdout.startswith(READY):
        return _killed(o, limits, detail)
    if code is not None and code < 0:
        name = _signal_name(-code)
        what = {
            "SIGSEGV": "a memory access fault",
            "SIGABRT": "an abort",
            "SIGBUS": "a bus error",
            "SIGFPE": "an arithmetic fault",
        }.get(name, name)
        return SandboxError(
            "crash",
            f"The worker process crashed ({what or 'signal'}, signal "
            f"{-code}). Your code, or a library it called, did "
            "something the process could not survive.",
            detail=detail,
            **_their_line(detail),
        )
    if code:
        return SandboxError(
            "crash",
            f"The worker process exited unexpectedly (code {code}).",
            detail=detail,
            **_their_line(detail),
        )
    return SandboxError(
        "crash", "The worker process ended without sending a result.", detail=detail
    )


def _killed(o: Outcome, limits: Limits, detail: str) -> SandboxError:
    """SIGKILL (or SIGXCPU): the CPU limit's stop only if their process had used that much.

    The app kills only after a deadline, which is reported before this; the worker's status
    line says how its child ended and with how much CPU time. No line: the worker itself was
    killed, which no limit does.
    """
    code = o.returncode
    assert code is not None  # _died calls this for a SIGKILL or SIGXCPU only
    name, after = _signal_name(-code), f"after {o.seconds:.1f} s"
    how = o.child.split()  # e.g. ["signal", "9", "cpu", "6.020"]
    if len(how) != 4 or how[0] != "signal":
        return SandboxError(
            "killed",
            f"The worker process running your code was killed "
            f"({name}) {after}. That was no time limit: your code "
            "stopped it (os.kill?), or the server did.",
            detail=detail,
        )
    try:
        number, cpu = int(how[1]), float(how[3])
    except ValueError:
        number, cpu = -code, 0.0
    if cpu >= limits.cpu_seconds:
        return SandboxError("cpu", _too_long(limits.cpu_seconds), detail=detail)
    return SandboxError(
        "killed",
        f"Your code's process was killed ({_signal_name(number)}) "
        f"{after}, having used {cpu:.1f} s of CPU time: that was no "
        "time limit. Did your code send it a signal (os.kill)?",
        detail=detail,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return ""


def _their_line(stderr: str) -> dict[str, Any]:
    """Their innermost line in a crash dump, if any (faulthandler lists the newest call first)."""
    for text in stderr.splitlines():
        if '"<student code' in text and "line " in text:
            with contextlib.suppress(ValueError):
                return {"line": int(text.split("line ", 1)[1].split()[0].rstrip(","))}
    return {"line": None}


def _too_long(seconds: float) -> str:
    return (
        f"Your code ran for more than {describe_seconds(seconds)} (an endless loop?) and "
        "was stopped."
    )


def _decode(data: memoryview, req: Request) -> CodeRun:
    limits, filename = req.limits, req.filename
    u = Unpacker(data, max_bytes=limits.max_result_bytes)
    f = Fields(
        u.doc,
        "the result",
        {
            "status",
            "class_name",
            "trace",
            "backward",
            "state_dict",
            "notes",
            "error",
            "steps",
            "printed",
            "printed_truncated",
            "isolation",
            "seconds",
        },
    )
    status = f.text("status", 10)
    printed = f.text("printed", limits.max_print_chars)
    isolation = f.items("isolation", len(WALLS))
    if not all(i in WALLS for i in isolation):
        raise WireError("unknown isolation")
    notes = f.items("notes", 50, [])
    if not all(isinstance(n, str) and len(n) <= 1000 for n in notes):
        raise WireError("notes must be short strings")
    state = u.doc.get("state_dict", {})
    if not isinstance(state, dict) or len(state) > 10_000:
        raise WireError("state_dict must be a dict")
    run = CodeRun(
        req.source,
        filename,
        f.text("class_name", 200, ""),
        printed=printed,
        printed_truncated=f.flag("printed_truncated"),
        notes=notes,
        state_dict={str(n)[:1000]: u.tensor(t) for n, t in state.items()},
        isolation=tuple(isolation),
    )
    _register_source(filename, req.source)
    if status == "ok":
        if req.mode == "forward":
            run.trace = unpack_trace(u, u.doc.get("trace"), filename)
            if not isinstance(run.trace.output, torch.Tensor):
                raise WireError("the output must be a tensor")
        else:
            run.backward = unpack_backward(u, u.doc.get("backward"), filename)
        return run
    if status != "error":
        raise WireError(f"unknown status {status!r}")
    facts = Facts.from_plain(u.doc.get("error"))
    steps = unpack_steps(u, u.doc.get("steps", []), filename)
    _stopped(facts, limits)
    run.error = explain_error(facts, steps=steps)
    return run


def _stopped(facts: Facts, limits: Limits) -> None:
    """A limit the worker caught itself: a SandboxError, with their line."""
    message = {
        "cpu": _too_long(limits.cpu_seconds),
        "wall": _too_long(limits.wall_seconds),
        "memory": f"Your code tried to use more than {describe_bytes(limits.memory_bytes)} of "
        "memory and was stopped.",
    }.get(facts.kind)
    if message is None:
        return
    if facts.line:
        message += f" It was at line {facts.line}: {facts.code.strip()}"
    kind = {"cpu": "cpu", "wall": "timeout", "memory": "memory"}[facts.kind]
    raise SandboxError(kind, message, line=facts.line, code=facts.code, detail=facts.message)


_registered: OrderedDict[str, None] = OrderedDict()
_REGISTER_LOCK = threading.Lock()


def _register_source(filename: str, source: str) -> None:
    """Their lines under ``filename`` in this process's linecache, for ``source_of(step)``.

    The text is the app's own copy of what it sent, never anything the worker returned. The
    most recent few hundred sources are kept.
    """
    with _REGISTER_LOCK:
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        _registered[filename] = None
        _registered.move_to_end(filename)
        while len(_registered) > _SOURCES_KEPT:
            old, _ = _registered.popitem(last=False)
            linecache.cache.pop(old, None)
