"""Record every op of one forward pass: ``trace(model, x) -> Trace``.

How it sees everything while calling ``model(x)`` the normal way:

* module calls arrive through *global* forward (pre-)hooks, registered for the duration of the
  call and removed in ``finally`` -- the model's own hook dicts are never touched;
* functional calls, tensor methods and operators (``F.relu``, ``x.view``, ``x + y``,
  ``torch.cat``) arrive through a ``TorchFunctionMode``, which is thread-local.

Built-in ``torch.nn`` layers are leaves: one step each, whatever they call inside. Modules a
student writes are transparent: their ops become steps that carry the module's path as nesting.
Each step points at the line of user code that issued it (the first stack frame outside torch).
What a step is called and how its call is described (op names, kinds, settings, hooks) comes
from ``explorer.calls``; what an op records beyond its tensors (dropout masks, pool winners,
BatchNorm statistics, weights) from its entry in the op catalogue, ``explorer.ops``.

Global hooks fire for every module in the process, so they check a thread-local: several
sessions can trace at once, each seeing only its own pass.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import Any

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle

from explorer import ops
from explorer.calls import (
    call_flow,
    func_kind,
    is_attribute_noise,
    is_leaf,
    module_args,
    module_op,
    names_by_id,
    op_name,
    plain_args,
)
from explorer.sharing import session_view
from explorer.steps import INPUT, CallFlow, Source, Step, Trace, first_tensor, source_of, tensors_in

__all__ = ["INPUT", "CallFlow", "Source", "Step", "Trace", "source_of", "trace"]


_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_THIS_FILE = __file__
# Passes that seed or draw from the process-wide CPU generator run one at a time.
_RNG_LOCK = threading.RLock()
_LOCAL = threading.local()
_HOOKS_LOCK = threading.Lock()
_HOOK_USERS = 0
_HOOK_HANDLES: list[RemovableHandle] = []


def trace(
    model: nn.Module,
    x: torch.Tensor,
    *,
    seed: int | None = None,
    train: bool | None = None,
    params: Mapping[str, torch.Tensor] | None = None,
    **forward_kwargs: Any,
) -> Trace:
    """Run ``model(x)`` and record every op.

    Args:
        model: any ``nn.Module``; it is left exactly as found (mode, hooks, grads, buffers).
        x: the input tensor.
        seed: seed the global RNG for this pass (restored afterwards), so a train-mode pass
            with dropout is reproducible. ``None`` uses the RNG as ``model(x)`` would.
        train: run in train (True) or eval (False) mode without switching ``model``: the pass
            runs on a view that shares the parameters. ``None`` keeps the model's own mode.
        params: full parameter name -> tensor to use instead of the model's own (a session's
            updated weights); the pass then runs on a view holding them.
        forward_kwargs: extra keyword arguments for ``forward`` (e.g. ``deep=True``).

    Returns:
        A ``Trace`` whose ``output`` is bit-identical to ``model(x)`` with the same RNG state.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"the input must be a torch.Tensor, not {type(x).__name__}")
    target = (
        session_view(model, train=train, params=params) if params else _pass_target(model, train)
    )
    return record_pass(target, x, seed=seed, forward_kwargs=forward_kwargs)[0]


def record_pass(
    target: nn.Module,
    x: torch.Tensor,
    *,
    seed: int | None,
    forward_kwargs: dict[str, Any],
    grad: bool = False,
    on_output: Callable[[int, Any], None] | None = None,
) -> tuple[Trace, Any]:
    """Run ``target(x)`` under the recorder: the ``Trace`` and the live output.

    ``target`` is the module to run as is (the model or a view of it). With ``grad`` the pass
    builds an autograd graph, and ``on_output(step index, live output)`` sees each step's
    result as it is made -- before any later in-place op can change it.
    """
    training = target.training
    # Reseeding (even in eval) or drawing (dropout in train) touches the process-wide
    # generator: one such pass at a time, or a seeded pass's mask depends on another thread.
    uses_rng = training or seed is not None
    with _RNG_LOCK if uses_rng else _nothing(), _seeded(seed), torch.set_grad_enabled(grad):
        recorder = _Recorder(target, on_output)
        output = recorder.run(x, forward_kwargs)
    t = Trace(
        type(target).__name__, x.detach().clone(), _detach(output), recorder.steps, training, seed
    )
    return t, output


# --- the recorder ----------------------------------------------------------------------------


class _Recorder(TorchFunctionMode):
    def __init__(self, model: nn.Module, on_output: Callable[[int, Any], None] | None = None):
        super().__init__()
        self.model = model
        self.on_output = on_output
        self.paths, self.param_names = names_by_id(model)
        self.steps: list[Step] = []
        self.producers: dict[int, tuple[torch.Tensor, int, int, torch.Tensor]] = {}
        self.stack: list[tuple[nn.Module, bool, dict[str, Any]]] = []  # open module calls
        self.leaf_depth = 0
        self.busy = False  # our own tensor work must not become steps
        self.guards: list[Any] = []  # torch-function switches held open across a layer call
        self.code_is_user: dict[Any, bool] = {}
        self.positions: dict[Any, list] = {}  # code object -> co_positions(), per instruction

    def run(self, x: torch.Tensor, kwargs: dict[str, Any]) -> Any:
        self._register(x, INPUT, x.detach())  # steps keep no autograd graph, even with grad on
        _LOCAL.recorder = self
        try:
            with _global_hooks(), self:
                return self.model(x, **kwargs)
        finally:
            while self.guards:  # a layer raised before its post-hook could close its switch
                self.guards.pop().__exit__(None, None, None)
            _LOCAL.recorder = None

    # -- module calls --

    def on_module_pre(self, module: nn.Module, args: tuple) -> None:
        leaf = is_leaf(module)
        if self.leaf_depth:
            self.stack.append((module, leaf, {}))
            if leaf:
                self.leaf_depth += 1
            return
        note: dict[str, Any] = {}
        if leaf:
            self.leaf_depth += 1
            note["where"] = self._where()
            note["flow"] = call_flow(module, (_pre_hook, _post_hook))
            note["op"] = module_op(module)
            records = _records(note["op"])
            if records is not None and records.before_module is not None:
                note.update(records.before_module(module))  # dropout's RNG, BN's running stats
            # A layer's insides are not steps: switch the mode off until it returns, so its
            # internal calls cost nothing. Closed in on_module_post, or in run() on an error.
            note["guard"] = torch._C.DisableTorchFunction()
            note["guard"].__enter__()
            self.guards.append(note["guard"])
        self.stack.append((module, leaf, note))

    def on_module_post(self, module: nn.Module, args: tuple, output: Any) -> None:
        if not self.stack or self.stack[-1][0] is not module:
            return  # a module we did not see start (its pre-hook ran before we registered)
        _, leaf, note = self.stack.pop()
        if not leaf:
            return
        self.leaf_depth -= 1
        if self.leaf_depth or "where" not in note:
            return
        self.guards.pop().__exit__(None, None, None)
        self.busy = True
        try:
            with torch._C.DisableTorchFunction():
                self._record_module(module, args, output, note)
        finally:
            self.busy = False

    def _record_module(
        self, module: nn.Module, args: tuple, output: Any, note: dict[str, Any]
    ) -> None:
        path = self.paths.get(id(module), f"?{type(module).__name__}")
        cls = type(module).__name__
        op = note["op"]
        inputs, parents = self._inputs(tensors_in(args))
        step = Step(
            index=len(self.steps),
            op=op,
            kind="module",
            module=path,
            nesting=self._nesting(),
            inputs=inputs,
            output=None,
            parents=parents,
            **note["where"],
            module_type=cls,
            call_flow=note["flow"],
            params={
                f"{path}.{n}" if path else n: p.detach()
                for n, p in module._parameters.items()
                if p is not None
            },
            args=module_args(module, op),
        )
        step.output = self._outputs(output, step.index)
        records = _records(op)
        if records is not None and records.module is not None:
            records.module(step, module, note)
        self.steps.append(step)
        if self.on_output is not None:
            self.on_output(step.index, output)

    # -- functions, tensor methods and operators --

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.leaf_depth or self.busy:
            return func(*args, **kwargs)
        rng = torch.get_rng_state() if func in ops.RANDOM_FUNCS else None
        result = func(*args, **kwargs)
        if first_tensor(result) is None or is_attribute_noise(func):
            return result
        self.busy = True
        try:
            self._record_function(func, args, kwargs, result, rng)
        finally:
            self.busy = False
        return result

    def _record_function(self, func, args, kwargs, result, rng) -> None:
        tensors = [t for t in tensors_in((args, kwargs)) if id(t) not in self.param_names]
        params = {
            self.param_names[id(t)]: t.detach()
            for t in tensors_in((args, kwargs))
            if id(t) in self.param_names
        }
        inputs, parents = self._inputs(tensors)
        name = op_name(func)
        step = Step(
            index=len(self.steps),
            op=name,
            kind=func_kind(func),
            module=self._enclosing(),
            nesting=self._nesting(),
            inputs=inputs,
            output=None,
            parents=parents,
            **self._where(),
            params=params,
            args=plain_args(args, kwargs),
        )
        step.output = self._outputs(result, step.index)
        records = _records(name)
        if records is not None and records.function is not None:
            records.function(step, func, args, kwargs, rng)
        self.steps.append(step)
        if self.on_output is not None:
            self.on_output(step.index, result)

    # -- bookkeeping --

    def _register(self, t: torch.Tensor, index: int, saved: torch.Tensor) -> None:
        # Holding ``t`` keeps its id from being reused while the pass runs.
        self.producers[id(t)] = (t, index, t._version, saved)

    def _inputs(
        self, tensors: list[torch.Tensor]
    ) -> tuple[tuple[torch.Tensor, ...], tuple[int, ...]]:
        saved, parents = [], []
        for t in tensors:
            known = self.producers.get(id(t))
            if known is not None and known[0] is t:
                parents.append(known[1])
                # Reuse the producer's copy unless something wrote into the tensor since.
                saved.append(known[3] if known[2] == t._version else t.detach().clone())
            else:
                saved.append(t.detach().clone())
        return tuple(saved), tuple(dict.fromkeys(parents))

    def _outputs(self, result: Any, index: int) -> Any:
        if isinstance(result, torch.Tensor):
            saved = result.detach().clone()
            self._register(result, index, saved)
            return saved
        if isinstance(result, (tuple, list)):
            return type(result)(self._outputs(r, index) for r in result)
        return result

    def _nesting(self) -> tuple[str, ...]:
        return tuple(self.paths.get(id(m), "?") for m, _, _ in self.stack)

    def _enclosing(self) -> str:
        for m, _, _ in reversed(self.stack):
            if id(m) in self.paths:
                return self.paths[id(m)]
        return ""

    def _where(self) -> dict[str, Any]:
        frame: FrameType | None = sys._getframe(2)
        while frame is not None:
            code = frame.f_code
            user = self.code_is_user.get(code)
            if user is None:
                fn = code.co_filename
                user = not (fn.startswith(_TORCH_DIR) or fn == _THIS_FILE)
                self.code_is_user[code] = user
            if user:
                line = frame.f_lineno
                text = linecache.getline(code.co_filename, line)
                return {
                    "file": code.co_filename,
                    "line": line,
                    "code": text.strip(),
                    "function": code.co_qualname,
                    "columns": self._columns(code, frame.f_lasti, line, text),
                }
            frame = frame.f_back
        return {"file": "", "line": 0, "code": "", "function": ""}

    def _columns(self, code: Any, lasti: int, line: int, text: str) -> tuple[int, int] | None:
        """Where on its line the running call is: ``self.conv1(x)`` inside
        ``x = self.pool(F.relu(self.conv1(x)))``, as character offsets; None if unknown."""
        positions = self.positions.get(code)
        if positions is None:
            positions = self.positions[code] = list(code.co_positions())
        k = lasti // 2  # one position per 2-byte code unit (3.11+)
        if not 0 <= k < len(positions):
            return None
        start_line, end_line, start, end = positions[k]
        if start_line != line or end_line != line or start is None or end is None:
            return None
        raw = text.encode("utf-8")  # the offsets count UTF-8 bytes
        return (
            len(raw[:start].decode("utf-8", "replace")),
            len(raw[:end].decode("utf-8", "replace")),
        )


@contextmanager
def _global_hooks():
    """Our two global hooks, installed once however many threads trace at the same time.

    Installing them once per tracer would call each hook once per tracer, and a tracer that
    finishes would pull its hooks out from under a module call still running in another thread.
    """
    global _HOOK_USERS
    with _HOOKS_LOCK:
        if _HOOK_USERS == 0:
            _HOOK_HANDLES[:] = [
                nn.modules.module.register_module_forward_pre_hook(_pre_hook),
                nn.modules.module.register_module_forward_hook(_post_hook),
            ]
        _HOOK_USERS += 1
    try:
        yield
    finally:
        with _HOOKS_LOCK:
            _HOOK_USERS -= 1
            if _HOOK_USERS == 0:
                for handle in _HOOK_HANDLES:
                    handle.remove()
                _HOOK_HANDLES.clear()


def _pre_hook(module: nn.Module, args: tuple) -> None:
    rec = getattr(_LOCAL, "recorder", None)
    if rec is not None and not rec.busy:
        rec.on_module_pre(module, args)


def _post_hook(module: nn.Module, args: tuple, output: Any) -> None:
    rec = getattr(_LOCAL, "recorder", None)
    if rec is not None and not rec.busy:
        rec.on_module_post(module, args, output)


# --- small helpers ---------------------------------------------------------------------------


def _records(op: str) -> ops.Records | None:
    """What the catalogue says to record for ``op`` beyond its tensors (None: nothing)."""
    info = ops.lookup(op)
    return info.records if info is not None else None


def _pass_target(model: nn.Module, train: bool | None) -> nn.Module:
    """The module to run: the model itself, or a private view when the pass could change it."""
    training = model.training if train is None else train
    mixed = train is not None and any(m.training != train for m in model.modules())
    mutates_buffers = training and any(True for _ in model.buffers())
    return session_view(model, train=training) if (mixed or mutates_buffers) else model


@contextmanager
def _seeded(seed: int | None):
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def _nothing():
    yield


def _detach(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach()
    if isinstance(obj, (tuple, list)):
        return type(obj)(_detach(o) for o in obj)
    return obj
