"""Naming and describing what a traced pass called: op names and kinds, module paths, layers.

Pure helpers for the recorder in ``explorer.trace``: what to call a function, tensor method,
operator or layer (``F.relu`` -> ``relu``, ``x + y`` -> ``add``, ``BatchNorm2d`` ->
``batch_norm``, with the catalogue's aliases from ``explorer.ops``), whether it is a method or a function, which modules are one step (leaves),
what ran around a layer's ``forward`` (hooks), and the plain settings and arguments of a call.
They read what they are given and record nothing.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from explorer import ops
from explorer.steps import CallFlow, tensors_in

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
# Layer attributes kept as a module step's args; an op's own extras are in its catalogue entry.
_SETTINGS = (
    "in_features",
    "out_features",
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "p",
    "eps",
    "momentum",
    "negative_slope",
    "start_dim",
    "end_dim",
    "ceil_mode",
    "num_features",
    "padding_mode",
    "dim",
)

_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def names_by_id(model: nn.Module) -> tuple[dict[int, str], dict[int, str]]:
    """Module paths and parameter/buffer names by object id, worked out once per model object.

    A model's structure is fixed once it is built (the app builds a new object for every
    change), and walking it on every pass would cost a noticeable part of a small model's trace.
    """
    cached = _NAMES.get(model)
    if cached is None:
        tensors = [*model.named_parameters(), *model.named_buffers()]
        cached = ({id(m): n for n, m in model.named_modules()}, {id(t): n for n, t in tensors})
        _NAMES[model] = cached
    return cached


def is_leaf(module: nn.Module) -> bool:
    # torch's own layers are one step each; containers and a student's modules are see-through.
    return not isinstance(module, _CONTAINERS) and type(module).__module__.startswith("torch.")


def call_flow(module: nn.Module, ours: tuple[Callable[..., Any], ...]) -> CallFlow:
    """What ``module(x)`` runs around ``forward``; ``ours`` (the recorder's hooks) left out."""
    pre = [
        *nn.modules.module._global_forward_pre_hooks.values(),
        *module._forward_pre_hooks.values(),
    ]
    post = [*nn.modules.module._global_forward_hooks.values(), *module._forward_hooks.values()]
    return CallFlow(
        tuple(_name(h) for h in pre if h not in ours),
        f"{type(module).__name__}.forward",
        tuple(_name(h) for h in post if h not in ours),
    )


def module_op(module: nn.Module) -> str:
    """A layer's op name: the catalogue's (``BatchNorm2d`` -> ``batch_norm``) or snake_case."""
    cls = type(module).__name__
    return ops.module_op(cls) or snake(cls)


def module_args(module: nn.Module, op: str) -> dict[str, Any]:
    """The layer's settings: the common ones and those its catalogue entry asks for."""
    info = ops.lookup(op)
    names = _SETTINGS + info.settings if info is not None else _SETTINGS
    settings = module.__dict__  # nn.Module.__getattr__ is slow; layer settings live here
    return {n: settings[n] for n in names if n in settings}


def plain_args(args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, a in enumerate(args):
        if not isinstance(a, torch.Tensor) and not _has_tensor(a):
            out[f"arg{i}"] = a
    for k, v in kwargs.items():
        if not isinstance(v, torch.Tensor) and not _has_tensor(v):
            out[k] = v
    return out


def op_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # a tensor attribute such as ``x.T``
        return getattr(getattr(func, "__self__", None), "__name__", "attribute")
    if name.startswith("__") and name.endswith("__"):
        return ops.operator_op(name[2:-2])
    return name


def func_kind(func: Any) -> str:
    qual = getattr(func, "__qualname__", "")
    if qual.startswith(("TensorBase.", "Tensor.")) or type(func).__name__ in (
        "method_descriptor",
        "method-wrapper",
        "wrapper_descriptor",
    ):
        return "method"
    return "function"


def is_attribute_noise(func: Any) -> bool:
    """Attribute reads like ``x.data`` hand back the same tensor; they are not ops."""
    return getattr(func, "__name__", "") == "__get__" and op_name(func) in (
        "data",
        "grad",
        "_base",
        "real",
    )


@functools.lru_cache(maxsize=256)
def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _has_tensor(obj: Any) -> bool:
    return bool(tensors_in(obj))
