"""One model object, many students: per-session views of a shared module.

A model cached once for the whole server must never have its train/eval mode flipped, its
buffers updated or ``.grad`` written by one session. ``session_view`` gives a session its own
module tree that shares the (read-only) parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
import torch.nn as nn


def session_view(
    model: nn.Module, *, train: bool | None = None, params: Mapping[str, torch.Tensor] | None = None
) -> nn.Module:
    """A copy of ``model``'s module tree that shares its parameters but owns everything else.

    The view has its own ``training`` flags, its own hook dicts and its own copies of the
    buffers (BatchNorm running statistics change in train mode), so running it, switching its
    mode or registering hooks on it leaves ``model`` untouched. Parameters are the same tensors
    (unless ``params`` replaces some): cheap, and never written by a forward pass.

    Args:
        model: the shared module.
        train: the view's mode; ``None`` keeps ``model``'s.
        params: full parameter name -> tensor to use in the view instead of the model's own
            (a session's updated weights). Plain tensors are wrapped as ``nn.Parameter``
            sharing their storage; a parameter used at two places is replaced at both.
    """
    # Replacements keyed by the shared parameter's identity, so tied weights stay tied.
    swap = _replacements(model, params) if params else {}
    memo: dict[int, nn.Module] = {}

    def clone(m: nn.Module) -> nn.Module:
        if id(m) in memo:  # a module used at two places stays one module
            return memo[id(m)]
        view = copy.copy(m)
        memo[id(m)] = view
        view.__dict__ = dict(m.__dict__)
        view._parameters = {
            k: swap.get(id(p), p) if p is not None else None for k, p in m._parameters.items()
        }
        view._buffers = {
            k: None if b is None else b.detach().clone() for k, b in m._buffers.items()
        }
        for hooks in (
            "_forward_pre_hooks",
            "_forward_hooks",
            "_backward_hooks",
            "_forward_pre_hooks_with_kwargs",
            "_forward_hooks_with_kwargs",
            "_forward_hooks_always_called",
            "_backward_pre_hooks",
        ):
            if hooks in m.__dict__:
                view.__dict__[hooks] = copy.copy(m.__dict__[hooks])
        view._modules = {k: None if c is None else clone(c) for k, c in m._modules.items()}
        return view

    view = clone(model)
    if train is not None:
        view.train(train)
    return view


def parameters_with(
    model: nn.Module, params: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """``model``'s parameters by full name, with ``params`` in place of some (names and shapes
    checked: ValueError for a name the model lacks or a shape that differs)."""
    own: dict[str, torch.Tensor] = dict(model.named_parameters())
    if not params:
        return own
    unknown = [n for n in params if n not in own]
    if unknown:
        raise ValueError(
            f"{type(model).__name__} has no parameter named {', '.join(map(repr, unknown))}"
        )
    for name, t in params.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"parameter {name!r} must be a tensor, not {type(t).__name__}")
        if t.shape != own[name].shape:
            raise ValueError(
                f"parameter {name!r} has shape {tuple(own[name].shape)}, "
                f"the replacement {tuple(t.shape)}"
            )
    return {**own, **params}


def _replacements(model: nn.Module, params: Mapping[str, torch.Tensor]) -> dict[int, nn.Parameter]:
    """``id(shared parameter) -> replacement`` for the names in ``params``."""
    merged = parameters_with(model, params)
    return {id(p): _as_parameter(merged[n]) for n, p in model.named_parameters() if n in params}


def _as_parameter(t: torch.Tensor) -> nn.Parameter:
    # A module's weights are Parameters everywhere else; a plain tensor shares its storage.
    return t if isinstance(t, nn.Parameter) else nn.Parameter(t.detach(), requires_grad=False)
