"""What each kind of op records beyond its tensors: dropout masks, pool winners, BN statistics.

Called by the recorder right after the op ran, with the op's recorded inputs; the pass itself is
never re-run, except dropout's random draw, replayed on a tensor of ones from the same RNG state.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.steps import Step

DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
DROPOUT_FUNCS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.dropout}


def add_module_extras(step: Step, module: nn.Module, note: dict[str, Any]) -> None:
    x = step.inputs[0] if step.inputs else None
    if isinstance(module, DROPOUTS):
        _dropout_extras(step, module.p, module.training, note.get("rng"), module.forward)
    elif isinstance(module, nn.MaxPool2d) and x is not None:
        _pool_extras(step, x, module.kernel_size, module.stride, module.padding, module.dilation,
                     module.ceil_mode)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm) and x is not None:
        use_batch = module.training or module.running_mean is None
        _batch_norm_extras(step, x, use_batch, note["running"], module.eps, module.momentum)
    elif isinstance(module, (nn.Conv2d, nn.Linear)):
        step.extras["weight"] = module.weight.detach()
        step.extras["bias"] = None if module.bias is None else module.bias.detach()


def add_function_extras(step: Step, func, args, kwargs, rng) -> None:
    if func in DROPOUT_FUNCS:
        b = _bind(["input", "p", "training", "inplace"], args, kwargs)
        p, training = b.get("p", 0.5), b.get("training", func is not torch.dropout)
        _dropout_extras(step, p, training, rng, lambda t: func(t, p, training))
    elif step.op == "max_pool2d":
        b = _bind(["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"],
                  args, kwargs)
        _pool_extras(step, step.inputs[0], b["kernel_size"], b.get("stride"),
                     b.get("padding", 0), b.get("dilation", 1), b.get("ceil_mode", False))
    elif step.op == "batch_norm":
        b = _bind(["input", "running_mean", "running_var", "weight", "bias", "training",
                   "momentum", "eps"], args, kwargs)
        running = (b.get("running_mean"), b.get("running_var"))
        _batch_norm_extras(step, step.inputs[0], b.get("training", False) or running[0] is None,
                           running, b.get("eps", 1e-5), b.get("momentum", 0.1))
    elif step.op in ("conv2d", "linear"):
        b = _bind(["input", "weight", "bias"], args, kwargs)
        step.extras["weight"] = b["weight"].detach()
        step.extras["bias"] = None if b.get("bias") is None else b["bias"].detach()


def _dropout_extras(step: Step, p: float, training: bool, rng: torch.Tensor | None,
                    call) -> None:
    x = step.inputs[0]
    step.extras.update(p=float(p), training=bool(training))
    if not training or p == 0 or rng is None:
        step.extras.update(mask=torch.ones_like(x, dtype=torch.bool), scale=1.0)
        return
    # Replay the same random draw on a tensor of ones: the mask is exactly where it survives,
    # even where the input itself was zero. Then put the generator back where the pass left it.
    after = torch.get_rng_state()
    torch.set_rng_state(rng)
    kept = call(torch.ones_like(x))
    torch.set_rng_state(after)
    step.extras.update(mask=kept != 0, scale=1.0 / (1.0 - p) if p < 1 else 0.0)


def _pool_extras(step: Step, x: torch.Tensor, kernel, stride, padding, dilation, ceil) -> None:
    _, indices = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode=ceil,
                              return_indices=True)
    step.extras.update(indices=indices, kernel_size=kernel, stride=stride or kernel)


def _batch_norm_extras(step: Step, x: torch.Tensor, use_batch: bool, running, eps: float,
                       momentum: float | None) -> None:
    dims = [d for d in range(x.dim()) if d != 1]
    step.extras.update(
        statistics="batch" if use_batch else "running",
        batch_mean=x.mean(dims), batch_var=x.var(dims, unbiased=False),
        running_mean=running[0], running_var=running[1], eps=eps, momentum=momentum,
    )


def clone_stats(module: nn.Module) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    # Taken before the call: in train mode BatchNorm updates its running stats in place.
    rm, rv = module.running_mean, module.running_var
    return (None if rm is None else rm.detach().clone(), None if rv is None else rv.detach().clone())


def _bind(names: list[str], args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    bound = dict(zip(names, args, strict=False))
    bound.update({k: v for k, v in kwargs.items() if k in names})
    return bound
