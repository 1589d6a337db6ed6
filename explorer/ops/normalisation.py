"""Normalisation: ``batch_norm`` (per channel, over the batch or the running statistics) and
``layer_norm`` (per example, over its last dimensions). Both then scale by γ and shift by β.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
import torch.nn as nn

from explorer.ops.info import Fields, OpInfo, Records, bind
from explorer.ops.phrases import who
from explorer.steps import Step, Trace
from explorer.units.formulas import cannot, paren, unit_name
from explorer.units.reading import f64, same_place
from explorer.units.records import fmt
from explorer.units.settings import named_args


def _affine(step: Step) -> tuple[Any, Any]:
    """γ and β of a normalisation step: (None, None) if it has none, False if ambiguous."""
    if step.kind == "module":
        prefix = f"{step.module}." if step.module else ""
        return step.params.get(f"{prefix}weight"), step.params.get(f"{prefix}bias")
    gammas = [p for n, p in step.params.items() if n.endswith("weight")]
    betas = [p for n, p in step.params.items() if n.endswith("bias")]
    if len(gammas) > 1 or len(betas) > 1 or len(step.inputs) > 1:
        return False, False
    return (gammas[0] if gammas else None), (betas[0] if betas else None)


def _normalise_formula(
    name: str, x: float, mean: float, var: float, eps: float, g: float, b: float, total: float
) -> str:
    return (
        f"{name} = (x - mean) / √(var + eps) · γ + β = ({fmt(x)} - {paren(mean)}) / "
        f"√({fmt(var)} + {fmt(eps)}) · {paren(g)} + {paren(b)} = {fmt(total)}"
    )


# --- batch_norm ------------------------------------------------------------------------------


def _clone_running(module: nn.Module) -> dict[str, Any]:
    # Taken before the call: in train mode BatchNorm updates its running stats in place.
    rm, rv = module.running_mean, module.running_var
    return {
        "running": (
            rm.detach().clone() if isinstance(rm, torch.Tensor) else None,
            rv.detach().clone() if isinstance(rv, torch.Tensor) else None,
        )
    }


def _statistics(
    step: Step, x: torch.Tensor, use_batch: bool, running, eps: float, momentum: float | None
) -> None:
    dims = [d for d in range(x.dim()) if d != 1]
    step.extras.update(
        statistics="batch" if use_batch else "running",
        batch_mean=x.mean(dims),
        batch_var=x.var(dims, unbiased=False),
        running_mean=running[0],
        running_var=running[1],
        eps=eps,
        momentum=momentum,
    )


def _bn_module(step: Step, module: nn.Module, notes: dict[str, Any]) -> None:
    if step.inputs:
        use_batch = module.training or module.running_mean is None
        # Plain attributes, which nn.Module's typing (parameters, buffers, submodules) cannot see
        eps, momentum = cast(float, module.eps), cast("float | None", module.momentum)
        _statistics(step, step.inputs[0], use_batch, notes["running"], eps, momentum)


def _bn_function(step: Step, func, args: tuple, kwargs: dict[str, Any], rng) -> None:
    b = bind(
        ["input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"],
        args,
        kwargs,
    )
    running = (b.get("running_mean"), b.get("running_var"))
    _statistics(
        step,
        step.inputs[0],
        b.get("training", False) or running[0] is None,
        running,
        b.get("eps", 1e-5),
        b.get("momentum", 0.1),
    )


def _bn_words(step: Step, trace: Trace | None) -> str | None:
    stats = step.extras.get("statistics")
    if stats is None or not step.inputs:
        return None
    x = step.inputs[0]
    channels = x.shape[1] if x.dim() > 1 else 1
    mean, var = step.extras.get(f"{stats}_mean"), step.extras.get(f"{stats}_var")
    if stats == "batch":
        per = x.numel() // channels
        text = (
            f"{who(step)} uses **batch statistics** (training mode): each of the {channels} "
            f"channels is shifted by its mean and divided by its standard deviation, both "
            f"measured on this batch ({per:,} values per channel), then scaled by γ and "
            "shifted by β."
        )
    else:
        text = (
            f"{who(step)} uses its **running statistics** (evaluation mode): each of the "
            f"{channels} channels is normalised with the mean and variance saved during "
            "training, not this batch's, so every example is treated the same whatever "
            "else is in the batch; then scaled by γ and shifted by β."
        )
    if mean is not None and var is not None:
        text += f" Channel 0 used mean {fmt(float(mean[0]))} and variance {fmt(float(var[0]))}."
    return text


def _bn_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    stats = step.extras.get("statistics")
    if stats is None or not step.inputs or out.dim() < 2:
        return None
    ch = index[1]
    mean_t = step.extras.get(f"{stats}_mean")
    var_t = step.extras.get(f"{stats}_var")
    gamma, beta = _affine(step)
    if mean_t is None or var_t is None or gamma is False:
        return cannot(
            step,
            "the explorer cannot tell which recorded tensors are this batch "
            "norm's statistics or γ and β",
        )
    x = float(step.inputs[0][index])
    mean, var, eps = float(mean_t[ch]), float(var_t[ch]), float(step.extras.get("eps", 1e-5))
    g = 1.0 if gamma is None else float(gamma[ch])
    bt = 0.0 if beta is None else float(beta[ch])
    total = (x - mean) / math.sqrt(var + eps) * g + bt
    which = (
        "this batch's mean and variance"
        if stats == "batch"
        else "the running mean and variance saved during training"
    )
    return dict(
        formula=_normalise_formula(unit_name(index), x, mean, var, eps, g, bt, total),
        explanation=f"Channel {ch} is normalised with {which}, then scaled by γ and shifted by β.",
        total=total,
        operands={
            "x": x,
            "mean": mean,
            "var": var,
            "eps": eps,
            "gamma": g,
            "beta": bt,
            "statistics": stats,
        },
        **same_place(index),
    )


def _bn_routing(step: Step) -> str | None:
    if step.extras.get("statistics") == "batch":
        return (
            "With batch statistics every output of a channel depends on every input of "
            "that channel in the batch (through the mean and variance), so each gradient "
            "reaches the whole channel; γ and β get the sums of the gradients they scaled "
            "and shifted."
        )
    var, eps = step.extras.get("running_var"), step.extras.get("eps", 1e-5)
    gamma, _ = _affine(step)
    text = (
        "With running statistics each value is only shifted and scaled, so its gradient "
        "goes straight back, multiplied by γ / √(running var + eps) of its channel."
    )
    if var is not None and var.numel() and gamma is not False:
        g = 1.0 if gamma is None else float(gamma[0])
        text += f" For channel 0 that factor is {fmt(g / math.sqrt(float(var[0]) + eps))}."
    return text


BATCH_NORM = OpInfo(
    names=("batch_norm",),
    explain=_bn_words,
    unit=_bn_unit,
    routing=_bn_routing,
    modules=("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"),
    records=Records(module=_bn_module, function=_bn_function, before_module=_clone_running),
)


# --- layer_norm ------------------------------------------------------------------------------


def _ln_args(step: Step) -> tuple[tuple[int, ...] | None, float]:
    a = (
        step.args
        if step.kind == "module"
        else named_args(step.args, ["input", "normalized_shape", "weight", "bias", "eps"])
    )
    shape = a.get("normalized_shape")
    if isinstance(shape, int):
        shape = (shape,)
    return (tuple(shape) if shape is not None else None), float(a.get("eps", 1e-5))


def _ln_words(step: Step, trace: Trace | None) -> str | None:
    shape, _ = _ln_args(step)
    if shape is None or not step.inputs or step.inputs[0].dim() <= len(shape):
        return None
    x = step.inputs[0]
    group = x.reshape(-1, math.prod(shape))[0].double()
    size = "×".join(map(str, shape))
    first = "Example 0" if x.dim() == len(shape) + 1 else "The first group"
    return (
        f"{who(step)} normalises each example on its own: each group of {size} values is "
        "shifted by its mean and divided by its standard deviation, then scaled by γ and "
        "shifted by β. Unlike batch norm it never looks at the other examples, so training "
        f"and evaluation do the same. {first} had mean {fmt(float(group.mean()))} and "
        f"variance {fmt(float(group.var(unbiased=False)))}."
    )


def _ln_unit(step: Step, out: torch.Tensor, index: tuple, top_k: int) -> Fields | None:
    shape, eps = _ln_args(step)
    gamma, beta = _affine(step)
    if shape is None or not step.inputs or out.dim() <= len(shape):
        return None
    if gamma is False:
        return cannot(
            step, "the explorer cannot tell which recorded tensors are this layer norm's γ and β"
        )
    k = len(shape)
    group = f64(step.inputs[0][index[:-k]])
    x = float(step.inputs[0][index])
    mean, var = float(group.mean()), float(group.var())
    inner = index[-k:]
    g = 1.0 if gamma is None else float(gamma[inner])
    bt = 0.0 if beta is None else float(beta[inner])
    total = (x - mean) / math.sqrt(var + eps) * g + bt
    return dict(
        formula=_normalise_formula(unit_name(index), x, mean, var, eps, g, bt, total),
        explanation=(
            f"The mean and variance are those of the {group.size} values this one is "
            f"normalised with (its example's last {k} "
            f"dimension{'s' if k > 1 else ''}); γ and β are those of its position."
        ),
        total=total,
        operands={"x": x, "mean": mean, "var": var, "eps": eps, "gamma": g, "beta": bt},
        **same_place(index),
    )


def _ln_routing(step: Step) -> str | None:
    shape, _ = _ln_args(step)
    n = f" {math.prod(shape)}" if shape else ""
    return (
        f"Every output depends on all{n} values of its group (through their mean and "
        "variance), so each gradient reaches the whole group; the part that would only "
        "shift or stretch the group as a whole is taken out."
    )


LAYER_NORM = OpInfo(
    names=("layer_norm",),
    explain=_ln_words,
    unit=_ln_unit,
    routing=_ln_routing,
    settings=("normalized_shape", "elementwise_affine"),
)

OPS = (BATCH_NORM, LAYER_NORM)
