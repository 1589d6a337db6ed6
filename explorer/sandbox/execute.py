"""In the worker's child process: limit it, build the student's model, run it, pack the answer.

The answer is one frame whose document says ``status``: ``"ok"`` with the trace (or backward
pass), or ``"error"`` with the ``Facts`` of the failure and the steps recorded before it. Their
``print`` output, the model's weights and the isolation that was in force come along either way.
"""

from __future__ import annotations

import builtins
import importlib
import io
import linecache
import math
import resource
import signal
import sys
import time
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.gradients import backward
from explorer.sandbox.facts import (
    CpuTimeExceeded,
    Facts,
    WallTimeExceeded,
    facts_from_exception,
    is_memory_error,
)
from explorer.sandbox.limits import Limits
from explorer.sandbox.records import (
    MAX_STEPS,
    pack_backward,
    pack_step,
    pack_tensors,
    pack_trace,
)
from explorer.sandbox.request import Request
from explorer.sandbox.wire import Packer
from explorer.trace import record_pass

_MAX_NOTES = 20


class Capture(io.TextIOBase):
    """``sys.stdout`` for their code: keeps the first ``cap`` characters, counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        if len(s) > room:
            self.truncated = True
        return len(s)

    def getvalue(self) -> str:
        return "".join(self.parts)


def run(data: bytes, isolation: list[str]) -> bytes:
    """The answer frame for the request ``data``; never raises for anything their code does."""
    req = Request.from_frame(data)
    _limit(req.limits)
    capture = Capture(req.limits.max_print_chars)
    sys.stdout = sys.stderr = capture
    started = time.perf_counter()
    packer = Packer()
    try:
        doc = _run(req, packer)
    except (CpuTimeExceeded, WallTimeExceeded) as exc:  # arrived between their code and ours
        doc = _failure(facts_from_exception(exc, req.filename, phase="forward"), [], packer)
    finally:  # their time is up: packing is ours (the CPU limit's hard stop still holds)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    doc.update(
        printed=capture.getvalue(),
        printed_truncated=capture.truncated,
        isolation=isolation,
        seconds=time.perf_counter() - started,
    )
    try:
        return packer.frame(doc)
    except MemoryError:  # the trace itself does not fit: say so in a frame that does
        small = {k: doc[k] for k in ("printed", "printed_truncated", "isolation", "seconds")}
        facts = Facts("memory", "forward", "MemoryError", "the result does not fit in memory")
        return Packer().frame({**small, **_failure(facts, [], Packer())})


def _limit(limits: Limits) -> None:
    """The kernel enforces these; only a signal handler can turn a limit into a message."""
    cpu = max(1, math.ceil(limits.cpu_seconds))
    # Soft limit: SIGXCPU, turned into an exception at their line. Hard limit a second later:
    # SIGKILL, for code that catches that exception or sits in one long C call.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    # No files: writing one fails (EFBIG) instead of filling the server's disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGXCPU, _raise(CpuTimeExceeded))
    signal.signal(signal.SIGALRM, _raise(WallTimeExceeded))
    signal.setitimer(signal.ITIMER_REAL, limits.wall_seconds)


def _raise(kind: type[BaseException]):
    def handler(signum: int, frame: Any) -> None:
        raise kind(f"stopped by signal {signum}")

    return handler


def _run(req: Request, packer: Packer) -> dict[str, Any]:
    """Compile, define, build, load weights, run: each phase's failure becomes facts."""
    filename, phase = req.filename, "compile"
    model: nn.Module | None = None
    recorders: list[Any] = []
    try:
        code = compile(req.source, filename, "exec", dont_inherit=True)
        # Their lines, for tracebacks and for the steps' source (explorer.trace reads linecache).
        linecache.cache[filename] = (len(req.source), None, req.source.splitlines(True), filename)
        phase = "define"
        namespace = {
            "__name__": "__student__",
            "__builtins__": builtins,
            "torch": torch,
            "nn": nn,
            "F": F,
        }
        exec(code, namespace)
        cls = _model_class(namespace, req.class_name)
        if isinstance(cls, Facts):
            return _failure(cls, [], packer)
        phase = "build"
        torch.manual_seed(req.init_seed)
        model = cls()
        phase = "weights"
        notes = _load_weights(model, req.weights) if req.weights else []
        # Taken before the pass: train-mode BatchNorm updates its buffers as it runs.
        state = {n: t.detach().clone() for n, t in model.state_dict().items()}
        model.train(req.train)
        phase = req.mode
        body: dict[str, Any] = {
            "status": "ok",
            "class_name": cls.__name__,
            "notes": notes,
            "state_dict": pack_tensors(packer, state),
        }
        if req.mode == "backward":
            b = backward(
                model, req.x, req.target, loss=req.loss, seed=req.seed, **req.forward_kwargs
            )
            return {**body, "backward": pack_backward(packer, b)}
        returned: list[Any] = []
        sys.setprofile(_last_return(filename, returned))
        try:
            t, output = record_pass(
                model,
                req.x,
                seed=req.seed,
                forward_kwargs=req.forward_kwargs,
                on_output=_keep_recorder(recorders),
            )
        finally:
            sys.setprofile(None)
        if not isinstance(output, torch.Tensor):
            line, function = returned[-1] if returned else (None, f"{cls.__name__}.forward")
            facts = Facts(
                "output",
                "forward",
                "TypeError",
                f"forward() returned {_describe(output)}, not a tensor",
                line=line,
                code=linecache.getline(filename, line).rstrip() if line else "",
                function=function,
            )
            return {**_failure(facts, t.steps, packer), "class_name": cls.__name__}
        if len(t.steps) > MAX_STEPS:
            facts = Facts(
                "steps",
                "forward",
                "RuntimeError",
                f"forward() ran {len(t.steps)} ops; the explorer shows at most {MAX_STEPS}",
                function=f"{cls.__name__}.forward",
            )
            return {**_failure(facts, t.steps[:200], packer), "class_name": cls.__name__}
        return {**body, "trace": pack_trace(packer, t)}
    except (Exception, CpuTimeExceeded, WallTimeExceeded, SystemExit) as exc:
        facts = facts_from_exception(exc, filename, phase=phase, model=model)
        steps = recorders[0].steps if recorders and not is_memory_error(exc) else []
        return _failure(facts, steps, packer)


def _model_class(namespace: dict[str, Any], name: str | None) -> type[nn.Module] | Facts:
    """The class to build: ``name``, or the last nn.Module subclass their code defines."""
    theirs = [
        v
        for v in namespace.values()
        if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == "__student__"
    ]
    if name is not None:
        cls = namespace.get(name)
        if isinstance(cls, type) and issubclass(cls, nn.Module):
            return cls
        found = ", ".join(c.__name__ for c in theirs) or "none"
        return Facts(
            "class",
            "define",
            "NameError",
            f"there is no model class named {name} (your nn.Module classes: {found})",
        )
    if not theirs:
        return Facts("class", "define", "NameError", "the code defines no nn.Module class")
    # Blocks come before the model that uses them, so the last class is the model.
    return theirs[-1]


def _load_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> list[str]:
    """Load the weights that fit (same name and shape); notes on the ones that did not."""
    own = model.state_dict()
    fits = {n: t for n, t in weights.items() if n in own and own[n].shape == t.shape}
    notes = [
        f"{n} keeps its random start: yours is {tuple(own[n].shape)}, the weights' {tuple(t.shape)}"
        for n, t in weights.items()
        if n in own and n not in fits
    ]
    notes += [
        f"{n} keeps its random start: the weights have no {n}" for n in own if n not in weights
    ]
    model.load_state_dict(fits, strict=False)
    return notes[:_MAX_NOTES]


def _keep_recorder(holder: list[Any]):
    """An ``on_output`` callback that keeps the recorder, for the steps made before a failure.

    ``record_pass`` drops its recorder when forward() raises; while it runs, the recorder is
    the thread's current one. (Reads a private name of explorer.trace: if that changes, a
    failed run only loses its partial steps.)
    """
    local = getattr(importlib.import_module("explorer.trace"), "_LOCAL", None)

    def on_output(index: int, output: Any) -> None:
        if not holder:
            recorder = getattr(local, "recorder", None)
            if recorder is not None:
                holder.append(recorder)

    return on_output


def _last_return(filename: str, returned: list[Any]):
    """A profile hook noting where each forward() of theirs returns: the outermost returns last.

    For a forward() that returns something other than a tensor, that ``return`` is the line to
    show.
    """

    def profile(frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "return" and code.co_name == "forward" and code.co_filename == filename:
            returned[:] = [(frame.f_lineno, code.co_qualname)]

    return profile


def _failure(facts: Facts, steps: list, packer: Packer) -> dict[str, Any]:
    return {
        "status": "error",
        "error": facts.to_plain(),
        "steps": [pack_step(packer, s) for s in steps],
    }


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {len(value)} ({', '.join(kinds) or 'nothing'})"
    text = repr(value)
    return f"a {type(value).__name__} ({text[:60] + '...' if len(text) > 60 else text})"
