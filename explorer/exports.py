"""Take a pass home: activations as .npz or CSV, the model's code, its weights as .pt."""

from __future__ import annotations

import inspect
import io
import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from explorer.steps import Trace


def step_key(index: int, op: str) -> str:
    """The name of a step's output in the .npz: ``step03_conv2d``."""
    return f"step{index:02d}_{op}"


def trace_npz(trace: Trace) -> bytes:
    """Every step's output (and the input) as float arrays, plus a JSON index of the steps."""
    arrays: dict[str, np.ndarray] = {"input": trace.input.detach().numpy()}
    index = []
    for step in trace.steps:
        out = step.output
        if isinstance(out, torch.Tensor):
            arrays[step_key(step.index, step.op)] = out.detach().numpy()
        index.append(
            {
                "index": step.index,
                "op": step.op,
                "kind": step.kind,
                "module": step.module,
                "line": step.line,
                "code": step.code,
                "parents": list(step.parents),
                "shape": list(step.output_shape),
            }
        )
    if isinstance(trace.output, torch.Tensor):
        arrays["output"] = trace.output.detach().numpy()
    arrays["steps"] = np.array(
        json.dumps(
            {
                "model": trace.model_type,
                "training": trace.training,
                "seed": trace.seed,
                "steps": index,
            }
        )
    )
    buf = io.BytesIO()
    # Numbers and one string only, so np.load reads it back without allow_pickle=True.
    np.savez_compressed(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def trace_frame(trace: Trace) -> pd.DataFrame:
    """One row per output value of every step: step, op, module, position, value."""
    frames = []
    for step in trace.steps:
        out = step.output
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            continue
        values = out.detach().reshape(-1).numpy()
        positions = np.array(np.unravel_index(np.arange(values.size), out.shape)).T
        frames.append(
            pd.DataFrame(
                {
                    "step": step.index,
                    "op": step.op,
                    "module": step.module,
                    "position": [",".join(map(str, p)) for p in positions],
                    "value": values,
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["step", "op", "module", "position", "value"])
    )


def trace_csv(trace: Trace) -> str:
    return trace_frame(trace).to_csv(index=False)


def model_source(model: nn.Module) -> str:
    """The Python source of the model's own classes (not torch's), ready to run."""
    classes: list[type] = []
    for m in reversed(list(model.modules())):  # children first: a class is defined before use
        cls = type(m)
        if not cls.__module__.startswith("torch.") and cls not in classes:
            classes.append(cls)
    parts = ["import torch", "import torch.nn as nn", "import torch.nn.functional as F", ""]
    for cls in classes:
        try:
            parts.append(inspect.getsource(cls))
        except (OSError, TypeError):
            parts.append(f"# the source of {cls.__name__} is not available\n")
    return "\n\n".join(parts).rstrip() + "\n"


def weights_pt(model: nn.Module, params: Mapping[str, torch.Tensor] | None = None) -> bytes:
    """``torch.save`` of the state dict (with a session's own weights in place), for
    ``torch.load(..., weights_only=True)``."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for name, value in (params or {}).items():
        if name not in state:
            raise ValueError(f"{type(model).__name__} has no parameter named {name!r}")
        state[name] = value.detach().clone()
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()
