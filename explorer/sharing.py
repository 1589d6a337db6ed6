"""One model object, many students: per-session views of a shared module.

A model cached once for the whole server must never have its train/eval mode flipped, its
buffers updated or ``.grad`` written by one session. ``session_view`` gives a session its own
module tree that shares the (read-only) parameters.
"""

from __future__ import annotations

import copy

import torch.nn as nn


def session_view(model: nn.Module, *, train: bool | None = None) -> nn.Module:
    """A copy of ``model``'s module tree that shares its parameters but owns everything else.

    The view has its own ``training`` flags, its own hook dicts and its own copies of the
    buffers (BatchNorm running statistics change in train mode), so running it, switching its
    mode or registering hooks on it leaves ``model`` untouched. Parameters are the same tensors:
    cheap, and never written by a forward pass.

    Args:
        model: the shared module.
        train: the view's mode; ``None`` keeps ``model``'s.
    """
    memo: dict[int, nn.Module] = {}

    def clone(m: nn.Module) -> nn.Module:
        if id(m) in memo:  # a module used at two places stays one module
            return memo[id(m)]
        view = copy.copy(m)
        memo[id(m)] = view
        view.__dict__ = dict(m.__dict__)
        view._parameters = dict(m._parameters)
        view._buffers = {k: None if b is None else b.detach().clone() for k, b in m._buffers.items()}
        for hooks in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks",
                      "_forward_pre_hooks_with_kwargs", "_forward_hooks_with_kwargs",
                      "_forward_hooks_always_called", "_backward_pre_hooks"):
            if hooks in m.__dict__:
                view.__dict__[hooks] = copy.copy(m.__dict__[hooks])
        view._modules = {k: None if c is None else clone(c) for k, c in m._modules.items()}
        return view

    view = clone(model)
    if train is not None:
        view.train(train)
    return view
