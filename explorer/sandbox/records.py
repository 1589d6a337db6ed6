"""``Trace``, ``Step`` and ``Backward`` as plain documents, and back -- checking every field.

The worker packs what ``explorer.trace`` and ``explorer.backward`` recorded; the app unpacks
it into the very same records, so a page shows a sandboxed run exactly like a preset's. Reading
accepts only the fields these records have, with the types they have, and points a step's
``file`` only at the student's own code (a worker could otherwise name any file on the server
for ``source_of`` to read).
"""

from __future__ import annotations

from typing import Any

import torch

from explorer.gradients import LOSSES, Backward
from explorer.sandbox.wire import Fields, Packer, Unpacker, WireError, is_int
from explorer.steps import CallFlow, Step, Trace

# More ops than a page can show (a Python loop over a tensor's elements makes one per element);
# the worker reports such a run as an error rather than send it.
MAX_STEPS = 5_000
_KINDS = ("module", "function", "method")
_STEP_FIELDS = (
    "index",
    "op",
    "kind",
    "module",
    "nesting",
    "inputs",
    "output",
    "parents",
    "file",
    "line",
    "code",
    "function",
    "module_type",
    "call_flow",
    "params",
    "args",
    "extras",
    "columns",
)


# --- packing (in the worker) -------------------------------------------------------------------


def pack_step(p: Packer, s: Step) -> dict[str, Any]:
    flow = (
        None
        if s.call_flow is None
        else {
            "pre_hooks": list(s.call_flow.pre_hooks),
            "forward": s.call_flow.forward,
            "hooks": list(s.call_flow.hooks),
        }
    )
    return {
        "index": s.index,
        "op": s.op,
        "kind": s.kind,
        "module": s.module,
        "nesting": list(s.nesting),
        "inputs": [p.tensor(t) for t in s.inputs],
        "output": p.value(s.output),
        "parents": list(s.parents),
        "file": s.file,
        "line": s.line,
        "code": s.code,
        "function": s.function,
        "module_type": s.module_type,
        "call_flow": flow,
        "params": {n: p.tensor(t) for n, t in s.params.items()},
        "args": p.value(s.args),
        "extras": p.value(s.extras),
        "columns": None if s.columns is None else list(s.columns),
    }


def pack_trace(p: Packer, t: Trace) -> dict[str, Any]:
    return {
        "model_type": t.model_type,
        "input": p.tensor(t.input),
        "output": p.value(t.output),
        "steps": [pack_step(p, s) for s in t.steps],
        "training": t.training,
        "seed": t.seed,
    }


def pack_backward(p: Packer, b: Backward) -> dict[str, Any]:
    return {
        "trace": pack_trace(p, b.trace),
        "loss": p.value(b.loss),
        "loss_name": b.loss_name,
        "target": p.tensor(b.target),
        "output_grads": [[i, p.tensor(g)] for i, g in b.output_grads.items()],
        "grad_fns": [[i, f] for i, f in b.grad_fns.items()],
        "param_grads": {n: p.tensor(g) for n, g in b.param_grads.items()},
        "input_grad": None if b.input_grad is None else p.tensor(b.input_grad),
        "grad_norms": [[k, p.value(v)] for k, v in b.grad_norms.items()],
    }


def pack_tensors(p: Packer, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    return {n: p.tensor(t) for n, t in tensors.items()}


# --- unpacking (in the app) --------------------------------------------------------------------


def _strings(values: list, what: str, cap: int = 1000) -> tuple[str, ...]:
    if not all(isinstance(v, str) and len(v) <= cap for v in values):
        raise WireError(f"{what} must be strings")
    return tuple(values)


def _tensor_dict(u: Unpacker, plain: Any, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(plain, dict) or len(plain) > 10_000:
        raise WireError(f"{what} must be a dict of tensors")
    return {_strings([n], what)[0]: u.tensor(t) for n, t in plain.items()}


def _plain_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise WireError(f"{what} must be a dict with string keys")
    return value


def unpack_step(u: Unpacker, plain: Any, filename: str) -> Step:
    f = Fields(plain, "a step", _STEP_FIELDS)
    kind = f.text("kind", 20)
    if kind not in _KINDS:
        raise WireError(f"unknown step kind {kind!r}")
    flow_plain = f.get("call_flow", lambda v: v is None or isinstance(v, dict), "a dict or null")
    flow = None
    if flow_plain is not None:
        cf = Fields(flow_plain, "a call flow", ("pre_hooks", "forward", "hooks"))
        flow = CallFlow(
            _strings(cf.items("pre_hooks", 100), "pre_hooks"),
            cf.text("forward"),
            _strings(cf.items("hooks", 100), "hooks"),
        )
    parents = f.items("parents", 1000)
    if not all(is_int(i) for i in parents):
        raise WireError("a step's parents must be integers")
    file = f.text("file", 4096)
    columns = f.get(
        "columns",
        lambda v: (
            v is None
            or (
                isinstance(v, list)
                and len(v) == 2
                and all(is_int(c) for c in v)
                and 0 <= v[0] < v[1] <= 10_000
            )
        ),
        "null or [start, end]",
        default=None,
    )
    return Step(
        index=f.integer("index"),
        op=f.text("op", 200),
        kind=kind,
        module=f.text("module", 1000),
        nesting=_strings(f.items("nesting", 100), "nesting"),
        inputs=tuple(u.tensor(t) for t in f.items("inputs", 1000)),
        output=u.value(plain.get("output")),
        parents=tuple(parents),
        # Only the student's code may be looked up by source_of: any other path would make
        # the app read a file of the worker's choosing.
        file=file if file == filename else "",
        line=f.integer("line"),
        code=f.text("code", 10_000),
        function=f.text("function", 1000),
        module_type=f.opt_text("module_type", 200),
        call_flow=flow,
        params=_tensor_dict(u, plain.get("params", {}), "a step's params"),
        args=_plain_dict(u.value(plain.get("args", {})), "a step's args"),
        extras=_plain_dict(u.value(plain.get("extras", {})), "a step's extras"),
        columns=None if columns is None else (columns[0], columns[1]),
    )


def unpack_steps(u: Unpacker, plain: Any, filename: str) -> list[Step]:
    if not isinstance(plain, list) or len(plain) > MAX_STEPS:
        raise WireError(f"steps must be a list of at most {MAX_STEPS}")
    steps = [unpack_step(u, s, filename) for s in plain]
    if [s.index for s in steps] != list(range(len(steps))):
        raise WireError("steps must be numbered 0, 1, 2, ...")
    if any(not -1 <= p < s.index for s in steps for p in s.parents):
        raise WireError("a step's parent must come before it")
    return steps


def unpack_trace(u: Unpacker, plain: Any, filename: str) -> Trace:
    f = Fields(plain, "a trace", ("model_type", "input", "output", "steps", "training", "seed"))
    seed = f.get("seed", lambda v: v is None or is_int(v), "an integer or null")
    return Trace(
        f.text("model_type", 200),
        u.tensor(plain.get("input")),
        u.value(plain.get("output")),
        unpack_steps(u, f.items("steps"), filename),
        f.flag("training"),
        seed,
    )


def unpack_backward(u: Unpacker, plain: Any, filename: str) -> Backward:
    f = Fields(
        plain,
        "a backward pass",
        (
            "trace",
            "loss",
            "loss_name",
            "target",
            "output_grads",
            "grad_fns",
            "param_grads",
            "input_grad",
            "grad_norms",
        ),
    )
    trace = unpack_trace(u, plain.get("trace"), filename)
    loss = u.value(plain.get("loss"))
    if not isinstance(loss, float):
        raise WireError("the loss must be a number")
    loss_name = f.text("loss_name", 50)
    if loss_name not in LOSSES:
        raise WireError(f"unknown loss {loss_name!r}")
    output_grads = {}
    for pair in f.items("output_grads"):
        if not (isinstance(pair, list) and len(pair) == 2 and is_int(pair[0])):
            raise WireError("output_grads must be [step index, tensor] pairs")
        output_grads[pair[0]] = u.tensor(pair[1])
    grad_fns = {}
    for pair in f.items("grad_fns"):
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and is_int(pair[0])
            and isinstance(pair[1], str)
            and len(pair[1]) <= 200
        ):
            raise WireError("grad_fns must be [step index, name] pairs")
        grad_fns[pair[0]] = pair[1]
    norms: dict[int | str, float] = {}
    for pair in f.items("grad_norms", 2 * MAX_STEPS):
        ok = (
            isinstance(pair, list)
            and len(pair) == 2
            and not isinstance(pair[0], bool)
            and isinstance(pair[0], (int, str))
        )
        value = u.value(pair[1]) if ok else None
        if not isinstance(value, float):
            raise WireError("grad_norms must be [step index or name, number] pairs")
        norms[pair[0]] = value
    input_grad = plain.get("input_grad")
    return Backward(
        trace,
        loss,
        loss_name,
        u.tensor(plain.get("target")),
        output_grads,
        grad_fns,
        _tensor_dict(u, plain.get("param_grads"), "param_grads"),
        None if input_grad is None else u.tensor(input_grad),
        norms,
    )
