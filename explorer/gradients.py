"""The backward pass of a traced forward: ``backward(model, x, target) -> Backward``.

The forward runs under the same recorder as ``trace`` (same steps, same indices), but with
autograd on; torch then computes every gradient and we only collect them:

* each step's live output gets a tensor hook as it is made, which receives d loss / d output
  (a hook registered before a later in-place op sees the value before that op, as it should);
* parameters and input are fresh leaf tensors on a private view of the model, so the shared
  model gets no ``.grad``, keeps its mode and buffers, and may even have ``requires_grad=False``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.sharing import parameters_with, session_view
from explorer.steps import Trace
from explorer.trace import record_pass

__all__ = ["LOSSES", "Backward", "backward", "sgd_step", "step_warning"]

LOSSES = ("cross_entropy", "mse")


@dataclass
class Backward:
    """One forward pass, its loss, and the gradient of that loss with respect to everything."""

    trace: Trace  # the forward pass, step for step what ``trace()`` records
    loss: float
    loss_name: str  # "cross_entropy" or "mse" (both averaged over the batch / elements)
    target: torch.Tensor  # as used: (N,) long class indices, or a float tensor like the output
    output_grads: dict[int, torch.Tensor]  # step index -> d loss / d output, for steps on the path
    # step index -> its output's grad_fn class, e.g. "ReluBackward0"; a step that hands back
    # its input tensor itself (eval-mode dropout) shows the producer's
    grad_fns: dict[int, str]
    param_grads: dict[str, torch.Tensor]  # full name -> d loss / d parameter (zeros if unused)
    input_grad: torch.Tensor | None  # d loss / d x, shaped like x (None for a non-float input)
    grad_norms: dict[int | str, float]  # L2 norm per step index and per parameter name


def backward(
    model: nn.Module,
    x: torch.Tensor,
    target: Any,
    *,
    loss: str | None = None,
    seed: int | None = None,
    train: bool | None = None,
    params: Mapping[str, torch.Tensor] | None = None,
    **forward_kwargs: Any,
) -> Backward:
    """Trace ``model(x)``, compute the loss against ``target`` and every gradient of it.

    Args:
        model: any ``nn.Module`` with parameters; it is left exactly as found (no ``.grad``,
            same mode, buffers, parameters and hooks), so it may be shared between sessions.
        x: the input tensor, without NaN or inf.
        target: for ``"cross_entropy"`` a class index (an int, used for every example of the
            batch) or an (N,) integer tensor; for ``"mse"`` a float tensor shaped like the
            output (or a number, for a one-number output). ``None`` means the input itself,
            for a model that rebuilds its input (the autoencoder).
        loss: ``"cross_entropy"`` or ``"mse"``; ``None`` picks cross-entropy for an integer
            target and an (N, C) output of class scores, otherwise mean squared error.
        seed, train, forward_kwargs: as for ``trace``; the same seed gives the same dropout mask.
        params: full parameter name -> tensor to use instead of the model's own (e.g. the
            session's weights after ``sgd_step``); the others keep the model's values.

    Returns:
        A ``Backward`` whose ``trace`` has the same steps as ``trace(model, x, ...)``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"the input must be a torch.Tensor, not {type(x).__name__}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError("the input contains NaN or inf; gradients of it would be meaningless")
    if loss is not None and loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    names = [n for n, _ in model.named_parameters()]
    if not names:
        raise ValueError("this model has no parameters to learn")

    # Fresh leaves sharing the weights' storage: autograd writes nothing into them, and the
    # shared parameters' own requires_grad flags do not matter.
    start = parameters_with(model, params)
    leaves = {n: nn.Parameter(t.detach(), requires_grad=True) for n, t in start.items()}
    view = session_view(model, train=train, params=leaves)
    x_leaf = x.detach().requires_grad_() if x.is_floating_point() else None
    # The model gets a copy, so an in-place op on its input is allowed and leaves x alone.
    x_in = x_leaf.clone() if x_leaf is not None else x

    output_grads: dict[int, torch.Tensor] = {}
    grad_fns: dict[int, str] = {}

    def on_output(index: int, out: Any) -> None:
        if not (isinstance(out, torch.Tensor) and out.requires_grad):
            return  # integer/bool results, tuples, or values that no weight or input affects
        if out.grad_fn is not None:
            grad_fns[index] = type(out.grad_fn).__name__

        def keep(grad: torch.Tensor) -> None:
            output_grads[index] = grad.detach().clone()

        out.register_hook(keep)

    t, output = record_pass(
        view, x_in, seed=seed, forward_kwargs=forward_kwargs, grad=True, on_output=on_output
    )
    if not isinstance(output, torch.Tensor) or not output.is_floating_point():
        raise ValueError("backward needs a model whose output is one float tensor")
    loss_name, target_t = _loss_and_target(output, x, target, loss)
    value = (
        F.cross_entropy(output, target_t)
        if loss_name == "cross_entropy"
        else F.mse_loss(output, target_t)
    )
    if not value.requires_grad:
        raise ValueError("the loss does not depend on any parameter or on the input")
    wrt = [*leaves.values(), *([x_leaf] if x_leaf is not None else [])]
    # Unused inputs (a layer a branch skipped) get zeros, as an SGD step would treat them.
    grads = torch.autograd.grad(value, wrt, allow_unused=True, materialize_grads=True)
    param_grads = dict(zip(leaves, grads[: len(leaves)], strict=True))
    input_grad = grads[-1] if x_leaf is not None else None

    norms: dict[int | str, float] = {i: g.norm().item() for i, g in sorted(output_grads.items())}
    norms.update({n: g.norm().item() for n, g in param_grads.items()})
    return Backward(
        t,
        value.item(),
        loss_name,
        target_t.detach(),
        dict(sorted(output_grads.items())),
        grad_fns,
        param_grads,
        input_grad,
        norms,
    )


def sgd_step(
    model: nn.Module,
    grads: Mapping[str, torch.Tensor],
    lr: float,
    params: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """One plain SGD step, ``p - lr * grad``, as a new parameter dict; ``model`` is not touched.

    Args:
        model: the (shared) model whose parameter names and values are the starting point.
        grads: full name -> gradient, e.g. ``Backward.param_grads``; a parameter without one
            keeps its value.
        lr: the learning rate, a finite number.
        params: the session's current weights (a previous step's result) to start from instead
            of the model's own.

    Returns:
        Every parameter by full name, as new tensors: pass it as ``params=`` to ``trace`` or
        ``backward``.
    """
    if not math.isfinite(lr):
        raise ValueError(f"the learning rate must be a finite number, not {lr}")
    start = parameters_with(model, params)
    unknown = [n for n in grads if n not in start]
    if unknown:
        raise ValueError(
            f"{type(model).__name__} has no parameter named {', '.join(map(repr, unknown))}"
        )
    with torch.no_grad():
        return {
            n: (p - lr * grads[n]) if n in grads else p.clone()
            for n, p in ((n, p.detach()) for n, p in start.items())
        }


COLLAPSED = 1e-4  # a loss below this after one step: the gradients have (almost) vanished


def step_warning(before: float, after: float, lr: float) -> str | None:
    """What went wrong with an SGD step that took the loss from ``before`` to ``after``, in
    words for a student; None when it simply went downhill (or a little uphill)."""
    if not math.isfinite(after):
        return (
            f"The loss is no longer a finite number: with learning rate {lr:g} the step "
            "threw the weights so far that the numbers overflowed. Undo, and try a "
            "learning rate ten times smaller."
        )
    if after > 2 * before and after - before > 0.1:
        return (
            f"The step made the loss worse ({before:.4f} → {after:.4f}): with learning "
            f"rate {lr:g} it jumped right over the valley. Undo, and try a smaller "
            "learning rate."
        )
    if after < COLLAPSED <= before:
        return (
            f"One step drove the loss from {before:.4f} to {after:.2g}: the network now "
            "matches this target (almost) exactly, so every gradient is (almost) zero and "
            f"further steps change next to nothing. Learning rate {lr:g} memorised one "
            "example; training takes small steps over many. Undo and try 0.01 to watch "
            "the loss go down step by step."
        )
    return None


def _loss_and_target(
    output: torch.Tensor, x: torch.Tensor, target: Any, loss: str | None
) -> tuple[str, torch.Tensor]:
    """Which loss to use, and the target as a tensor it accepts; ValueError if it cannot."""
    if target is None:
        if loss == "cross_entropy" or output.shape != x.shape:
            raise ValueError(
                "a target is needed: a class index for a classifier, or numbers shaped like the "
                f"output {tuple(output.shape)}; only a model that rebuilds its input "
                "can use the input itself"
            )
        return "mse", x.detach()
    is_int = (isinstance(target, int) and not isinstance(target, bool)) or (
        isinstance(target, torch.Tensor)
        and not target.is_floating_point()
        and target.dtype != torch.bool
    )
    scores = output.dim() == 2 and output.shape[1] > 1  # (N, C) class scores
    if loss is None:
        # Numbers for class scores are a mistake, unless they are a full (N, C) target.
        like_output = isinstance(target, torch.Tensor) and target.shape == output.shape
        if not is_int and scores and _is_number(target) and not like_output:
            raise ValueError(_float_for_classifier(output, target))
        loss = "cross_entropy" if is_int and scores else "mse"
    if loss == "cross_entropy":
        return loss, _class_target(output, target, is_int)
    return loss, _mse_target(output, target)


def _class_target(output: torch.Tensor, target: Any, is_int: bool) -> torch.Tensor:
    if output.dim() != 2:
        raise ValueError(
            f"cross-entropy needs (N, C) class scores; the output is {tuple(output.shape)}"
        )
    n, classes = output.shape
    if not is_int:
        raise ValueError(_float_for_classifier(output, target))
    t = torch.as_tensor(target, dtype=torch.long)
    if t.dim() == 0:
        t = t.expand(n).clone()  # one class for every example of the batch
    if t.shape != (n,):
        raise ValueError(
            f"the target must be one class index per example: shape ({n},), not {tuple(t.shape)}"
        )
    bad = t[(t < 0) | (t >= classes)]
    if bad.numel():
        raise ValueError(
            f"class index {bad[0].item()} is out of range: this model has "
            f"{classes} classes, 0 to {classes - 1}"
        )
    return t


def _mse_target(output: torch.Tensor, target: Any) -> torch.Tensor:
    if isinstance(target, torch.Tensor):
        t = target.detach().to(output.dtype)
    elif _is_number(target) and output.numel() == 1:
        t = torch.full_like(output, float(target))
    else:
        raise ValueError(
            f"the target for mean squared error must be a float tensor shaped like "
            f"the output {tuple(output.shape)}, not {type(target).__name__}"
        )
    if t.shape != output.shape and output.shape[0] == 1 and t.shape == output.shape[1:]:
        t = t.unsqueeze(0)  # one example typed without its batch dimension
    if t.shape != output.shape:
        raise ValueError(
            f"the target has shape {tuple(t.shape)} but the output has "
            f"{tuple(output.shape)}; mean squared error needs the same shape"
        )
    if not torch.isfinite(t).all():
        raise ValueError("the target contains NaN or inf")
    return t


def _is_number(target: Any) -> bool:
    return (isinstance(target, (int, float)) and not isinstance(target, bool)) or (
        isinstance(target, torch.Tensor) and target.is_floating_point()
    )


def _float_for_classifier(output: torch.Tensor, target: Any) -> str:
    classes = output.shape[1]
    shown = target if not isinstance(target, torch.Tensor) else f"a {target.dtype} tensor"
    return (
        f"this model outputs {classes} class scores: the target must be a class index, an "
        f"int from 0 to {classes - 1} (or an integer tensor of them), not {shown}"
    )
